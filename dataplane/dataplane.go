package dataplane

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
	"lvs/nat"
)

// State is everything the packet path reads that the daemon may change: the
// service table, the owned addresses, the firewall-mark rules, the routes to
// real servers and the router's own addresses. It is immutable; the daemon
// publishes a new one (Dataplane.Publish) and each worker loads it once per
// batch, so a batch never sees half of a reload.
type State struct {
	Table  *ipvs.Table
	Owned  *Owned
	Class  *Classifier
	Routes *Routes
	// Local holds the router's own (kernel) addresses: frames to them are
	// the host's traffic (SSH, heartbeats, health-check replies) and always
	// left to the kernel.
	Local map[[4]byte]bool
	// Local6 is Local for the router's own IPv6 addresses.
	Local6 map[[16]byte]bool
	// NAT holds the masquerade rules and the FTP helper's services
	// (masq.go); nil: neither.
	NAT *NAT
	// QuietNoDest drops a new connection to a service with no real server
	// without IPVS's ICMP port unreachable (ip_vs_leave): in the ECMP mode
	// the director withdraws the VIP from its router as its last real
	// server goes, and the client's retransmission reaches another
	// director, where an ICMP error would have failed the connection.
	QuietNoDest bool
}

// Route says that addresses in Prefix are reached through port Port,
// directly (Via unset: on the segment, as real servers are) or through the
// gateway Via (clients behind the site's upstream router). lvsd routes like
// the kernel: the daemon copies the router's own routes for its ports.
type Route struct {
	Prefix netip.Prefix
	Port   int
	Via    netip.Addr
}

// Routes is an immutable longest-prefix-first route list. Real-server
// segments are few, so a linear scan beats a trie here.
type Routes struct {
	r  []route
	r6 []route6 // IPv6 routes (routes6.go)
}

type route struct {
	addr, mask uint32
	port       int
	via        [4]byte // zero: on the segment
}

// NewRoutes compiles routes, most specific first.
func NewRoutes(rs []Route) *Routes {
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(a, b Route) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	out := &Routes{}
	for _, r := range sorted {
		if !r.Prefix.Addr().Is4() {
			out.add6(r) // routes6.go
			continue
		}
		a, m := prefixBits(r.Prefix)
		rt := route{addr: a, mask: m, port: r.Port}
		if r.Via.Is4() {
			rt.via = r.Via.As4()
		}
		out.r = append(out.r, rt)
	}
	return out
}

// Lookup returns the port that reaches ip and the next hop on it: ip itself
// when it is on the segment, else the route's gateway.
func (rs *Routes) Lookup(ip [4]byte) (port int, hop [4]byte, ok bool) {
	if rs == nil {
		return 0, ip, false
	}
	a := be32(ip)
	for i := range rs.r {
		r := &rs.r[i]
		if a&r.mask == r.addr {
			if r.via != ([4]byte{}) {
				return r.port, r.via, true
			}
			return r.port, ip, true
		}
	}
	return 0, ip, false
}

// Dataplane is the shared part of all workers: the ports, the connection
// table and the published State.
type Dataplane struct {
	Ports     []*Port
	CT        *conntrack.Table
	NAT       *nat.Table  // masqueraded and FTP-helper flows (masq.go)
	FTP       *nat.Helper // the FTP helper's control connections and expectations (ftp.go)
	held      *heldQueue  // frames waiting for a neighbour's MAC (neighqueue.go)
	state     atomic.Pointer[State]
	epoch     time.Time // origin of Ticks
	fastState           // the kernel fast path, if any (fast.go)
}

// New returns a dataplane over ports with connection table ct and initial
// state st.
func New(ports []*Port, ct *conntrack.Table, st *State) *Dataplane {
	d := &Dataplane{Ports: ports, CT: ct, NAT: nat.NewTable(0), FTP: nat.NewHelper(), held: newHeldQueue(ports), epoch: time.Now()}
	d.state.Store(st)
	return d
}

// Publish makes st the state every worker uses from its next batch on,
// and the fast path's own scheduling follow it (fastnew.go).
func (d *Dataplane) Publish(st *State) {
	d.state.Store(st)
	d.SyncNewFlows() // an error leaves the services to Go; the daemon's next sync reports it
}

// State returns the published state.
func (d *Dataplane) State() *State { return d.state.Load() }

// Tick converts a wall-clock reading to the coarse monotonic time of the
// connection table (milliseconds since the dataplane started).
func (d *Dataplane) Tick(now time.Time) ipvs.Tick { return ipvs.Tick(now.Sub(d.epoch).Milliseconds()) }
