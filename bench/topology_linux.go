//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvs/internal/netlab"
)

// The addresses of the benchmark topology. Every one lives only inside the
// run's namespaces, which have no link to the host.
var (
	clientAddr   = netip.MustParseAddr("10.250.1.2")
	directorPub  = netip.MustParseAddr("10.250.1.1")
	vip          = netip.MustParseAddr("10.250.1.100")
	directorPriv = netip.MustParseAddr("10.250.2.1")
	natRouter    = netip.MustParseAddr("10.250.2.254")
	privNet      = netip.MustParsePrefix("10.250.2.0/24")

	// The direct-routing segment: a second subnet on the private bridge,
	// where the client (cli eth1), the director (eth1) and the real
	// servers meet, so replies go from the real servers straight to the
	// client. The real servers hold vipDR on lo.
	clientDR   = netip.MustParseAddr("10.250.3.2")
	directorDR = netip.MustParseAddr("10.250.3.1")
	vipDR      = netip.MustParseAddr("10.250.3.100")

	// Flood sources: flow i comes from floodBase+i/floodPortsPerAddr,
	// port floodPortLo+i%floodPortsPerAddr — never the client's own
	// address, so the real servers drop exactly the flood.
	floodNet   = netip.MustParsePrefix("10.250.1.128/25")
	floodNetDR = netip.MustParsePrefix("10.250.3.128/25")

	// The scaling run's extra real servers: addresses on the real-server
	// namespaces, in a /16 the director reaches on eth1.
	scaleNet      = netip.MustParsePrefix("10.251.0.0/16")
	directorScale = netip.MustParseAddr("10.251.255.1")
	scaleRouter   = netip.MustParseAddr("10.251.255.254") // their nat_router
)

// scaleAddr is the address of scaling real server k (0-based, < 250*255).
func scaleAddr(k int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 251, byte(k / 250), byte(k%250 + 1)})
}

// realDRAddr is real server k's (1-based) address on the DR subnet.
func realDRAddr(k int) netip.Addr { return netip.AddrFrom4([4]byte{10, 250, 3, byte(10 + k)}) }

// The services: the UDP flood and the latency probes share one UDP virtual
// service; the real servers drop the flood (its source addresses) at
// netdev ingress and echo everything else.
const (
	udpPort     = 9000
	udpPortDR   = 9001 // the DR service's UDP port: see drEcho
	tcpPort     = 8080 // not 80: there lvsd's health check would assume HTTP
	probePortLo = 5000 // latency probe sockets bind from here
)

// realAddr is the address of real server k (1-based).
func realAddr(k int) netip.Addr { return netip.AddrFrom4([4]byte{10, 250, 2, byte(10 + k)}) }

// nsNode is one namespace of the testbed: a namespace of the run's lab,
// under the names the harness uses.
type nsNode struct {
	ns   *netlab.NS
	name string          // ns.Name
	h    *netlink.Handle // ns.Netlink()
}

// testbed is the topology every contender runs on:
//
//	cli ─eth0═══eth0─ dir ─eth1═══p0─┐ sw (br0) ┌─p1═══eth0─ rs1 …
//
// cli↔dir is a direct veth pair; the private side is a bridge in its own
// namespace, so N real servers and the director's eth1 share one segment.
type testbed struct {
	st      *runState
	dir     string // run dir: logs, lvs.cf, rules
	cli     *nsNode
	dirNode *nsNode
	sw      *nsNode
	rs      []*nsNode
	cliMAC  net.HardwareAddr
	pubMAC  net.HardwareAddr // director eth0
	privMAC net.HardwareAddr // director eth1
	cliIdx  int              // client eth0 ifindex
	cliMAC1 net.HardwareAddr // client eth1 (the DR segment)
	cliIdx1 int              // client eth1 ifindex
	echoes  []*drEcho        // UDP echo bound to vipDR on each real server
	has6    bool             // the IPv6 addresses are set (address6, ipv6_linux.go)
}

// genPath is where the raw-frame generator sends: the client interface,
// the MACs, and the flood's source subnet.
type genPath struct {
	ifindex        int
	srcMAC, dstMAC net.HardwareAddr
	sources        netip.Prefix
}

// path returns the generator's path for a contender: the NAT side
// (cli eth0 → director eth0) or the DR segment (cli eth1 → bridge →
// director eth1).
func (tb *testbed) path(dr bool) genPath {
	if dr {
		return genPath{ifindex: tb.cliIdx1, srcMAC: tb.cliMAC1, dstMAC: tb.privMAC, sources: floodNetDR}
	}
	return genPath{ifindex: tb.cliIdx, srcMAC: tb.cliMAC, dstMAC: tb.pubMAC, sources: floodNet}
}

// trafficNice is the nice value of the pinned traffic threads.
const trafficNice = -10

// inNS runs fn on a fresh OS thread switched into ns (see netlab.NS.Do),
// pinned to cpu (at trafficNice) when cpu ≥ 0.
func inNS(ns *netlab.NS, cpu int, fn func() error) error {
	return ns.Do(func() error {
		if cpu >= 0 {
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				return fmt.Errorf("pinning to CPU %d: %w", cpu, err)
			}
			// Traffic threads run at nice -10 so that other work sharing
			// the machine does not starve the generator (thread-only on Linux).
			unix.Setpriority(unix.PRIO_PROCESS, 0, trafficNice)
		}
		return fn()
	})
}

// openNS records, then creates, the namespace PREFIX+node with lo up.
func (tb *testbed) openNS(node string) (*nsNode, error) {
	n, err := tb.st.lab.NS(node)
	if err != nil {
		return nil, err
	}
	return &nsNode{ns: n, name: n.Name, h: n.Netlink()}, nil
}

// node returns the run's namespace named name.
func (st *runState) node(name string) (*netlab.NS, error) {
	if !strings.HasPrefix(name, st.prefix()) {
		return nil, fmt.Errorf("namespace %s is not of run %s", name, st.ID)
	}
	return st.lab.Get(strings.TrimPrefix(name, st.prefix()))
}

func (n *nsNode) link(name string) (netlink.Link, error) { return n.ns.Link(name) }

func (n *nsNode) up(name string) error { return n.ns.Up(name) }

// addAddr adds a (prefix-length bits) to ifname.
func (n *nsNode) addAddr(ifname string, a netip.Addr, bits int) error {
	return n.ns.AddAddr(ifname, netip.PrefixFrom(a, bits))
}

// delAddr removes a/bits from ifname; a missing address is fine.
func (n *nsNode) delAddr(ifname string, a netip.Addr, bits int) error {
	return n.ns.DelAddr(ifname, netip.PrefixFrom(a, bits))
}

// neigh adds a permanent neighbour entry, so no ARP runs during windows.
func (n *nsNode) neigh(ifname string, a netip.Addr, mac net.HardwareAddr) error {
	return n.ns.Neigh(ifname, a, mac)
}

// forget deletes the neighbour entry for a on ifname, if there is one.
func (n *nsNode) forget(ifname string, a netip.Addr) error { return n.ns.Forget(ifname, a) }

// forgetOwned makes the client and the real servers forget the MAC of the
// VIP and of nat_router, so each contender starts from fresh ARP, as a
// newly active director does: the next packet to them asks who has them,
// and whoever owns them (the director's kernel, or lvsd) answers.
func (tb *testbed) forgetOwned() error {
	errs := []error{tb.cli.forget("eth0", vip), tb.cli.forget("eth1", vipDR)}
	for _, n := range tb.rs {
		errs = append(errs, n.forget("eth0", natRouter))
	}
	errs = append(errs, tb.forgetOwned6())
	return errors.Join(errs...)
}

// route adds a route to dst (invalid: default) via gw.
func (n *nsNode) route(dst netip.Prefix, gw netip.Addr) error { return n.ns.AddRoute(dst, gw) }

// unroute deletes the route to dst via gw; a missing route is fine.
func (n *nsNode) unroute(dst netip.Prefix, gw netip.Addr) error { return n.ns.DelRoute(dst, gw) }

// sysctl writes a net.* sysctl inside n.
func (n *nsNode) sysctl(key, val string) error { return n.ns.Sysctl(key, val) }

// run runs a short command inside n, feeding it stdin, bounded to 30 s.
func (n *nsNode) run(ctx context.Context, stdin string, argv ...string) error {
	_, err := n.ns.Run(ctx, stdin, argv...)
	return err
}

// output runs a short command inside n and returns its output (≤ 30 s).
func (n *nsNode) output(ctx context.Context, argv ...string) (string, error) {
	out, err := n.ns.Run(ctx, "", argv...)
	if err != nil {
		return "", err
	}
	return out, nil
}

// stats returns the kernel's counters of ifname in n.
func (n *nsNode) stats(ifname string) (*netlink.LinkStatistics, error) { return n.ns.Stats(ifname) }

func (tb *testbed) close() error {
	for _, e := range tb.echoes {
		e.close()
	}
	if tb.st.lab == nil {
		return nil
	}
	return tb.st.lab.Close()
}

// delivered sums the real servers' eth0 rx_packets (0 on a read error).
func (tb *testbed) delivered() uint64 {
	var n uint64
	for _, x := range tb.rs {
		if st, err := x.stats("eth0"); err == nil {
			n += st.RxPackets
		}
	}
	return n
}

// realNodes returns the real-server namespaces.
func (tb *testbed) realNodes() []*nsNode { return tb.rs }
