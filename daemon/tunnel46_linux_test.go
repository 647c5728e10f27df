package daemon_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/internal/netlab"
	"lvs/internal/testutil"
)

// lvsCF46 is an IPv6 service tunnelled to an IPv4 real server, the mix of
// families IPVS allows (IPv6 in IPv4).
const lvsCF46 = `serial_no = 1
primary = 192.168.26.9
service = lvs
backup_active = 0
network = tunnel
virtual web6 {
	active = 1
	address = 2001:db8:26::10 eth0:1
	vip_nmask = 64
	port = 80
	protocol = tcp
	scheduler = rr
	timeout = 6
	reentry = 15
	server web4 {
		address = 10.11.12.1
		active = 1
		weight = 1
	}
}
`

// TestIntegrationTunnel6in4 runs the real lvsd with an IPv6 VIP whose real
// server is IPv4: a real IPv6 client's connections reach it inside IPv4
// (protocol 41), its sit device decapsulates them, and it answers the
// client directly over IPv6 on the public segment; lvsd health-checks it
// over IPv4.
//
// The site, one segment (lvsd reaches tunnelled real servers through the
// VIP's interface): client c at 2001:db8:26::100, the router r (lvsd, VIP
// 2001:db8:26::10, its own 2001:db8:26::9 and 10.11.12.9), the real
// server rs at 10.11.12.1 and 2001:db8:26::50, holding the VIP on its
// tunnel device.
func TestIntegrationTunnel6in4(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs a site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "ping")
	unlock, err := netlab.Lock(lockSites)
	if err != nil {
		t.Fatalf("taking the site lock: %v", err)
	}
	defer unlock()
	bin := buildLVSD(t)
	lab := newLab(t)
	s := &natSite{lab: lab, dir: t.TempDir(), parent: t}
	sw, c, rs := lab.NS("sw46"), lab.NS("c46"), lab.NS("rs46")
	s.router = lab.NS("r46")
	lab.Veth(sw, "pub-r", s.router, "eth0")
	lab.Veth(sw, "pub-c", c, "eth0")
	lab.Veth(sw, "pub-rs", rs, "eth0")
	lab.Bridge(sw, "pub", "pub-r", "pub-c", "pub-rs")
	ip := func(ns string, args ...string) { lab.Must("ip", append([]string{"-n", ns}, args...)...) }
	ip(c, "addr", "add", "2001:db8:26::100/64", "dev", "eth0", "nodad")
	ip(s.router, "addr", "add", "2001:db8:26::9/64", "dev", "eth0", "nodad")
	ip(s.router, "addr", "add", "192.168.26.9/24", "dev", "eth0")
	ip(s.router, "addr", "add", "10.11.12.9/24", "dev", "eth0")
	lab.MustIn(s.router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1") // lvsd must keep the kernel out
	ip(rs, "addr", "add", "10.11.12.1/24", "dev", "eth0")
	ip(rs, "addr", "add", "2001:db8:26::50/64", "dev", "eth0", "nodad")
	// The real server's end of the tunnel holds the VIP: a sit device
	// (ip link add t46 type sit local 10.11.12.1) where the kernel has
	// one, else a TUN device fed by a decapsulator in this test, which
	// does the sit driver's work: the payload of every protocol-41 packet
	// to the real server goes to the kernel as received on t46.
	if _, err := lab.In(rs, "ip", "link", "add", "t46", "type", "sit", "local", "10.11.12.1"); err != nil {
		t.Logf("no sit device (%v): a TUN device and the test's decapsulator stand in", err)
		decap6in4(t, lab, rs, "t46")
	}
	ip(rs, "link", "set", "t46", "up")
	ip(rs, "addr", "add", vip6+"/128", "dev", "t46", "nodad")
	serveDual(t, lab, rs, "web4")
	if err := os.WriteFile(s.confPath(), []byte(lvsCF46), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-f", s.confPath()).CombinedOutput(); err != nil {
		t.Fatalf("lvsd -t rejects an IPv4 real server behind an IPv6 VIP with network = tunnel: %v\n%s", err, out)
	}
	s.startLVSD(t, bin)
	s.waitFor(t, "lvsd running", 10*time.Second, func() bool { return strings.Contains(s.lvsd.log.String(), "lvsd running") })
	s.waitFor(t, "the VIP to answer ping -6", 15*time.Second, func() bool {
		_, err := lab.In(c, "ping", "-6", "-c1", "-W1", vip6)
		return err == nil
	})
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
	st, err := lab.Get(rs).Stats("t46")
	if err != nil {
		t.Fatal(err)
	}
	if st.RxPackets == 0 {
		t.Errorf("the real server's sit device received no packet: %+v", st)
	}
	t.Logf("sit device t46: %d packets received", st.RxPackets)
}

// serveDual runs an HTTP server on port 80 of every address of ns, IPv4
// (the health check) and IPv6 (the clients), answering its name.
func serveDual(t *testing.T, lab *netlab.T, ns, name string) {
	t.Helper()
	var l net.Listener
	var err error
	lab.Do(ns, func() { l, err = net.Listen("tcp", ":80") })
	if err != nil {
		t.Fatalf("listening in %s: %v", ns, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
}

// decap6in4 creates the TUN device dev in ns and, until the test ends,
// writes to it the inner IPv6 datagram of every IPv6-in-IPv4 packet
// (protocol 41) the namespace receives.
func decap6in4(t *testing.T, lab *netlab.T, ns, dev string) {
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
		c, err = net.ListenIP("ip4:41", nil) // reads return the payload: the inner datagram
	})
	if err != nil {
		t.Fatalf("the 6in4 decapsulator in %s: %v", ns, err)
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
