package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"lvs/dataplane/afpacket"
	"lvs/internal/netlab"
	"lvs/internal/testutil"
)

// guardLab is the guide's NAT layout in miniature: client c (192.168.26.100)
// — router r (public 192.168.26.9, private 10.11.12.9, forwarding on) — real
// server s (10.11.12.1, default gateway the router).
func guardLab(t *testing.T) (lab *netlab.T, c, r, s string) {
	lab = netlab.NewT(t, "lvst-")
	testutil.RequireCommand(t, "nft", "ping")
	c, r, s = lab.NS("c"), lab.NS("r"), lab.NS("s")
	lab.Veth(c, "eth0", r, "eth0")
	lab.Veth(s, "eth0", r, "eth1")
	lab.Must("ip", "-n", c, "addr", "add", "192.168.26.100/24", "dev", "eth0")
	lab.Must("ip", "-n", r, "addr", "add", "192.168.26.9/24", "dev", "eth0")
	lab.Must("ip", "-n", r, "addr", "add", "10.11.12.9/24", "dev", "eth1")
	lab.Must("ip", "-n", s, "addr", "add", "10.11.12.1/24", "dev", "eth0")
	lab.Must("ip", "-n", s, "route", "add", "default", "via", "10.11.12.9")
	lab.Must("ip", "-n", c, "route", "add", "10.11.12.0/24", "via", "192.168.26.9")
	lab.MustIn(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return lab, c, r, s
}

func installIn(t *testing.T, lab *netlab.T, ns string, spec GuardSpec) *KernelGuard {
	t.Helper()
	var g *KernelGuard
	var err error
	lab.Do(ns, func() { g, err = InstallGuard(context.Background(), spec) })
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// udpArrives sends one datagram from namespace from (bound to src) to dst and
// reports whether a listener in namespace to received it within a second.
func udpArrives(t *testing.T, lab *netlab.T, from, to string, src, dst netip.AddrPort) bool {
	t.Helper()
	var ln *net.UDPConn
	var err error
	lab.Do(to, func() { ln, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(dst)) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lab.Do(from, func() {
		var c *net.UDPConn
		c, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dst))
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

func TestGuardStopsForwardingRealServerTraffic(t *testing.T) {
	lab, c, r, s := guardLab(t)
	src := netip.MustParseAddrPort("10.11.12.1:20000")
	dst := netip.MustParseAddrPort("192.168.26.100:9999")
	if !udpArrives(t, lab, s, c, src, dst) {
		t.Fatal("without the guard the router's kernel did not forward: the lab is broken")
	}
	g := installIn(t, lab, r, GuardSpec{
		Interfaces: []string{"eth0", "eth1"},
		Owned:      []netip.Addr{netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("10.11.12.10")},
		Reals:      []netip.Prefix{netip.MustParsePrefix("10.11.12.1/32")},
		Local:      []netip.Addr{netip.MustParseAddr("192.168.26.9"), netip.MustParseAddr("10.11.12.9")},
	})
	if udpArrives(t, lab, s, c, src, dst) {
		t.Error("with the guard the router's kernel still forwarded a real server's datagram")
	}
	if out := lab.MustIn(r, "nft", "list", "table", "netdev", "lvsd"); !strings.Contains(out, "packets 1") {
		t.Errorf("guard counters did not count the dropped datagram:\n%s", out)
	}
	// The router's own traffic with the real server (health checks) still works.
	if out, err := lab.In(s, "ping", "-c1", "-W2", "10.11.12.9"); err != nil {
		t.Errorf("real server cannot reach the router's own address under the guard: %v\n%s", err, out)
	}
	var err error
	lab.Do(r, func() { err = g.Remove(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	if !udpArrives(t, lab, s, c, src, dst) {
		t.Error("after Remove the kernel still does not forward")
	}
	lab.Do(r, func() { err = g.Remove(context.Background()) })
	if err != nil {
		t.Errorf("second Remove: %v (want no error for a missing table)", err)
	}
}

// A VIP configured on the kernel by mistake must not make the kernel answer:
// no RST to a SYN, while a packet socket still receives the frame.
func TestGuardHidesOwnedAddressesFromKernelButNotFromPacketSockets(t *testing.T) {
	lab, c, r, _ := guardLab(t)
	lab.Must("ip", "-n", r, "addr", "add", "192.168.26.10/32", "dev", "eth0")
	vip := netip.MustParseAddrPort("192.168.26.10:80")
	if err := dialIn(lab, c, vip); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("without the guard, dial %v = %v, want connection refused (a kernel RST)", vip, err)
	}
	installIn(t, lab, r, GuardSpec{Interfaces: []string{"eth0"}, Owned: []netip.Addr{vip.Addr()}})

	// The receive link lvsd opens (linkfactory.go): bound to ETH_P_IP and
	// the rest, served after the guard's ingress hook, taking the frames
	// it marked although they are now for another host.
	var l *afpacket.Link
	var err error
	lab.Do(r, func() {
		l, err = afpacket.Open(afpacket.Config{Interface: "eth0", Protocols: receiveProtocols, AcceptMark: GuardMark})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	saw := make(chan bool, 1)
	go func() { saw <- sawSYN(l, vip) }()

	if err := dialIn(lab, c, vip); errors.Is(err, syscall.ECONNREFUSED) || err == nil {
		t.Errorf("with the guard, dial %v = %v, want a timeout (no RST from the kernel)", vip, err)
	}
	l.Close() // ends sawSYN's reads
	if !<-saw {
		t.Error("lvsd's receive link on the router did not see the SYN to the VIP")
	}
}

func dialIn(lab *netlab.T, ns string, to netip.AddrPort) error {
	var err error
	lab.Do(ns, func() {
		var conn net.Conn
		conn, err = net.DialTimeout("tcp4", to.String(), 1500*time.Millisecond)
		if err == nil {
			conn.Close()
		}
	})
	return err
}

// sawSYN reads l until it closes, and reports whether a TCP SYN to dst
// came.
func sawSYN(l *afpacket.Link, dst netip.AddrPort) bool {
	frames := make([][]byte, l.BatchSize())
	want := dst.Addr().As4()
	seen := false
	for {
		n, err := l.ReadBatch(frames)
		if err != nil {
			return seen
		}
		for _, f := range frames[:n] {
			if len(f) < 14+20+20 || f[12] != 0x08 || f[13] != 0x00 || f[14+9] != unix.IPPROTO_TCP || [4]byte(f[14+16:14+20]) != want {
				continue
			}
			l4 := 14 + int(f[14]&0x0f)*4
			if uint16(f[l4+2])<<8|uint16(f[l4+3]) == dst.Port() && f[l4+13]&0x02 != 0 {
				seen = true
			}
		}
	}
}

// natSpec is the guard of guardLab's router as lvsd would ask for it.
func natSpec() GuardSpec {
	return GuardSpec{
		Interfaces: []string{"eth1", "eth0"},
		Owned: []netip.Addr{netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("10.11.12.10"),
			netip.MustParseAddr("2001:db8:26::10"), netip.MustParseAddr("fd00:11:12::10")},
		Reals: []netip.Prefix{netip.MustParsePrefix("10.11.12.1/32"), netip.MustParsePrefix("10.11.13.0/25"),
			netip.MustParsePrefix("10.11.13.128/25"), netip.MustParsePrefix("10.11.12.0/30"),
			netip.MustParsePrefix("fd00:11:12::1/128"), netip.MustParsePrefix("fd00:11:13::/64")},
		Local: []netip.Addr{netip.MustParseAddr("192.168.26.9"), netip.MustParseAddr("10.11.12.9"),
			netip.MustParseAddr("2001:db8:26::9"), netip.MustParseAddr("fe80::1")},
	}
}

// listing is `nft list table netdev NAME` in ns without handles and with
// counters zeroed: what the kernel holds, as nft reads it back.
func listing(t *testing.T, lab *netlab.T, ns, name string) string {
	t.Helper()
	out := lab.MustIn(ns, "nft", "list", "table", "netdev", name)
	return regexp.MustCompile(`counter packets \d+ bytes \d+`).ReplaceAllString(out, "counter packets 0 bytes 0")
}

// The table lvsd programs over netlink is, as the kernel reports it, the
// one nft makes of the guard's nft rendering (the script lvsd used to feed
// to nft -f): same sets and elements, chains, hooks, priorities, matches,
// counters, verdicts and comments.
func TestGuardNetlinkTableIsTheNftRuleset(t *testing.T) {
	lab, _, r, _ := guardLab(t)
	ref := lab.NS("ref")
	lab.Veth(ref, "eth0", ref, "eth1")
	spec := natSpec()
	installIn(t, lab, r, spec)
	want, err := spec.guard()
	if err != nil {
		t.Fatal(err)
	}
	script := t.TempDir() + "/guard.nft"
	if err := os.WriteFile(script, []byte(want.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	lab.MustIn(ref, "nft", "-f", script)
	got, ref0 := listing(t, lab, r, "lvsd"), listing(t, lab, ref, "lvsd")
	if got != ref0 {
		t.Errorf("kernel table programmed over netlink:\n%s\nwant (nft -f of the rendering):\n%s", got, ref0)
	}
	for _, want := range []string{"10.11.12.0/30", "10.11.13.0/25", "10.11.13.128/25", `ip daddr @owned counter packets 0 bytes 0 meta mark set 0x6c767364 meta pkttype set other comment "lvsd: VIP or owned address"`,
		"2001:db8:26::10", "fd00:11:13::/64", "ff00::/8", `ip6 saddr @reals6 ip6 daddr != @local6 counter packets 0 bytes 0 meta mark set 0x6c767364 meta pkttype set other comment "lvsd: from a real server"`} {
		if !strings.Contains(got, want) {
			t.Errorf("kernel table lacks %q:\n%s", want, got)
		}
	}
}

// lvsd needs no userland tool: with PATH empty (no nft, no ip) the guard
// installs, drops what it must, updates and goes away.
func TestGuardNeedsNoNftProgram(t *testing.T) {
	lab, c, r, s := guardLab(t)
	src := netip.MustParseAddrPort("10.11.12.1:20000")
	dst := netip.MustParseAddrPort("192.168.26.100:9999")
	spec := natSpec()
	var g *KernelGuard
	var err error
	withoutPath(func() {
		lab.Do(r, func() {
			if g, err = InstallGuard(context.Background(), spec); err == nil {
				spec.Owned = append(spec.Owned, netip.MustParseAddr("192.168.26.11"))
				err = g.Update(context.Background(), spec)
			}
		})
	})
	if err != nil {
		t.Fatalf("with PATH empty: %v", err)
	}
	if out := listing(t, lab, r, "lvsd"); !strings.Contains(out, "192.168.26.11") {
		t.Errorf("update with PATH empty did not reach the kernel:\n%s", out)
	}
	if udpArrives(t, lab, s, c, src, dst) {
		t.Error("guard installed with PATH empty: the router's kernel still forwarded a real server's datagram")
	}
	withoutPath(func() { lab.Do(r, func() { err = g.Remove(context.Background()) }) })
	if err != nil {
		t.Fatalf("remove with PATH empty: %v", err)
	}
	if out, err := lab.In(r, "nft", "list", "table", "netdev", "lvsd"); err == nil {
		t.Errorf("table still there after Remove:\n%s", out)
	}
	if !udpArrives(t, lab, s, c, src, dst) {
		t.Error("after Remove the kernel still does not forward")
	}
}

// withoutPath runs f with PATH empty, so that no program can be found.
func withoutPath(f func()) {
	path := os.Getenv("PATH")
	os.Setenv("PATH", "")
	defer os.Setenv("PATH", path)
	f()
}

// A table of the guard's name left by a crashed lvsd, whatever it holds, is
// replaced by the new one (and an earlier build's inet table of the name
// goes); a second lvsd's table of another name is left alone.
func TestGuardReplacesStaleTable(t *testing.T) {
	lab, _, r, _ := guardLab(t)
	stale := t.TempDir() + "/stale.nft"
	if err := os.WriteFile(stale, []byte(`table netdev lvsd {
	set owned { type ipv4_addr; elements = { 192.168.26.99 } }
	chain stale { type filter hook ingress device "eth0" priority -500; policy drop; }
	chain in5 { type filter hook ingress device "eth1" priority -500; policy accept; counter drop; }
}
table inet lvsd {
	chain pre { type filter hook prerouting priority -500; policy drop; }
}
table netdev other {
	chain in0 { type filter hook ingress device "eth0" priority -400; policy accept; }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	lab.MustIn(r, "nft", "-f", stale)
	spec := natSpec()
	g := installIn(t, lab, r, spec)
	got := listing(t, lab, r, "lvsd")
	for _, gone := range []string{"192.168.26.99", "chain stale", "in5", "policy drop"} {
		if strings.Contains(got, gone) {
			t.Errorf("stale %q survived the install:\n%s", gone, got)
		}
	}
	ref := lab.NS("ref")
	lab.Veth(ref, "eth0", ref, "eth1")
	installIn(t, lab, ref, spec)
	if want := listing(t, lab, ref, "lvsd"); got != want {
		t.Errorf("after replacing a stale table:\n%s\nwant, as on a fresh host:\n%s", got, want)
	}
	var err error
	lab.Do(r, func() { err = g.Remove(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.In(r, "nft", "list", "table", "netdev", "other"); err != nil {
		t.Errorf("Remove took another table with it: %v", err)
	}
	if out, err := lab.In(r, "nft", "list", "table", "inet", "lvsd"); err == nil {
		t.Errorf("an earlier build's inet table survived the install:\n%s", out)
	}
}

// Install, Update and Remove are one transaction each: the kernel's
// ruleset generation advances by exactly one per call.
func TestGuardChangesAreOneTransaction(t *testing.T) {
	lab, _, r, _ := guardLab(t)
	spec := natSpec()
	steps := []struct {
		name string
		do   func(*KernelGuard) (*KernelGuard, error)
	}{
		{"install", func(*KernelGuard) (*KernelGuard, error) { return InstallGuard(context.Background(), spec) }},
		{"update", func(g *KernelGuard) (*KernelGuard, error) {
			spec.Interfaces = append(spec.Interfaces, "lo")
			return g, g.Update(context.Background(), spec)
		}},
		{"remove", func(g *KernelGuard) (*KernelGuard, error) { return g, g.Remove(context.Background()) }},
		{"remove again", func(g *KernelGuard) (*KernelGuard, error) { return g, g.Remove(context.Background()) }},
	}
	var g *KernelGuard
	for _, st := range steps {
		var before, after uint32
		var err error
		lab.Do(r, func() {
			if before, err = nftGeneration(); err != nil {
				return
			}
			if g, err = st.do(g); err != nil {
				return
			}
			after, err = nftGeneration()
		})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if after != before+1 {
			t.Errorf("%s: nf_tables generation %d → %d, want one transaction (+1)", st.name, before, after)
		}
	}
}

// nftGeneration asks the kernel of the calling thread's namespace for its
// nf_tables ruleset generation, which every committed batch advances by one.
func nftGeneration() (uint32, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return binary.BigEndian.Uint32(ad.Bytes()), nil
			}
		}
	}
	return 0, errors.New("no NFTA_GEN_ID in the kernel's answer")
}

// The kernel's refusal reaches the caller with what was being done and the
// errno: here a thread without CAP_NET_ADMIN.
func TestGuardReportsKernelError(t *testing.T) {
	lab, _, r, _ := guardLab(t)
	var err error
	done := make(chan struct{})
	go func() { // a thread of its own: it drops a capability and may not be reused
		defer close(done)
		lab.Do(r, func() {
			var caps capabilities
			if err = caps.drop(unix.CAP_NET_ADMIN); err != nil {
				runtime.LockOSThread() // never hand this thread back: its capabilities are wrong
				return
			}
			_, err = InstallGuard(context.Background(), natSpec())
			if rerr := caps.restore(); rerr != nil {
				runtime.LockOSThread()
				t.Errorf("restoring capabilities: %v", rerr)
			}
		})
	}()
	<-done
	if err == nil {
		t.Fatal("InstallGuard without CAP_NET_ADMIN succeeded")
	}
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("InstallGuard without CAP_NET_ADMIN = %v, want EPERM in the chain", err)
	}
	for _, want := range []string{"installing nftables table netdev lvsd on eth0, eth1", "CAP_NET_ADMIN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("InstallGuard error %q lacks %q", err, want)
		}
	}
	if out, lerr := lab.In(r, "nft", "list", "table", "netdev", "lvsd"); lerr == nil {
		t.Errorf("a refused install left a table:\n%s", out)
	}
}

// capabilities holds the calling thread's capability sets (capset is per
// thread) so that a test can drop one from the effective set and restore it.
type capabilities struct {
	hdr  unix.CapUserHeader
	data [2]unix.CapUserData
}

func (c *capabilities) drop(capability uint) error {
	c.hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	if err := unix.Capget(&c.hdr, &c.data[0]); err != nil {
		return err
	}
	less := c.data
	less[capability/32].Effective &^= 1 << (capability % 32)
	return unix.Capset(&c.hdr, &less[0])
}

func (c *capabilities) restore() error { return unix.Capset(&c.hdr, &c.data[0]) }
