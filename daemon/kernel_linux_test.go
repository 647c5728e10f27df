package daemon

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/internal/netnstest"
	"lvs/internal/testutil"
)

// guardLab is the guide's NAT layout in miniature: client c (192.168.26.100)
// — router r (public 192.168.26.9, private 10.11.12.9, forwarding on) — real
// server s (10.11.12.1, default gateway the router).
func guardLab(t *testing.T) (lab *netnstest.Lab, c, r, s string) {
	lab = netnstest.New(t)
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

func installIn(t *testing.T, lab *netnstest.Lab, ns string, spec GuardSpec) *KernelGuard {
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
func udpArrives(t *testing.T, lab *netnstest.Lab, from, to string, src, dst netip.AddrPort) bool {
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

	var fd int
	var err error
	lab.Do(r, func() { fd, err = packetSocket("eth0") })
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	if err := dialIn(lab, c, vip); errors.Is(err, syscall.ECONNREFUSED) || err == nil {
		t.Errorf("with the guard, dial %v = %v, want a timeout (no RST from the kernel)", vip, err)
	}
	if !sawSYN(fd, vip) {
		t.Error("packet socket on the router did not see the SYN to the VIP")
	}
}

func dialIn(lab *netnstest.Lab, ns string, to netip.AddrPort) error {
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

func packetSocket(ifname string) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	// ETH_P_ALL taps run before the netdev ingress hook; a socket bound to
	// ETH_P_IP only would be served after it and would miss dropped frames.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// sawSYN drains the socket (bounded) looking for a TCP SYN to dst.
func sawSYN(fd int, dst netip.AddrPort) bool {
	buf := make([]byte, 2048)
	want := dst.Addr().As4()
	for i := 0; i < 1000; i++ {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return false
		}
		f := buf[:n]
		if len(f) < 14+20+20 || f[12] != 0x08 || f[13] != 0x00 || f[14+9] != unix.IPPROTO_TCP || [4]byte(f[14+16:14+20]) != want {
			continue
		}
		l4 := 14 + int(f[14]&0x0f)*4
		if uint16(f[l4+2])<<8|uint16(f[l4+3]) == dst.Port() && f[l4+13]&0x02 != 0 {
			return true
		}
	}
	return false
}
