package admin

import (
	"net/netip"
	"time"
)

// DataplaneStats are the packet path's counters, a plain copy of
// dataplane.Snapshot so that admin does not import dataplane.
type DataplaneStats struct {
	// RX and TX count frames read from and written to the links.
	RX uint64 `json:"rx"`
	TX uint64 `json:"tx"`
	// Verdicts counts frames by verdict, keyed by dataplane.Verdict.String():
	// pass, forward, reply, drop.
	Verdicts map[string]uint64 `json:"verdicts"`
	// Drops counts dropped frames by reason, keyed by
	// dataplane.DropReason.String() (short, no_service, no_dest, table_full…).
	Drops map[string]uint64 `json:"drops"`
	// RingFrames and RingDrops count, per interface, the frames the kernel
	// offered the workers' receive rings and those it dropped because a
	// ring was full (the workers did not keep up); nil when unknown.
	RingFrames map[string]uint64 `json:"ring_frames,omitempty"`
	RingDrops  map[string]uint64 `json:"ring_drops,omitempty"`
	// Mode is how frames are forwarded: "tcx+afpacket" or "tc+afpacket"
	// (the eBPF fast path on the tcx or the tc hook, the Go workers for
	// the rest),
	// "afpacket" or "tap" (the Go workers alone).
	Mode string `json:"mode,omitempty"`
	// FastInstalls counts flow directions the workers handed to the fast
	// path, FastErrors those it refused.
	FastInstalls uint64 `json:"fast_installs,omitempty"`
	FastErrors   uint64 `json:"fast_errors,omitempty"`
	// FastEvicted counts flow directions a worker found gone from the
	// fast path's map (evicted) and offered again.
	FastEvicted uint64 `json:"fast_evicted,omitempty"`
	// FastWithdrawErrors counts flows the fast path failed to withdraw:
	// they stay in its map until evicted.
	FastWithdrawErrors uint64 `json:"fast_withdraw_errors,omitempty"`
	// FlowMap and FlowMap6 are the fast path's flow map sizes (entries: a
	// NAT connection takes two, a direct-routing one one), which lvsd
	// grows as its connection table fills them; FlowMapResizes counts the
	// times it did.
	FlowMap        int    `json:"flow_map_entries,omitempty"`
	FlowMap6       int    `json:"flow_map6_entries,omitempty"`
	FlowMapResizes uint64 `json:"flow_map_resizes,omitempty"`
}

// ConntrackStats are the connection table's size and counters, a plain copy
// of conntrack.Stats.
type ConntrackStats struct {
	Entries    int  `json:"entries"`     // live entries, persistence templates included
	MaxEntries int  `json:"max_entries"` // the limit
	HalfOpen   int  `json:"half_open"`   // TCP entries in SYN_RECV or SYNACK
	Pressure   bool `json:"pressure"`    // above the pressure level (secure_tcp, eviction)

	Created uint64 `json:"created"` // entries created (flows and templates)
	Expired uint64 `json:"expired"` // entries removed by timeout, delete or a dead destination
	Evicted uint64 `json:"evicted"` // half-open entries dropped to make room
	Full    uint64 `json:"full"`    // creations refused because the table was full
	Resched uint64 `json:"resched"` // new SYNs that replaced an old entry (conn_reuse_mode)
	NoDest  uint64 `json:"nodest"`  // entries expired because their destination left
	Dropped uint64 `json:"dropped"` // packets refused because their destination left
	Invalid uint64 `json:"invalid"` // persistence templates invalidated
}

// HAStatus is the router's role in its pair, a plain copy of ha.Status with
// the enums as their String() words.
type HAStatus struct {
	// Dataplane is how the router forwards: "tcx+afpacket" or
	// "tc+afpacket" (the eBPF fast path, the Go workers for the rest),
	// "afpacket"
	// or "tap" (DataplaneStats.Mode).
	Dataplane string `json:"dataplane,omitempty"`
	// Role is which router of lvs.cf this is: "primary" or "backup"
	// (ha.Role.String()).
	Role string `json:"role"`
	// State is "active", "standby", "stopping" or "none" (ha.State.String()).
	State string `json:"state"`
	// Faults are the local failures that keep the router from being active:
	// "link", "dataplane", "checker" (the words of ha.Fault.String()).
	Faults []string `json:"faults,omitempty"`
	// Peer is the partner's public address; the zero Addr when lvs.cf
	// configures no backup router (then the peer metrics are left out).
	Peer netip.Addr `json:"peer,omitzero"`
	// PeerAlive reports whether the partner's heartbeats arrive.
	PeerAlive bool `json:"peer_alive"`
	// Channels are the heartbeat paths (public, private) with their age.
	Channels []HeartbeatChannel `json:"channels,omitempty"`
	// Takeovers and Releases count transitions to active and to standby.
	Takeovers uint64 `json:"takeovers"`
	Releases  uint64 `json:"releases"`
	// Since is the time of the last transition; zero before the first.
	Since time.Time `json:"since,omitzero"`
	// Refused counts heartbeats refused, by reason (ha.Status.Refused).
	Refused map[string]uint64 `json:"refused,omitempty"`
	// Serial is this router's serial_no, PeerSerial the partner's (from its
	// heartbeats); SerialMismatch says they differ.
	Serial         uint32 `json:"serial"`
	PeerSerial     uint32 `json:"peer_serial,omitempty"`
	SerialMismatch bool   `json:"serial_mismatch,omitempty"`
	// ConnSync is connection sync (syncdaemon = 1); nil when off.
	ConnSync *ConnSyncStatus `json:"conn_sync,omitempty"`
	// BGP is the BGP speaker (lvs.cf's bgp block, bgp.go); nil without one.
	BGP *BGPStatus `json:"bgp,omitempty"`
	// ConfigSync is lvs.cf sync to the partner; nil without a partner.
	ConfigSync *ConfigSyncStatus `json:"config_sync,omitempty"`
}

// ConnSyncStatus is the connection sync stream of this router.
type ConnSyncStatus struct {
	// Mode is "master" (the active router, sending) or "backup" (receiving).
	Mode    string `json:"mode"`
	Iface   string `json:"iface,omitempty"` // syncd_iface
	SyncID  uint8  `json:"sync_id"`
	Records uint64 `json:"records"` // records sent (master) or received (backup)
	// Datagrams sent or accepted.
	Datagrams uint64 `json:"datagrams"`
	// Pending records queued and not yet sent (master).
	Pending int `json:"pending,omitempty"`
	// Refused datagrams (backup), and records lost because lvsd lagged.
	Refused uint64 `json:"refused,omitempty"`
	Lost    uint64 `json:"lost,omitempty"`
	// Last is when the last dump was sent (master) or the last datagram
	// arrived (backup); Lag is the time since, the age of the standby's copy
	// of the table. Zero before the first.
	Last time.Time     `json:"last,omitzero"`
	Lag  time.Duration `json:"lag"`
}

// ConfigSyncStatus is the lvs.cf sync between the routers of a pair.
type ConfigSyncStatus struct {
	// Enabled is false when config sync cannot run; Reason says why
	// ("needs heartbeat_key", ...).
	Enabled bool   `json:"enabled"`
	Reason  string `json:"reason,omitempty"`
	// LastCheck is when the active router last compared its file with the
	// partner's; LastPush when it last sent one, LastResult what came back.
	LastCheck  time.Time `json:"last_check,omitzero"`
	LastPush   time.Time `json:"last_push,omitzero"`
	LastResult string    `json:"last_result,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	Pushes     uint64    `json:"pushes"`
	// Received counts files the partner pushed that this router applied,
	// Refused those it refused; LastReceived is when it last applied one.
	Received     uint64    `json:"received"`
	Refused      uint64    `json:"refused"`
	LastReceived time.Time `json:"last_received,omitzero"`
}

// HeartbeatChannel is one heartbeat path to the partner.
type HeartbeatChannel struct {
	Channel string     `json:"channel"` // "public" or "private"
	Peer    netip.Addr `json:"peer"`
	// Age is the time since a heartbeat was last heard on this channel;
	// negative when none has been heard.
	Age time.Duration `json:"age"`
}

// HealthStatus is one monitored real server (or a virtual service's sorry
// server) as its nanny sees it: a plain copy of health.ServerStatus plus the
// check counters the daemon keeps from health.Events.
type HealthStatus struct {
	Virtual string         `json:"virtual"`          // virtual NAME of lvs.cf
	Server  string         `json:"server,omitempty"` // server NAME; "" for the sorry server
	Sorry   bool           `json:"sorry,omitempty"`
	Addr    netip.AddrPort `json:"addr"`
	// Check is the kind of probe: "tcp", "udp", "http", "send_expect",
	// "program" or "agent"; "" when unknown.
	Check string `json:"check,omitempty"`
	// State is "unknown", "up", "down", "quiesced" or "drain"
	// (health.State.String()).
	State  string    `json:"state"`
	Weight int       `json:"weight"`
	Since  time.Time `json:"since,omitzero"` // when State was entered
	// Latency is how long the last finished check took; 0 when no check
	// has finished (the latency metric is then left out).
	Latency time.Duration `json:"latency,omitempty"`
	// Checks, Failures and Transitions count checks run, checks failed and
	// state changes. The check counters are exported only once Checks > 0.
	Checks      uint64 `json:"checks"`
	Failures    uint64 `json:"failures"`
	Transitions uint64 `json:"transitions"`
}

// ConnStatus is one entry of the connection table, as `ipvsadm -L -c` and
// /proc/net/ip_vs_conn show it.
type ConnStatus struct {
	// Proto is "TCP" or "UDP"; "IP" for a firewall-mark persistence template.
	Proto   string         `json:"proto"`
	Client  netip.AddrPort `json:"client"`
	Virtual netip.AddrPort `json:"virtual"`
	Dest    netip.AddrPort `json:"dest"`
	// State is the IPVS state name: ESTABLISHED, SYN_RECV, FIN_WAIT…, UDP,
	// or NONE for a persistence template.
	State string `json:"state"`
	// Expires is the time left before the entry times out.
	Expires time.Duration `json:"expires"`
}

// BGPStatus is the state of lvsd's BGP speaker (lvs.cf's bgp block): its
// sessions and, per VIP, whether it is announced and why. It is part of
// HAStatus, so lvsadm -L --daemon prints it.
type BGPStatus struct {
	LocalAS  uint32          `json:"local_as,omitempty"`
	RouterID netip.Addr      `json:"router_id,omitzero"` // as the speaker runs (lvs.cf's, or the director's own address)
	Peers    []BGPPeerStatus `json:"peers"`
	VIPs     []BGPVIPStatus  `json:"vips"`
	Draining bool            `json:"draining,omitempty"` // lvsadm drained this director
}

// BGPPeerStatus is one BGP session.
type BGPPeerStatus struct {
	Name    string     `json:"name"`
	Address netip.Addr `json:"address"`
	State   string     `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Up      bool       `json:"up"`
	Since   time.Time  `json:"since,omitzero"`
	Reason  string     `json:"reason,omitempty"` // why the last session ended
}

// BGPVIPStatus is one VIP's host route.
type BGPVIPStatus struct {
	VIP       netip.Addr `json:"vip"`
	Announced bool       `json:"announced"`
	Reason    string     `json:"reason"` // serving, no real server up, not forwarding, drained, shutting down
	Since     time.Time  `json:"since,omitzero"`
}
