package admin

import (
	"net/netip"
	"time"
)

// MetricsSource is what /metrics reads at scrape time. The daemon implements
// it; each method returns a fresh copy that the collector may keep. Methods
// are called from the HTTP server's goroutines, concurrently with each other
// and with the daemon's work, so they must be safe for concurrent use; they
// should be cheap (a scrape is expected every few seconds) and must not walk
// the connection table.
type MetricsSource interface {
	// Status is the service table with its counters (StatusFromTable).
	Status() Status
	// Dataplane is the packet path's counters summed over workers.
	Dataplane() DataplaneStats
	// Conntrack is the connection table's size and counters.
	Conntrack() ConntrackStats
	// HA is the router's role and what it knows of its partner.
	HA() HAStatus
	// Health is the state of every monitored real server and sorry server.
	Health() []HealthStatus
}

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
