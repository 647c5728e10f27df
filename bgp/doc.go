// Package bgp announces the virtual IPs to the upstream routers by BGP, for
// the ECMP mode of lvs.cf (redundancy = ecmp): every director announces each
// VIP it can serve as a /32 host route with itself as next hop, and the
// router spreads flows over the directors by equal-cost multipath.
//
// It owns two things. Decider is the announce/withdraw decision, a step
// function of what the daemon knows (each VIP can serve or not, lvsd
// forwards, the director is drained, lvsd shuts down) and of time (the
// drain before the stop), with no I/O. Speaker is the BGP speaker itself:
// an embedded GoBGP server (github.com/osrg/gobgp/v4) holding the peers of
// lvs.cf's bgp block and the announced paths, watching session state, with
// a Prometheus collector of its own (lvs_bgp_session_up, lvs_bgp_announced).
//
// The daemon drives both from the place where it claims and releases the
// VIPs. The package must not hand-roll BGP (GoBGP speaks it), must not edit
// the service table, and knows nothing of packets.
package bgp
