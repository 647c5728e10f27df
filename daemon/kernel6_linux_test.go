package daemon

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lvs/internal/testutil"
)

// udp6Arrives is udpArrives over IPv6.
func udp6Arrives(t *testing.T, lab interface {
	Do(string, func())
}, from, to string, src, dst netip.AddrPort) bool {
	t.Helper()
	var ln *net.UDPConn
	var err error
	lab.Do(to, func() { ln, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(dst)) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lab.Do(from, func() {
		var c *net.UDPConn
		c, err = net.DialUDP("udp6", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dst))
		if err == nil {
			_, err = c.Write([]byte("leak?"))
			c.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64)
	_, _, err = ln.ReadFromUDP(buf)
	return err == nil
}

// The IPv6 half of the guard: a real server's datagram the kernel would
// forward is dropped, and the router's own IPv6 traffic with the real
// server — neighbour discovery through the solicited-node groups
// included — still flows.
func TestGuardStopsForwardingRealServerTraffic6(t *testing.T) {
	testutil.RequireRoot(t)
	lab, c, r, s := guardLab(t)
	for _, a := range []struct{ ns, addr, dev string }{
		{c, "2001:db8:26::100/64", "eth0"}, {r, "2001:db8:26::9/64", "eth0"},
		{r, "fd00:11:12::9/64", "eth1"}, {s, "fd00:11:12::1/64", "eth0"},
	} {
		lab.Must("ip", "-n", a.ns, "addr", "add", a.addr, "dev", a.dev, "nodad")
	}
	lab.Must("ip", "-n", s, "-6", "route", "add", "default", "via", "fd00:11:12::9")
	lab.Must("ip", "-n", c, "-6", "route", "add", "fd00:11:12::/64", "via", "2001:db8:26::9")
	lab.MustIn(r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	// Neighbour discovery waits for the link-local addresses' duplicate
	// address detection: one ping through resolves every hop first.
	lab.MustIn(s, "ping", "-6", "-c1", "-W5", "2001:db8:26::100")
	src := netip.MustParseAddrPort("[fd00:11:12::1]:20000")
	dst := netip.MustParseAddrPort("[2001:db8:26::100]:9999")
	if !udp6Arrives(t, lab, s, c, src, dst) {
		t.Fatal("without the guard the router's kernel did not forward IPv6: the lab is broken")
	}
	g := installIn(t, lab, r, GuardSpec{
		Interfaces: []string{"eth0", "eth1"},
		Owned:      []netip.Addr{netip.MustParseAddr("2001:db8:26::10"), netip.MustParseAddr("fd00:11:12::10")},
		Reals:      []netip.Prefix{netip.MustParsePrefix("fd00:11:12::1/128")},
		Local:      []netip.Addr{netip.MustParseAddr("2001:db8:26::9"), netip.MustParseAddr("fd00:11:12::9")},
	})
	if udp6Arrives(t, lab, s, c, src, dst) {
		t.Error("with the guard the router's kernel still forwarded a real server's IPv6 datagram")
	}
	if out := lab.MustIn(r, "nft", "list", "table", "netdev", "lvsd"); !strings.Contains(out, "packets 1") {
		t.Errorf("guard counters did not count the dropped datagram:\n%s", out)
	}
	// The real server forgets the router's MAC: the solicitation goes to
	// a solicited-node group, which the guard leaves to the kernel.
	lab.Must("ip", "-n", s, "-6", "neigh", "flush", "dev", "eth0")
	if out, err := lab.In(s, "ping", "-6", "-c1", "-W2", "fd00:11:12::9"); err != nil {
		t.Errorf("real server cannot reach the router's own IPv6 address under the guard: %v\n%s", err, out)
	}
	var err error
	lab.Do(r, func() { err = g.Remove(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	if !udp6Arrives(t, lab, s, c, src, dst) {
		t.Error("after Remove the kernel still does not forward IPv6")
	}
}

// The guard makes the interfaces pass the solicited-node groups of the
// owned IPv6 addresses (which the kernel does not own, so never joins),
// follows a change of them, and leaves them when removed.
func TestGuardJoinsSolicitedNodeGroups(t *testing.T) {
	testutil.RequireRoot(t)
	lab, _, r, _ := guardLab(t)
	groups := func() string { return lab.MustIn(r, "ip", "maddr", "show", "dev", "eth0") }
	spec := GuardSpec{Interfaces: []string{"eth0", "eth1"}, Owned: []netip.Addr{netip.MustParseAddr("2001:db8:26::10"), netip.MustParseAddr("192.168.26.10")}}
	g := installIn(t, lab, r, spec)
	if out := groups(); !strings.Contains(out, "33:33:ff:00:00:10") {
		t.Fatalf("eth0 has not joined the VIP's solicited-node group:\n%s", out)
	}
	if out := lab.MustIn(r, "ip", "maddr", "show", "dev", "eth1"); !strings.Contains(out, "33:33:ff:00:00:10") {
		t.Errorf("eth1 has not joined the VIP's solicited-node group:\n%s", out)
	}
	spec.Owned = []netip.Addr{netip.MustParseAddr("2001:db8:26::11")}
	var err error
	lab.Do(r, func() { err = g.Update(context.Background(), spec) })
	if err != nil {
		t.Fatal(err)
	}
	if out := groups(); strings.Contains(out, "33:33:ff:00:00:10") || !strings.Contains(out, "33:33:ff:00:00:11") {
		t.Errorf("after the VIP changed to ::11, eth0's groups:\n%s", out)
	}
	lab.Do(r, func() { err = g.Remove(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	if out := groups(); strings.Contains(out, "33:33:ff:00:00:11") {
		t.Errorf("the group is still joined after Remove:\n%s", out)
	}
}
