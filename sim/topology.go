package sim

import (
	"net/netip"
	"time"
)

// Role is what a node does in a site.
type Role string

// The roles of the guide's figures 1.1 and 1.2.
const (
	RoleClient  Role = "client"  // sends test traffic to the VIPs
	RoleGateway Role = "gateway" // routes between the clients and the public segment
	RoleRouter  Role = "router"  // an LVS router (primary or backup) running lvs.cf
	RoleReal    Role = "real"    // a real server running services
	RoleShared  Role = "shared"  // the third tier: a data host the real servers read
)

// Topology is one LVS site: its segments, nodes and scenario, as read from a
// topology file.
type Topology struct {
	File        string // where it was read from, for messages
	Name        string
	Description string
	Guide       string // the guide sections it reproduces
	Router      RouterSpec
	LVSConf     []byte   // lvs.cf text for every router (both run the same file)
	LVSConfName string   // file name used in lvs.cf error messages
	lvsConfLine int      // line of lvs_cf in the topology file
	Site        *LVSSite // lvs.cf as parsed, set by ParseTopology
	Segments    []*Segment
	Nodes       []*Node
	Scenario    []*Step
}

// RouterSpec chooses who plays the LVS router role.
type RouterSpec struct {
	Impl string // "auto", "lvsd" or "kernel"
	Line int    // line of router.impl in the topology file, 0 when defaulted
}

// Segment is one L2 network: a Linux bridge in the site's switch namespace.
type Segment struct {
	Name    string
	Subnet  netip.Prefix
	Subnet6 netip.Prefix // the IPv6 network of a dual-stack segment (ipv6.go)
	Line    int
}

// Node is one host of the site: a network namespace of its own.
type Node struct {
	Name       string
	Role       Role
	Interfaces []*Interface
	Routes     []*Route
	Loopback   []netip.Prefix    // extra addresses on lo (direct routing VIPs)
	IPIP       []netip.Prefix    // addresses on an ipip device tunl0 (IP tunnelling VIPs)
	Redirect   []netip.AddrPort  // iptables -t nat … -d VIP --dport P -j REDIRECT (direct routing without the VIP)
	Sysctls    map[string]string // net.* keys set inside the namespace
	Forward    bool              // ip_forward=1 (gateways; routers get it from the stand-in)
	Services   []*Service
	Line       int
}

// Interface is one veth of a node, plugged into a segment.
type Interface struct {
	Name      string // inside the node namespace, e.g. eth0 as in lvs.cf
	Segment   string
	Addresses []netip.Prefix
	MTU       int // 0: the default (1500)
	Line      int
}

// Route is one route of a node; Default when To is "default".
type Route struct {
	To      netip.Prefix
	Default bool
	Via     netip.Addr
	Line    int
}

// ServiceKind names what runs on a real or shared server.
type ServiceKind string

// Service kinds.
const (
	ServiceResponder ServiceKind = "responder" // lvssim's own HTTP/TCP/UDP responder
	ServiceNginx     ServiceKind = "nginx"     // real nginx, when installed
	ServiceVsftpd    ServiceKind = "vsftpd"    // real vsftpd, when installed
)

// Service is one long-running process on a server node.
type Service struct {
	Kind     ServiceKind
	HTTP     int           // responder: HTTP port (0: none)
	HTTPS    int           // responder: HTTPS port with a self-signed certificate
	TCP      int           // responder: TCP echo port
	UDP      int           // responder: UDP echo port
	Delay    time.Duration // responder: delay before each HTTP answer
	Backend  string        // responder: URL fetched for /shared/ requests (third tier)
	Port     int           // nginx/vsftpd: listen port
	PasvMin  int           // vsftpd
	PasvMax  int           // vsftpd
	PasvAddr netip.Addr    // vsftpd: the address told to clients (the VIP)
	Line     int
}

// Step is one timed entry of a scenario: exactly one of Traffic, Fault or
// Assert is set.
type Step struct {
	Name     string
	At       time.Duration // offset from the scenario start, or from when the After steps finished
	After    []string      // earlier steps that must have finished first
	Requires []string      // router features this step needs (see Feature)
	Traffic  *Traffic
	Fault    *Fault
	Assert   *Assertion
	Line     int
}

// TrafficKind is the kind of a traffic step.
type TrafficKind string

// Traffic kinds.
const (
	TrafficHTTP     TrafficKind = "http"
	TrafficDownload TrafficKind = "download"
	TrafficTCP      TrafficKind = "tcp"
	TrafficUDP      TrafficKind = "udp"
	TrafficFTP      TrafficKind = "ftp"
)

// Traffic is bounded test traffic from client nodes to a virtual service.
// Every traffic step is bounded by Count and by Duration.
type Traffic struct {
	Kind        TrafficKind
	From        []string       // client node names
	To          netip.AddrPort // the VIP and port
	Path        string         // http: request path
	Count       int            // requests, echo exchanges or sessions
	Concurrency int
	Rate        float64       // requests per second overall (0: as fast as possible)
	Size        int64         // download/ftp: bytes
	Duration    time.Duration // hard bound on the whole step
	Timeout     time.Duration // per request
	Expect      string        // http: body must contain this
	Client      string        // "builtin" (default), "curl" or "lftp"
	Mode        string        // ftp: "passive" (default) or "active" (lftp ftp:passive-mode off)
	Pace        int64         // download: the built-in client reads at most this many bytes a second (0: no limit)
	Host        string        // curl: the URL's host name, resolved to the addresses of Resolve (ipv6.go)
	Resolve     []netip.Addr  // curl: what Host resolves to; curl -4 or -6 picks the address of To's family
}

// FaultKind is the kind of a fault step.
type FaultKind string

// Fault kinds.
const (
	FaultKill           FaultKind = "kill"            // SIGKILL a process
	FaultStop           FaultKind = "stop"            // SIGSTOP
	FaultCont           FaultKind = "cont"            // SIGCONT
	FaultLinkDown       FaultKind = "link-down"       // set an interface down
	FaultLinkUp         FaultKind = "link-up"         // set it up again
	FaultDropHeartbeats FaultKind = "drop-heartbeats" // nft drop of heartbeats between routers
	FaultPassHeartbeats FaultKind = "pass-heartbeats" // remove that drop
	FaultStopService    FaultKind = "stop-service"    // stop a real server's service
	FaultStartService   FaultKind = "start-service"   // start it again
	// Checks of the HA drills (issue 9), run as steps like faults:
	FaultForgeHeartbeat FaultKind = "forge-heartbeat" // a stranger forges heartbeats; nothing may change
	FaultCheckRoles     FaultKind = "check-roles"     // the primary is active, the backup standby
	FaultEditConfig     FaultKind = "edit-config"     // edit + reload lvs.cf on a router; config sync copies it
	FaultARPOwners      FaultKind = "arp-owners"      // from target's interface, each VIP has exactly one ARP owner
)

// Fault is one injected failure. Target is a node name or one of the
// router roles "primary"/"backup"; Process names which process of the node
// (router, responder, nginx, vsftpd).
type Fault struct {
	Kind      FaultKind
	Target    string
	Process   string
	Interface string
	Attack    *Attack    // flood and hostile steps (flood.go, hostile.go)
	To        netip.Addr // ping: the address pinged (ipv6.go)
}

// AssertKind is the kind of an assertion.
type AssertKind string

// Assertion kinds.
const (
	AssertShare       AssertKind = "share"       // requests per real server within tolerance of weight share
	AssertFailures    AssertKind = "failures"    // failed requests ≤ Max
	AssertTakeover    AssertKind = "takeover"    // service restored ≤ Within after the fault
	AssertIntact      AssertKind = "intact"      // downloads complete with the right checksum
	AssertPersistence AssertKind = "persistence" // each client source sticks to one real server
	AssertBypass      AssertKind = "bypass"      // direct routing: replies do not cross the active router
	AssertServedBy    AssertKind = "served-by"   // every successful request answered by one node (a sorry server)
)

// Assertion is checked after the scenario over the results of a traffic step.
type Assertion struct {
	Kind      AssertKind
	Of        string   // name of the traffic step it judges
	Also      []string // persistence: more traffic steps judged together with Of
	Tolerance float64  // share: absolute tolerance of the share (0.05 = ±5 points)
	Max       int      // failures
	Within    time.Duration
	After     string // takeover: name of the fault step
	Virtual   string // share: lvs.cf virtual server whose weights apply (default: by VIP:port)
	Server    string // served-by: the node that must have answered
}
