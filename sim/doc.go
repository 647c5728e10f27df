// Package sim builds whole LVS sites in network namespaces (clients, gateway,
// routers running the real lvsd binary, real servers with real services),
// drives traffic, injects faults, checks assertions and writes reports.
//
// It must not import daemon or dataplane: it runs the real binaries.
//
// # Sites
//
// NewSite builds a Topology: a "switch" namespace holding one Linux bridge
// per segment, and one namespace per node whose veths are created inside
// the switch namespace with their peer born in the node (so nothing is ever
// created in, or connected to, the host's namespace). Namespaces are named
// lvssim-ID-NODE and switch-side links lvID…, with ID six random hex digits
// per run. The namespace lab is internal/netlab, shared with bench and the
// root tests: a state file /run/lvssim/ID.json records the owner PID, the
// namespaces and the PIDs started; Sweep (run at every start and by
// `lvssim down`) removes sites whose owner died. Processes run in their own
// process group with Pdeathsig, so even a SIGKILLed lvssim takes them along.
// Site tests of any package take the flock /run/lvssim/lock (LockSites).
//
// # Who plays the router
//
// A RouterImpl does: lvsd (the real binary, `ip netns exec NS lvsd -f
// lvs.cf`, tracked by PID) or, until lvsd forwards, the kernel stand-in
// (nftables DNAT with numgen/jhash maps generated from lvs.cf, or netdev
// MAC rewriting for direct routing), always labelled as such in reports.
// `router: {impl: auto}` picks lvsd when lvsdFeatures covers what the
// site's lvs.cf needs; adding FeatureNAT there switches every NAT site.
// Steps that need a feature neither can do are skipped with
// "needs FEATURE in lvsd (issue N)".
//
// # Topology files
//
// YAML, every error reported as FILE:LINE: what was expected. Top level:
//
//	name, description, guide     text for the report
//	router: {impl: auto|lvsd|kernel}
//	lvs_cf: | …  or  lvs_cf_file: PATH   the routers' lvs.cf (parsed with config.Parse)
//	segments: [{name, subnet, subnet6 (the IPv6 network of a dual-stack segment)}]
//	nodes:    [{name, role: client|gateway|router|real|shared,
//	            interfaces: [{name: eth0, segment, address | addresses: [A/N …], mtu}],
//	            routes: [{to: default|A/N, via: A}], loopback: [A/32],
//	            ipip: [A/32] (addresses on tunl0, an ipip device or, where the
//	                  kernel has no IPIP, a TUN device fed by `lvssim ipip`),
//	            redirect: [VIP:PORT] (the guide's iptables -t nat … -j REDIRECT,
//	                  in nftables when iptables is not installed),
//	            sysctls: {net.…: V}, forward: true,
//	            services: [{kind: responder, http, https, tcp, udp, delay, backend}
//	                       | {kind: nginx, port} | {kind: vsftpd, port, pasv_min_port,
//	                         pasv_max_port, pasv_address}]}]
//	scenario: steps in file order, each one of
//	  traffic: {kind: http|download|tcp|udp|ftp, from: [clients], to: VIP:PORT,
//	            path, count, concurrency, rate, size, duration, timeout, expect,
//	            client: builtin|curl|lftp, mode: passive|active (ftp),
//	            pace: BYTES/s (download: read slowly, to stay in flight),
//	            host: NAME, resolve: [A …] (curl: the URL names host, which curl
//	            --resolve gives every address of resolve; -4 or -6 picks to's)};
//	           from may name a real server for its own outbound traffic
//	  fault:   {kind: kill|stop|cont|stop-service|start-service|link-down|link-up|
//	            drop-heartbeats|pass-heartbeats, target: NODE|primary|backup,
//	            process: router|responder|nginx|vsftpd, interface}
//	           drop-heartbeats with an interface drops one channel only; the HA
//	           checks are steps of the same form, failing the run when they fail:
//	           check-roles (primary active, backup standby), forge-heartbeat
//	           (target: a client; forged heartbeats with the partner's address
//	           change nothing and are refused), edit-config (target: the active
//	           router; its lvs.cf is edited and reloaded and config sync must
//	           copy it to the partner), arp-owners (target: a node, interface:
//	           each VIP gets ARP replies from exactly one MAC), ping (target: a
//	           node, to: an address answering ICMP or ICMPv6 echo)
//	  fault:   {kind: flood, target: CLIENT, protocol: syn|udp|icmp, to: VIP:PORT,
//	            sources: A/N, legit: CLIENT, web: VIP:PORT, echo: VIP:PORT,
//	            duration, short, settle} (flood.go): target sends the flood
//	           from random addresses of sources (route them back to it on the
//	           gateway) as fast as its raw socket goes, while legit requests
//	           and downloads; the step fails when under 99% are answered, a
//	           download is lost or corrupt, lvsd dies, its table passes its
//	           limit, or, settle after, its table and RSS are not back near
//	           the baseline. {kind: hostile, target: PEER, legit, web, echo,
//	           duration, short} (hostile.go): a peer with a leg on each of
//	           lvsd's segments sends malformed frames of every kind in turn at
//	           both interfaces; the real servers capture what lvsd forwards
//	           and the step fails on a bad checksum. Both report lvsd's
//	           counters; Topology.Shorten swaps in the short durations
//	  assert:  {kind: share|failures|intact|persistence|takeover|bypass|served-by,
//	            of: STEP (or a list, for persistence), tolerance, max, within, after,
//	            server: NODE (served-by: every successful request answered by it,
//	            a sorry server)}
//	  with optional name, at (offset: from the start, or from when the
//	  steps in after finished), after: [STEPS], requires: [FEATURES].
//
// Addresses, networks and VIP:PORT may be IPv6 ("[2001:db8::10]:80"; quote
// them in YAML flow style). Traffic is always bounded by count and by
// duration. Clients send from every address of their interfaces of the
// target's family in turn, so persistence is judged per source address. The responder names itself: HTTP bodies and the
// X-Real-Server header, the first line of a TCP echo, the first line of a
// UDP answer; /bytes/N serves N bytes of a fixed pattern that downloads
// verify by SHA-256. A tcp step with a size streams that many bytes of the
// pattern to the echo service and checks the echo by SHA-256: an upload
// through the router, its big direction (for tunnelling, TSO super-frames
// the router segments and encapsulates).
//
// # Long runs
//
// Two commands drive the failover site with lvsd for minutes instead of a
// scenario (longrun.go): Soak (`lvssim soak`, soak.go) keeps it at moderate
// load with periodic reloads, health flaps and failovers and samples both
// lvsd's RSS, goroutines, descriptors and connections; Chaos (`lvssim
// chaos`, chaos.go) plays a schedule of faults drawn from a seed and checks
// one ARP owner per VIP, one active router after each fault and no corrupt
// transfer. Both charge every failed request to the event in effect when it
// ended.
package sim
