//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"lvs/internal/netlab"
)

// buildTestbed creates the namespaces, links, addresses, routes and
// neighbours of the topology, steers the director's receive path to
// dirCPU with RPS, and installs the real servers' flood counters. On error
// everything built so far is removed.
func buildTestbed(ctx context.Context, st *runState, dir string, servers, dirCPU int) (tb *testbed, err error) {
	tb = &testbed{st: st, dir: dir}
	if st.lab, err = runs.New(netlab.Options{ID: st.ID, Label: "lvsbench", Dir: dir}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tb.close())
			tb = nil
		}
	}()
	if tb.cli, err = tb.openNS("cli"); err != nil {
		return tb, err
	}
	if tb.dirNode, err = tb.openNS("dir"); err != nil {
		return tb, err
	}
	if tb.sw, err = tb.openNS("sw"); err != nil {
		return tb, err
	}
	for k := 1; k <= servers; k++ {
		n, err := tb.openNS("rs" + strconv.Itoa(k))
		if err != nil {
			return tb, err
		}
		tb.rs = append(tb.rs, n)
	}
	if err := tb.wire(); err != nil {
		return tb, err
	}
	if err := tb.address(); err != nil {
		return tb, err
	}
	if err := tb.tune(ctx, dirCPU); err != nil {
		return tb, err
	}
	return tb, nil
}

// wire creates the veths and the private segment's bridge and brings
// every link up.
func (tb *testbed) wire() error {
	if err := tb.dirNode.ns.Veth("eth0", tb.cli.ns, "eth0"); err != nil {
		return err
	}
	if err := tb.sw.ns.Bridge("br0"); err != nil {
		return err
	}
	ports := []*nsNode{tb.dirNode}
	ports = append(ports, tb.rs...)
	ports = append(ports, tb.cli)
	for i, n := range ports {
		port, inner := "p"+strconv.Itoa(i), "eth0"
		switch n {
		case tb.dirNode, tb.cli:
			inner = "eth1"
		}
		if n == tb.cli {
			port = cliPort
		}
		if err := tb.sw.ns.Veth(port, n.ns, inner); err != nil {
			return err
		}
		if err := tb.sw.ns.Attach("br0", port); err != nil {
			return err
		}
	}
	for _, x := range []struct {
		n     *nsNode
		iface string
	}{{tb.cli, "eth0"}, {tb.cli, "eth1"}, {tb.dirNode, "eth0"}, {tb.dirNode, "eth1"}} {
		if err := x.n.up(x.iface); err != nil {
			return err
		}
	}
	for _, n := range tb.rs {
		if err := n.up("eth0"); err != nil {
			return err
		}
	}
	return nil
}

// address gives every node its addresses, routes and permanent neighbours
// for the director's own addresses. The VIP and nat_router are not assigned
// here: the kernel contenders add them to the director, lvsd owns them
// itself; clients and real servers find them by ARP, as on a real network
// (see forgetOwned).
func (tb *testbed) address() error {
	var err error
	mac := func(n *nsNode, ifname string) net.HardwareAddr {
		l, e := n.link(ifname)
		if e != nil {
			err = errors.Join(err, e)
			return nil
		}
		return l.Attrs().HardwareAddr
	}
	tb.cliMAC, tb.pubMAC, tb.privMAC = mac(tb.cli, "eth0"), mac(tb.dirNode, "eth0"), mac(tb.dirNode, "eth1")
	tb.cliMAC1 = mac(tb.cli, "eth1")
	if err != nil {
		return err
	}
	l, _ := tb.cli.link("eth0")
	tb.cliIdx = l.Attrs().Index
	l, _ = tb.cli.link("eth1")
	tb.cliIdx1 = l.Attrs().Index
	steps := []func() error{
		func() error { return tb.cli.addAddr("eth0", clientAddr, 24) },
		func() error { return tb.cli.addAddr("eth1", clientDR, 24) },
		func() error { return tb.cli.sysctl("net.ipv4.conf.all.arp_ignore", "1") },
		func() error { return tb.dirNode.addAddr("eth0", directorPub, 24) },
		func() error { return tb.dirNode.addAddr("eth1", directorPriv, 24) },
		func() error { return tb.dirNode.addAddr("eth1", directorDR, 24) },
		// The kernel DR reference forwards out the interface it received on:
		// no ICMP redirects for that.
		func() error { return tb.dirNode.sysctl("net.ipv4.conf.all.send_redirects", "0") },
		func() error { return tb.dirNode.sysctl("net.ipv4.conf.eth1.send_redirects", "0") },
		func() error { return tb.cli.route(privNet, directorPub) },
		func() error { return tb.cli.neigh("eth0", directorPub, tb.pubMAC) },
		func() error { return tb.dirNode.neigh("eth0", clientAddr, tb.cliMAC) },
	}
	for k, n := range tb.rs {
		steps = append(steps,
			func() error { return n.addAddr("eth0", realAddr(k+1), 24) },
			func() error { return n.addAddr("eth0", realDRAddr(k+1), 24) },
			func() error { return n.addAddr("lo", vipDR, 32) },
			// Direct routing, the modern way (DESIGN.md): the VIP on lo,
			// never answered or announced by ARP.
			func() error { return n.sysctl("net.ipv4.conf.all.arp_ignore", "1") },
			func() error { return n.sysctl("net.ipv4.conf.all.arp_announce", "2") },
			func() error { return n.route(netip.Prefix{}, natRouter) },
			func() error { return n.neigh("eth0", directorPriv, tb.privMAC) },
			func() error { return tb.dirNode.neigh("eth1", realAddr(k+1), mac(n, "eth0")) },
		)
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return err
}

// cliPort is the switch port of the client's DR interface.
const cliPort = "pc"

// staticFDB pins every station's MAC to its bridge port, so the bridge
// never floods a unicast frame to every real server (which would count as
// delivered at each of them) when a MAC ages out.
func (tb *testbed) staticFDB(ctx context.Context) error {
	var b strings.Builder
	add := func(n *nsNode, ifname, port string) error {
		l, err := n.link(ifname)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "fdb replace %s dev %s master static\n", l.Attrs().HardwareAddr, port)
		return nil
	}
	errs := []error{add(tb.dirNode, "eth1", "p0"), add(tb.cli, "eth1", cliPort)}
	for k, n := range tb.rs {
		errs = append(errs, add(n, "eth0", "p"+strconv.Itoa(k+1)))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return tb.sw.run(ctx, b.String(), "bridge", "-batch", "-")
}

// tune sets what every contender shares: a wide client port range (the
// connection test opens tens of thousands), no br_netfilter on the switch, RPS steering the director's
// receive queues to dirCPU (the 1 + 1 core split of the reference
// probe), static bridge entries, and on each real server a netdev-ingress rule that counts and
// drops the flood before any socket sees it.
func (tb *testbed) tune(ctx context.Context, dirCPU int) error {
	if err := tb.cli.sysctl("net.ipv4.ip_local_port_range", "1024 65000"); err != nil {
		return err
	}
	// The switch is not part of the director: keep br_netfilter (built into
	// this kernel) from running the IP hooks on every bridged frame.
	for _, k := range []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.bridge.bridge-nf-call-arptables"} {
		if _, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))); err == nil {
			if err := tb.sw.sysctl(k, "0"); err != nil {
				return err
			}
		}
	}
	mask := strconv.FormatUint(1<<uint(dirCPU), 16)
	err := tb.dirNode.run(ctx, "", "sh", "-c", "echo "+mask+" > /sys/class/net/eth0/queues/rx-0/rps_cpus")
	if err != nil {
		return fmt.Errorf("RPS on the director: %w", err)
	}
	// The DR path reaches the director on eth1, through the bridge: steer
	// eth1's receive to the director's core, so the switch's work on the
	// request runs where the generator sends (as the veth to eth0 does for
	// NAT) and the director's on its own core.
	err = tb.dirNode.run(ctx, "", "sh", "-c", "echo "+mask+" > /sys/class/net/eth1/queues/rx-0/rps_cpus")
	if err != nil {
		return fmt.Errorf("RPS on the director's eth1: %w", err)
	}
	if err := tb.staticFDB(ctx); err != nil {
		return fmt.Errorf("static bridge entries: %w", err)
	}
	rules := fmt.Sprintf(`table netdev lvsbench {
	chain flood {
		type filter hook ingress device "eth0" priority 0; policy accept;
		ip saddr { %v, %v } counter drop
	}
}
`, floodNet, floodNetDR)
	for _, n := range tb.rs {
		if err := n.run(ctx, rules, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("flood sink: %w", err)
		}
	}
	return nil
}

// startResponders runs the simulator's responder (`lvssim responder`: TCP
// greeting + echo, UDP echo) on every real server, pinned to cpu at
// trafficNice (like the clients: other work on the machine should not
// starve the real servers), and waits until each accepts connections.
func (tb *testbed) startResponders(ctx context.Context, lvssim string, cpu int) ([]*proc, error) {
	var ps []*proc
	for k, n := range tb.rs {
		name := "rs" + strconv.Itoa(k+1)
		p, err := startIn(tb.st, n.name, strconv.Itoa(cpu), trafficNice, filepath.Join(tb.dir, name+"-responder.log"), name+" responder",
			lvssim, "responder", "--name", name, "--tcp", strconv.Itoa(tcpPort), "--udp", strconv.Itoa(udpPort))
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
	for k, n := range tb.rs {
		addr := netip.AddrPortFrom(realAddr(k+1), tcpPort)
		if err := waitFor(ctx, 10*time.Second, ps[k], func() error { return dialOnce(n, addr) }); err != nil {
			return ps, fmt.Errorf("responder on rs%d: %w", k+1, err)
		}
	}
	return ps, nil
}

// dialOnce connects to addr from inside n and closes at once.
func dialOnce(n *nsNode, addr netip.AddrPort) error {
	return inNS(n.ns, -1, func() error {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// waitFor retries check every 50 ms until it succeeds, p exits, ctx ends
// or d passes (netlab.WaitFor).
func waitFor(ctx context.Context, d time.Duration, p *proc, check func() error) error {
	var np *netlab.Proc
	if p != nil {
		np = p.Proc
	}
	return netlab.WaitFor(ctx, d, np, check)
}
