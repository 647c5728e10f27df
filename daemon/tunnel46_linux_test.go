package daemon_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/internal/netlab"
)

// lvsCF46 is an IPv6 service tunnelled to an IPv4 real server, the mix of
// families IPVS allows (IPv6 in IPv4).
var lvsCF46 = siteCF6("tunnel", "", "web6", vip6, 80, "", realServer{"web4", "10.11.12.1", 1})

// lvsCF64 is an IPv4 service tunnelled to an IPv6 real server, the other
// mix of families IPVS allows (IPv4 in IPv6, Linux 3.18 and later).
var lvsCF64 = siteCF6("tunnel", "", "web", vip, 80, "", realServer{"web6", "2001:db8:26::50", 1})

// tunnelSegment wires the one-segment tunnel site (lvsd reaches tunnelled
// real servers through the VIP's interface): the router's, the client's
// and the real server rs's eth0 on one bridge in sw, the router with its
// own 2001:db8:26::9, 192.168.26.9 and 10.11.12.9, the real server with
// 10.11.12.1 and 2001:db8:26::50.
func (s *site6) tunnelSegment(rs string) {
	s.lab.Veth(s.sw, "pub-r", s.router, "eth0")
	s.lab.Veth(s.sw, "pub-c", s.c, "eth0")
	s.lab.Veth(s.sw, "pub-rs", rs, "eth0")
	s.lab.Bridge(s.sw, "pub", "pub-r", "pub-c", "pub-rs")
	s.routerAddrs("10.11.12.9/24", "eth0")
	s.addr(rs, "10.11.12.1/24", "eth0")
	s.addr(rs, "2001:db8:26::50/64", "eth0")
}

// TestIntegrationTunnel6in4 runs the real lvsd with an IPv6 VIP whose real
// server is IPv4: a real IPv6 client's connections reach it inside IPv4
// (protocol 41), its sit device decapsulates them, and it answers the
// client directly over IPv6 on the public segment; lvsd health-checks it
// over IPv4. An upload's TCP super-frames are segmented by lvsd before
// they are tunnelled and arrive intact.
//
// The site is tunnelSegment's: client c at 2001:db8:26::100, the real
// server rs holding the VIP 2001:db8:26::10 on its tunnel device.
func TestIntegrationTunnel6in4(t *testing.T) {
	s := newSite6(t, "46")
	lab, c, rs := s.lab, s.c, s.lab.NS("rs46")
	s.tunnelSegment(rs)
	s.addr(c, "2001:db8:26::100/64", "eth0")
	// The real server's end of the tunnel holds the VIP: a sit device
	// (ip link add t46 type sit local 10.11.12.1) where the kernel has
	// one, else a TUN device fed by a decapsulator in this test, which
	// does the sit driver's work: the payload of every protocol-41 packet
	// to the real server goes to the kernel as received on t46.
	if _, err := lab.In(rs, "ip", "link", "add", "t46", "type", "sit", "local", "10.11.12.1"); err != nil {
		t.Logf("no sit device (%v): a TUN device and the test's decapsulator stand in", err)
		decapTUN(t, lab, rs, "t46", "ip4:41")
	}
	s.ip(rs, "link", "set", "t46", "up")
	s.addr(rs, vip6+"/128", "t46")
	serveHTTP(t, lab, rs, "tcp", "web4", nil)
	s.start(lvsCF46, "an IPv4 real server behind an IPv6 VIP with network = tunnel")
	s.waitPing6()
	// The health check over IPv4 puts the real server in; then every GET
	// goes through the tunnel.
	s.waitFor(t, "the IPv4 real server up behind the IPv6 VIP", 20*time.Second, func() bool {
		body, err := get6(lab, c, "/", io.Discard)
		return err == nil && body == "web4"
	})
	for i := range 5 {
		body, err := get6(lab, c, "/", io.Discard)
		if err != nil || body != "web4" {
			t.Fatalf("GET %d http://[%s]/ = %q, %v", i, vip6, body, err)
		}
	}
	upload(t, s, "-6", "http://["+vip6+"]/sum")
	tunnelReceived(t, lab, rs, "t46")
}

// TestIntegrationTunnel4in6 runs the real lvsd with an IPv4 VIP whose real
// server is IPv6: a real IPv4 client's (curl -4) connections reach it
// inside IPv6 (next header 4), its tunnel device decapsulates them, and
// it answers the client directly over IPv4 on the public segment; lvsd
// health-checks it over IPv6 and lvsadm lists it bracketed. An upload's
// TCP super-frames are segmented by lvsd before they are tunnelled and
// arrive intact.
//
// The site is tunnelSegment's: client c at 192.168.26.100, the real
// server rs (2001:db8:26::50, and 192.168.26.50 to answer the client)
// holding the VIP 192.168.26.10 on its tunnel device, with arp_ignore and
// arp_announce set as for direct routing so that it does not answer ARP
// for the VIP.
func TestIntegrationTunnel4in6(t *testing.T) {
	s := newSite6(t, "64", "curl")
	lab, c, rs := s.lab, s.c, s.lab.NS("rs64")
	s.tunnelSegment(rs)
	s.addr(c, "192.168.26.100/24", "eth0")
	for _, kv := range []string{"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"} {
		lab.MustIn(rs, "sysctl", "-qw", kv)
	}
	s.addr(rs, "192.168.26.50/24", "eth0")
	// The real server's end of the tunnel holds the VIP: an ip6tnl device
	// (ip -6 tunnel add t64 mode ipip6 local 2001:db8:26::50) where the
	// kernel has one, else a TUN device fed by a decapsulator in this
	// test, which does the ip6tnl driver's work: the payload of every
	// IPv6 packet of next header 4 to the real server goes to the kernel
	// as received on t64.
	if _, err := lab.In(rs, "ip", "-6", "tunnel", "add", "t64", "mode", "ipip6", "local", "2001:db8:26::50"); err != nil {
		t.Logf("no ip6tnl device (%v): a TUN device and the test's decapsulator stand in", err)
		decapTUN(t, lab, rs, "t64", "ip6:4")
	}
	lab.MustIn(rs, "sysctl", "-qw", "net.ipv4.conf.t64.rp_filter=0")
	s.ip(rs, "link", "set", "t64", "up")
	s.addr(rs, vip+"/32", "t64")
	serveHTTP(t, lab, rs, "tcp", "web6", nil)
	s.start(lvsCF64, "an IPv6 real server behind an IPv4 VIP with network = tunnel")
	s.waitFor(t, "the VIP to answer ping", 15*time.Second, func() bool {
		_, err := lab.In(c, "ping", "-4", "-c1", "-W1", vip)
		return err == nil
	})
	url := "http://" + vip + "/"
	get := func() (string, error) {
		out, err := lab.In(c, "curl", "-4", "-sS", "--max-time", "5", url)
		return strings.TrimSpace(out), err
	}
	// The health check over IPv6 puts the real server in; then every GET
	// goes through the tunnel.
	s.waitFor(t, "the IPv6 real server up behind the IPv4 VIP", 20*time.Second, func() bool {
		body, err := get()
		return err == nil && body == "web6"
	})
	for i := range 5 {
		if body, err := get(); err != nil || body != "web6" {
			t.Fatalf("GET %d %s = %q, %v", i, url, body, err)
		}
	}
	upload(t, s, "-4", "http://"+vip+"/sum")
	tunnelReceived(t, lab, rs, "t64")
	lvsadm := buildCmd(t, "lvsadm")
	list, err := exec.Command(lvsadm, "-L", "-n", "--socket", filepath.Join(s.dir, "lvsd.sock")).CombinedOutput()
	if err != nil || !strings.Contains(string(list), "-> [2001:db8:26::50]:80") || !strings.Contains(string(list), "Tunnel") {
		t.Errorf("lvsadm -L -n = %v\n%s\nwant the real server listed as [2001:db8:26::50]:80, Tunnel", err, list)
	}
	// The connections just made: IPv4 client and virtual, IPv6 destination.
	conns, err := exec.Command(lvsadm, "-L", "-n", "-c", "--socket", filepath.Join(s.dir, "lvsd.sock")).CombinedOutput()
	if err != nil || !strings.Contains(string(conns), "192.168.26.100:") || !strings.Contains(string(conns), "192.168.26.10:80") ||
		!strings.Contains(string(conns), "[2001:db8:26::50]:80") {
		t.Errorf("lvsadm -L -n -c = %v\n%s\nwant the client's connections to 192.168.26.10:80 with destination [2001:db8:26::50]:80", err, conns)
	}
}

// upload POSTs 4 MiB of seeded bytes with curl (family flag fam) from the
// client to url, which answers their SHA-256: the client's TCP stack
// sends super-frames, which lvsd must segment before it tunnels them.
func upload(t *testing.T, s *site6, fam, url string) {
	t.Helper()
	data := make([]byte, 4<<20)
	_, _ = rand.NewChaCha8([32]byte{4, 6}).Read(data)
	path := filepath.Join(s.dir, "upload.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := s.lab.In(s.c, "curl", fam, "-g", "-sS", "--max-time", "60", "--data-binary", "@"+path, url)
	if want := fmt.Sprintf("%x", sha256.Sum256(data)); err != nil || strings.TrimSpace(out) != want {
		t.Errorf("upload of %d bytes through the tunnel: %v, the server saw %q, want %s", len(data), err, out, want)
	}
}

// tunnelReceived checks that the real server's tunnel device dev in ns
// received packets: the GETs came through the tunnel.
func tunnelReceived(t *testing.T, lab *netlab.T, ns, dev string) {
	t.Helper()
	st, err := lab.Get(ns).Stats(dev)
	if err != nil {
		t.Fatal(err)
	}
	if st.RxPackets == 0 {
		t.Errorf("the real server's tunnel device %s received no packet: %+v", dev, st)
	}
	t.Logf("tunnel device %s: %d packets received", dev, st.RxPackets)
}

// decapTUN creates the TUN device dev in ns and, until the test ends,
// writes to it the inner datagram of every tunnel packet the namespace
// receives on the raw socket network: "ip4:41" for IPv6 in IPv4, "ip6:4"
// for IPv4 in IPv6 (a raw socket's reads return the payload, the inner
// datagram, for both families).
func decapTUN(t *testing.T, lab *netlab.T, ns, dev, network string) {
	t.Helper()
	var fd int
	var c *net.IPConn
	var err error
	lab.Do(ns, func() {
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return
		}
		var ifr *unix.Ifreq
		if ifr, err = unix.NewIfreq(dev); err != nil {
			return
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			return
		}
		c, err = net.ListenIP(network, nil)
	})
	if err != nil {
		t.Fatalf("the %s decapsulator in %s: %v", network, ns, err)
	}
	tun := os.NewFile(uintptr(fd), "/dev/net/tun")
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = tun.Write(buf[:n])
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
		tun.Close()
	})
}
