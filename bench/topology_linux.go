//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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

// nsNode is one namespace of the testbed with a netlink handle into it.
type nsNode struct {
	name string
	ns   netns.NsHandle
	h    *netlink.Handle
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

// inNS runs fn on a fresh OS thread switched into ns, and pinned to cpu
// (at trafficNice) when cpu ≥ 0. The thread is never switched back: its goroutine exits
// locked, so the runtime discards it.
func inNS(ns netns.NsHandle, cpu int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		if cpu >= 0 {
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				errc <- fmt.Errorf("pinning to CPU %d: %w", cpu, err)
				return
			}
			// Traffic threads run at nice -10 so that other work sharing
			// the machine does not starve the generator (thread-only on Linux).
			unix.Setpriority(unix.PRIO_PROCESS, 0, trafficNice)
		}
		errc <- fn()
	}()
	return <-errc
}

// openNS records, then creates, the namespace PREFIX+node with lo up.
func (tb *testbed) openNS(node string) (*nsNode, error) {
	name := tb.st.prefix() + node
	if err := tb.st.addNamespace(name); err != nil {
		return nil, err
	}
	var ns netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // NewNamed switches this thread; it dies with the goroutine
		var err error
		ns, err = netns.NewNamed(name)
		errc <- err
	}()
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink handle in %s: %w", name, err)
	}
	n := &nsNode{name: name, ns: ns, h: h}
	if err := n.up("lo"); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *nsNode) close() {
	n.h.Close()
	n.ns.Close()
}

func (n *nsNode) link(name string) (netlink.Link, error) {
	l, err := n.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding %s in %s: %w", name, n.name, err)
	}
	return l, nil
}

func (n *nsNode) up(name string) error {
	l, err := n.link(name)
	if err == nil {
		err = n.h.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("bringing up %s in %s: %w", name, n.name, err)
	}
	return nil
}

// addAddr adds a (prefix-length bits) to ifname.
func (n *nsNode) addAddr(ifname string, a netip.Addr, bits int) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	ipn := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
	if err := n.h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
		return fmt.Errorf("adding %v/%d to %s in %s: %w", a, bits, ifname, n.name, err)
	}
	return nil
}

// delAddr removes a/bits from ifname; a missing address is fine.
func (n *nsNode) delAddr(ifname string, a netip.Addr, bits int) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	ipn := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
	if err := n.h.AddrDel(l, &netlink.Addr{IPNet: ipn}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("removing %v from %s in %s: %w", a, ifname, n.name, err)
	}
	return nil
}

// neigh adds a permanent neighbour entry, so no ARP runs during windows.
func (n *nsNode) neigh(ifname string, a netip.Addr, mac net.HardwareAddr) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	err = n.h.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET,
		State: netlink.NUD_PERMANENT, IP: a.AsSlice(), HardwareAddr: mac})
	if err != nil {
		return fmt.Errorf("neighbour %v on %s in %s: %w", a, ifname, n.name, err)
	}
	return nil
}

// forget deletes the neighbour entry for a on ifname, if there is one.
func (n *nsNode) forget(ifname string, a netip.Addr) error {
	l, err := n.link(ifname)
	if err != nil {
		return err
	}
	err = n.h.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET, IP: a.AsSlice()})
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("forgetting neighbour %v in %s: %w", a, n.name, err)
	}
	return nil
}

// forgetOwned makes the client and the real servers forget the MAC of the
// VIP and of nat_router, so each contender starts from fresh ARP, as a
// newly active director does: the next packet to them asks who has them,
// and whoever owns them (the director's kernel, or lvsd) answers.
func (tb *testbed) forgetOwned() error {
	errs := []error{tb.cli.forget("eth0", vip), tb.cli.forget("eth1", vipDR)}
	for _, n := range tb.rs {
		errs = append(errs, n.forget("eth0", natRouter))
	}
	return errors.Join(errs...)
}

// route adds a route to dst (invalid: default) via gw.
func (n *nsNode) route(dst netip.Prefix, gw netip.Addr) error {
	if err := n.h.RouteAdd(routeOf(dst, gw)); err != nil {
		return fmt.Errorf("route to %v via %v in %s: %w", dst, gw, n.name, err)
	}
	return nil
}

// unroute deletes the route to dst via gw; a missing route is fine.
func (n *nsNode) unroute(dst netip.Prefix, gw netip.Addr) error {
	if err := n.h.RouteDel(routeOf(dst, gw)); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("removing route to %v via %v in %s: %w", dst, gw, n.name, err)
	}
	return nil
}

func routeOf(dst netip.Prefix, gw netip.Addr) *netlink.Route {
	r := &netlink.Route{Gw: gw.AsSlice()}
	if dst.IsValid() {
		r.Dst = &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}
	}
	return r
}

// sysctl writes a net.* sysctl inside n: /proc/sys/net shows the namespace
// of the thread that opens it.
func (n *nsNode) sysctl(key, val string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return inNS(n.ns, -1, func() error {
		if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, val, n.name, err)
		}
		return nil
	})
}

// run runs a short command inside n (ip netns exec, which also gives it
// the namespace's own /sys), feeding it stdin, bounded to 30 s.
func (n *nsNode) run(ctx context.Context, stdin string, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, argv...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), n.name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// output runs a short command inside n and returns its output (≤ 30 s).
func (n *nsNode) output(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, argv...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), n.name, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// stats returns the kernel's counters of ifname in n.
func (n *nsNode) stats(ifname string) (*netlink.LinkStatistics, error) {
	l, err := n.link(ifname)
	if err != nil {
		return nil, err
	}
	if l.Attrs().Statistics == nil {
		return nil, fmt.Errorf("%s in %s: no statistics", ifname, n.name)
	}
	return l.Attrs().Statistics, nil
}

// veth creates a veth pair in owner whose peer is born in peerNS, so
// nothing is ever created in, or connected to, the host's namespace.
func veth(owner *nsNode, name string, peer *nsNode, peerName string) error {
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peerName,
		PeerNamespace: netlink.NsFd(int(peer.ns))}
	if err := owner.h.LinkAdd(v); err != nil {
		return fmt.Errorf("creating veth %s(%s)–%s(%s): %w", name, owner.name, peerName, peer.name, err)
	}
	return nil
}

func (tb *testbed) close() error {
	for _, e := range tb.echoes {
		e.close()
	}
	for _, n := range append([]*nsNode{tb.cli, tb.dirNode, tb.sw}, tb.rs...) {
		if n != nil {
			n.close()
		}
	}
	return tb.st.remove()
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
