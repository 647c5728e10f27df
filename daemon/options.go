package daemon

import (
	"log/slog"
	"time"
)

// Options are lvsd's command-line settings, filled by cmd/lvsd.
type Options struct {
	// ConfigFile is the lvs.cf to read; "" means config.DefaultFile.
	ConfigFile string
	// IptablesFile is an iptables-save file with the guide's MARK and
	// MASQUERADE rules. "" means config.DefaultIptablesFile, which may be
	// missing; a file named here must exist.
	IptablesFile string
	// Ip6tablesFile is an ip6tables-save file with the same rules for
	// IPv6; "" means none.
	Ip6tablesFile string
	// ConfigTest checks the configuration, prints every problem and exits.
	ConfigTest bool
	// ConfigDump prints the normalised configuration and exits.
	ConfigDump bool
	// Workers is the number of dataplane workers per interface; 0 means
	// one per CPU.
	Workers int
	// BusyPoll is how long a worker keeps polling its empty ring before it
	// sleeps (afpacket.Config.BusyPoll); 0 never spins.
	BusyPoll time.Duration
	// Dataplane chooses how frames are forwarded: DataplaneAuto (the
	// default, ""), DataplaneTCX, DataplaneTC or DataplaneAFPacket (fastpath.go).
	Dataplane string
	// KernelSchedule says which new flows of fixed-cycle (rr, wrr) and
	// hashing (mh, sh) services the eBPF fast path schedules itself (dataplane/fastnew.go):
	// KernelScheduleAll (the default, "": UDP flows and TCP connections),
	// KernelScheduleUDP or KernelScheduleOff.
	KernelSchedule string
	// FlowMap is how many connections the eBPF fast path's flow map may
	// grow to (two directions each); 0 means DefaultFlowMap (fastpath.go).
	FlowMap int
	// FlowMapStart is how many it holds when lvsd starts; 0 means
	// startFlowMap's 131,072, or FlowMap if smaller.
	FlowMapStart int
	// WorkerNice is the nice value of each worker's thread (each worker
	// locked to its own): negative favours the workers over the kernel's
	// ksoftirqd on a core they share, so the frames the fast path leaves
	// them are not lost in a full ring while the kernel forwards the rest
	// (workerthread.go). 0 leaves the threads as they are.
	WorkerNice int
	// Link names the packet link backend of the Go workers: "afpacket"
	// (the default, "") or "tap" (links.go: linkBackends).
	Link string
	// Links, when set, opens the workers' links instead of the backend
	// Link names (tests pass an in-memory one).
	Links LinkFactory
	// Logger receives lvsd's log; nil means text lines on stderr.
	Logger *slog.Logger
	// Socket is the control socket lvsadm talks to; "" means
	// admin.DefaultSocket, "off" none.
	Socket string
	// Admin is the address of the admin HTTP listener (/metrics, events,
	// /proc texts); "" means DefaultAdmin, "off" none.
	Admin string
	// AdminAllow lists the clients the admin listener answers, checked
	// before anything else: addresses and networks as web.ParseAllowList
	// reads them; "" means loopback only (web.DefaultAllow).
	AdminAllow string
	// AdminCert and AdminKey, both set, serve the admin listener over TLS.
	AdminCert, AdminKey string
	// MetricsAuth makes /metrics on the admin listener want a login (a
	// bearer token or the web tool's session) like the JSON API; by default
	// it is open to the --admin-allow clients.
	MetricsAuth bool
	// PasswordFile is the web tool's bcrypt password file; "" means
	// piranha.passwd in the directory of ConfigFile.
	PasswordFile string
}
