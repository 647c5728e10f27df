package config

import (
	"net/netip"
	"time"
)

// DefaultFile is where Piranha, and lvsd, read the configuration.
const DefaultFile = "/etc/sysconfig/ha/lvs.cf"

// Config is one lvs.cf file. Parse fills it with Piranha's defaults
// (lvsParseConfig) for every key the file leaves out; NewConfig returns the
// same defaults for a configuration built in code.
type Config struct {
	// Global keys of Piranha (reference §1.2).
	Serial            int           // serial_no: bumped by the GUI on each save
	Primary           netip.Addr    // primary: public IP of the primary router
	PrimaryPrivate    netip.Addr    // primary_private: second heartbeat path; unset = none
	PrimaryShared     string        // primary_shared: FOS shared-SCSI device
	Service           ServiceType   // service: lvs or fos
	Backup            netip.Addr    // backup: public IP of the backup router
	BackupPrivate     netip.Addr    // backup_private
	BackupShared      string        // backup_shared: FOS shared-SCSI device
	BackupActive      bool          // backup_active: failover enabled
	Heartbeat         bool          // heartbeat: parsed and kept; pulse never consulted it
	HeartbeatPort     uint16        // heartbeat_port: UDP port, default 539
	Keepalive         time.Duration // keepalive: heartbeat interval, default 2 s
	Deadtime          time.Duration // deadtime: silence before takeover, default 5 s
	Network           Network       // network: forwarding method, default nat
	NATRouter         netip.Addr    // nat_router address: floating gateway of NAT real servers
	NATRouterDevice   string        // nat_router device, e.g. "eth1:1"
	NATNetmask        Netmask       // nat_nmask
	DebugLevel        string        // debug_level: kept, unused; default NONE
	MonitorLinks      bool          // monitor_links: give up the active role when own link is down
	SyncDaemon        bool          // syncdaemon: run the connection sync daemon
	SyncdIface        string        // syncd_iface: sync interface, default eth0
	SyncdID           uint8         // syncd_id: sync ID
	TCPTimeout        time.Duration // tcp_timeout: ESTABLISHED timeout; 0 = leave the default
	TCPFinTimeout     time.Duration // tcpfin_timeout: FIN_WAIT timeout; 0 = leave the default
	UDPTimeout        time.Duration // udp_timeout; 0 = leave the default
	ActiveCmd         string        // active_cmd: run on becoming active
	InactiveCmd       string        // inactive_cmd: run on becoming inactive
	HardShutdown      bool          // hard_shutdown: a failed monitor takes LVS down; default 1
	Ipvsadm           string        // ipvsadm: tool path, default /sbin/ipvsadm (kept, unused)
	RshCommand        string        // rsh_command: rsh or ssh, default rsh
	FileSync          bool          // sync: file sync flag (kept, unused)
	ReservationAction string        // reservation_conflict_action: nothing or preempt (FOS)

	// Extensions of lvs-go (see the extensions table in keys.go and lvs.cf(5)).
	HeartbeatKey            string // heartbeat_key: HMAC key authenticating heartbeats; "" = unauthenticated
	Failback                bool   // failback: the primary takes the active role back when it returns; default 1
	ExpireNodestConn        bool   // expire_nodest_conn: expire connections whose real server is gone
	ExpireQuiescentTemplate bool   // expire_quiescent_template: expire persistence templates of weight-0 servers
	ConnReuseMode           int    // conn_reuse_mode: bit mask as the IPVS sysctl, default 1
	MaxConns                int    // max_conns: connection table limit; 0 = lvsd's built-in limit

	NATRouter6       netip.Addr // nat_router6 address: floating IPv6 gateway of NAT real servers (see ipv6.go)
	NATRouter6Device string     // nat_router6 device
	NATNetmask6      Netmask    // nat_nmask6: prefix length of the IPv6 NAT network

	Redundancy Redundancy   // redundancy: pair (default, pulse) or ecmp (every director active, see bgp.go)
	Directors  []netip.Addr // directors = [ … ]: the directors of an ECMP site; nil = primary and backup
	BGP        *BGP         // the bgp block; nil = no BGP speaker

	Virtuals    []*Virtual         // virtual blocks, in file order
	Failovers   []*Virtual         // failover blocks (FOS), in file order
	FWMarkRules []*FWMarkBlock     // fwmark_rule blocks (extension)
	Masquerades []*MasqueradeBlock // masquerade blocks (extension)
	Keys        []string           // global keys in file order (see Virtual.Keys)
	Warnings    []*ParseError      // problems that do not stop the configuration from working
}

// Virtual is a `virtual NAME { … }` block: one virtual service and its real
// servers. A `failover NAME { … }` block (FOS) uses the same type, as Piranha does.
type Virtual struct {
	Name          string        // block name, unique across virtual and failover blocks
	Line          int           // line of the block header; 0 when built in code
	Active        bool          // active: inactive services and their servers are skipped
	Address       netip.Addr    // address IP: the VIP
	Device        string        // address DEV: where the VIP lives, e.g. "eth0:1" (alias of eth0)
	VIPNetmask    Netmask       // vip_nmask
	FWMark        uint32        // fwmark: non-zero makes this a firewall-mark service
	Protocol      Protocol      // protocol: tcp (default) or udp
	Port          uint16        // port: virtual port, default 80; also the default real port
	Scheduler     Scheduler     // scheduler: default wlc
	SchedFlags    SchedFlags    // scheduler_flags (extension): sh-/mh- fallback and port
	MHTableSize   int           // mh_table_size (extension): Maglev table size, default 4093
	FTPHelper     bool          // ftp_helper (extension): lvsd follows FTP control connections to port (ip_vs_ftp)
	Persistent    time.Duration // persistent: persistence timeout; 0 = none
	PMask         Netmask       // pmask: persistence netmask; 255.255.255.255 is stored as unset
	Send          string        // send: probe string, without quotes, escapes not yet expanded
	Expect        string        // expect: expected reply (a POSIX ERE when UseRegex)
	UseRegex      bool          // use_regex
	SendProgram   string        // send_program: external check; %h and %p are replaced
	Timeout       time.Duration // timeout: check interval and timeout, default 10 s
	Reentry       time.Duration // reentry: quiet time before a failed server returns, default 180 s
	LoadMonitor   string        // load_monitor: none, uptime, rup, ruptime or a command; "" = none
	QuiesceServer bool          // quiesce_server: on failure set weight 0 instead of removing
	SorryServer   netip.Addr    // sorry_server: used when no real server is up
	ClientMonitor string        // client_monitor: monitor binary, default /usr/sbin/nanny (kept)
	StartCmd      string        // start_cmd (FOS)
	StopCmd       string        // stop_cmd (FOS)
	Master        netip.Addr    // master (FOS)
	Dirs          []string      // dirs = [ … ] (FOS)
	// BGP attributes of the VIP's host route (extension, see bgp.go).
	BGPCommunities []Community // bgp_community: AS:VALUE list
	BGPMED         uint32      // bgp_med: multi-exit discriminator; 0 = not sent
	Servers        []*Server   // server blocks, in file order
	// Keys lists the keys that appeared in the block, in order, each once.
	// Format writes them in this order (then any other non-default values),
	// so a file reproduces byte for byte. Nil for blocks built in code.
	Keys []string
}

// Server is a `server NAME { … }` block: one real server.
type Server struct {
	Name       string     // block name, unique within its virtual
	Line       int        // line of the block header; 0 when built in code
	Address    netip.Addr // address: the real server IP (RIP)
	Active     bool       // active
	Weight     int        // weight: default 1
	Port       uint16     // port: 0 = the virtual's port (see Virtual.RealPort)
	UThreshold int        // uthreshold (extension): ipvsadm -x, 0 = none
	LThreshold int        // lthreshold (extension): ipvsadm -y, 0 = none
	Keys       []string   // keys in file order (see Virtual.Keys)
}

// NewConfig returns a configuration holding Piranha's defaults.
func NewConfig() *Config {
	return &Config{
		HeartbeatPort: 539,
		Keepalive:     2 * time.Second,
		Deadtime:      5 * time.Second,
		Network:       NetworkNAT,
		DebugLevel:    "NONE",
		SyncdIface:    "eth0",
		HardShutdown:  true,
		Ipvsadm:       "/sbin/ipvsadm",
		RshCommand:    "rsh",
		Failback:      true,
		// On, unlike the kernel sysctl: flows of a failed real server move
		// at once (UDP users asked for this, reference §5 #1).
		ExpireNodestConn: true,
		ConnReuseMode:    1,
	}
}

// NewVirtual returns a virtual server named name with the defaults of
// Piranha's lvsInitVirtualServer.
func NewVirtual(name string) *Virtual {
	return &Virtual{
		Name:          name,
		Protocol:      ProtoTCP,
		Port:          80,
		Scheduler:     SchedWLC,
		MHTableSize:   DefaultMHTableSize,
		Timeout:       10 * time.Second,
		Reentry:       180 * time.Second,
		ClientMonitor: "/usr/sbin/nanny",
	}
}

// NewServer returns a real server named name with weight 1.
func NewServer(name string) *Server {
	return &Server{Name: name, Weight: 1}
}

// DefaultMHTableSize is the kernel's default Maglev table size
// (CONFIG_IP_VS_MH_TAB_INDEX 12).
const DefaultMHTableSize = 4093

// mhTableSizes are the prime table sizes the kernel's ip_vs_mh offers.
var mhTableSizes = []int{251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071}

// RealPort returns the port lvsd forwards to on s: its own port, or the
// virtual port when the server block has none (as Piranha's parser does).
func (v *Virtual) RealPort(s *Server) uint16 {
	if s.Port != 0 {
		return s.Port
	}
	return v.Port
}

// Interface returns the interface that holds the VIP: "eth0" for "eth0:1".
func (v *Virtual) Interface() string { return BaseInterface(v.Device) }

// NATRouterInterface returns the interface that holds the NAT router address.
func (c *Config) NATRouterInterface() string { return BaseInterface(c.NATRouterDevice) }

// IsFailover reports whether v came from a `failover` block (FOS).
func (v *Virtual) IsFailover(c *Config) bool {
	for _, f := range c.Failovers {
		if f == v {
			return true
		}
	}
	return false
}

// Server returns the real server named name, or nil.
func (v *Virtual) Server(name string) *Server {
	for _, s := range v.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Virtual returns the virtual server named name, or nil.
func (c *Config) Virtual(name string) *Virtual {
	for _, v := range c.Virtuals {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// ActiveVirtuals returns the active virtual servers, in file order.
func (c *Config) ActiveVirtuals() []*Virtual {
	var out []*Virtual
	for _, v := range c.Virtuals {
		if v.Active {
			out = append(out, v)
		}
	}
	return out
}

// Counts returns the number of virtual servers and real servers in c.
func (c *Config) Counts() (virtuals, servers int) {
	for _, v := range c.Virtuals {
		servers += len(v.Servers)
	}
	return len(c.Virtuals), servers
}
