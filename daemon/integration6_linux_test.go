package daemon_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"lvs/internal/netlab"
	"lvs/internal/testutil"
)

// The IPv6 NAT site: client c on the public segment 2001:db8:26::/64, the
// router r (lvsd; its own 2001:db8:26::9 and fd00:11:12::9), the VIP
// 2001:db8:26::10 and nat_router6 fd00:11:12::10, two real servers
// fd00:11:12::1 and ::2 on a bridge behind it with nat_router6 as their
// default gateway.
const (
	vip6      = "2001:db8:26::10"
	client6   = "2001:db8:26::100"
	bigSize6  = 4 << 20
	lockSites = "/run/lvssim/lock" // the simulator's site lock (sim.LockSites; daemon may not import sim)
)

var realServers6 = []realServer{{"web1", "fd00:11:12::1", 1}, {"web2", "fd00:11:12::2", 1}}

const lvsCF6 = `serial_no = 1
primary = 192.168.26.9
service = lvs
backup_active = 0
network = nat
nat_router6 = fd00:11:12::10 eth1:1
nat_nmask6 = 64
virtual web6 {
	active = 1
	address = 2001:db8:26::10 eth0:1
	vip_nmask = 64
	port = 80
	protocol = tcp
	scheduler = rr
	timeout = 6
	reentry = 15
	server web1 {
		address = fd00:11:12::1
		active = 1
		weight = 1
	}
	server web2 {
		address = fd00:11:12::2
		active = 1
		weight = 1
	}
}
`

// TestIntegrationNAT66 runs the real lvsd on an IPv6 NAT site: a real IPv6
// client reaches both real servers through the VIP (NAT66 both ways,
// round robin), downloads a checksummed body, pings the VIP, and its
// neighbour cache holds the VIP at the router's MAC (lvsd answered its
// neighbour solicitation).
func TestIntegrationNAT66(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs an IPv6 NAT site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "ping")
	unlock, err := netlab.Lock(lockSites)
	if err != nil {
		t.Fatalf("taking the site lock: %v", err)
	}
	defer unlock()
	began := time.Now()
	step := func(what string) { t.Logf("%s after %v", what, time.Since(began).Round(time.Millisecond)) }
	bin := buildLVSD(t)
	step("lvsd built")
	lab := newLab(t)
	s := &natSite{lab: lab, dir: t.TempDir(), parent: t}
	sw, c := lab.NS("sw6"), lab.NS("c6")
	s.router = lab.NS("r6")
	lab.Veth(c, "eth0", s.router, "eth0")
	lab.Veth(sw, "priv-r", s.router, "eth1")
	ip := func(ns string, args ...string) { lab.Must("ip", append([]string{"-n", ns}, args...)...) }
	addr := func(ns, a, dev string) { ip(ns, "addr", "add", a, "dev", dev, "nodad") }
	addr(c, client6+"/64", "eth0")
	addr(s.router, "2001:db8:26::9/64", "eth0")
	addr(s.router, "fd00:11:12::9/64", "eth1")
	ip(s.router, "addr", "add", "192.168.26.9/24", "dev", "eth0") // the heartbeat address (primary)
	// lvsd must keep the kernel out whatever it says.
	lab.MustIn(s.router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	priv := []string{"priv-r"}
	big := make([]byte, bigSize6)
	rng := rand.NewChaCha8([32]byte{6})
	_, _ = rng.Read(big)
	sum := sha256.Sum256(big)
	for i, rs := range realServers6 {
		ns := lab.NS(rs.name + "-6")
		port := fmt.Sprintf("priv-%d", i+1)
		lab.Veth(sw, port, ns, "eth0")
		priv = append(priv, port)
		addr(ns, rs.addr+"/64", "eth0")
		ip(ns, "-6", "route", "add", "default", "via", "fd00:11:12::10")
		serveHTTP6(t, lab, ns, rs.name, big)
	}
	lab.Bridge(sw, "priv", priv...)
	if err := os.WriteFile(s.confPath(), []byte(lvsCF6), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-f", s.confPath()).CombinedOutput(); err != nil {
		t.Fatalf("lvsd -t rejects the IPv6 site's lvs.cf: %v\n%s", err, out)
	}
	s.startLVSD(t, bin)
	s.waitFor(t, "lvsd running", 10*time.Second, func() bool { return strings.Contains(s.lvsd.log.String(), "lvsd running") })
	s.waitFor(t, "the VIP to answer ping -6", 15*time.Second, func() bool {
		_, err := lab.In(c, "ping", "-6", "-c1", "-W1", vip6)
		return err == nil
	})

	step("VIP answers ping")
	// Round robin over both real servers, through NAT66 both ways.
	got := map[string]int{}
	s.waitFor(t, "both real servers up", 15*time.Second, func() bool {
		body, err := get6(lab, c, "/", io.Discard)
		return err == nil && body != "" && checkedUp(t, lab, c)
	})
	for range 10 {
		body, err := get6(lab, c, "/", io.Discard)
		if err != nil {
			t.Fatalf("GET http://[%s]/: %v", vip6, err)
		}
		got[body]++
	}
	if got["web1"] != 5 || got["web2"] != 5 {
		t.Errorf("10 GETs through the VIP answered %v, want web1 5, web2 5 (rr)", got)
	}

	step("10 GETs done")
	h := sha256.New()
	if _, err := get6(lab, c, "/big", h); err != nil {
		t.Fatalf("download over IPv6: %v", err)
	}
	if [32]byte(h.Sum(nil)) != sum {
		t.Errorf("the %d-byte download over IPv6 arrived corrupted", bigSize6)
	}

	step("download done")
	// Once lvsd's unsolicited advertisements are over, a client that
	// forgot the VIP's MAC learns it again only from lvsd's answer to its
	// neighbour solicitation.
	s.waitFor(t, "the announcements to finish", 30*time.Second, func() bool {
		return strings.Contains(s.lvsd.log.String(), "gratuitous lvs arps finished")
	})
	ip(c, "-6", "neigh", "flush", "dev", "eth0")
	s.waitFor(t, "the VIP to answer ping -6 after a neighbour flush", 10*time.Second, func() bool {
		_, err := lab.In(c, "ping", "-6", "-c1", "-W1", vip6)
		return err == nil
	})
	step("VIP resolved again")
	var rmac net.HardwareAddr
	lab.Do(s.router, func() {
		ifi, e := net.InterfaceByName("eth0")
		if e == nil {
			rmac = ifi.HardwareAddr
		}
		err = e
	})
	if err != nil {
		t.Fatal(err)
	}
	neigh := lab.MustIn(c, "ip", "-6", "neigh", "show", vip6)
	if !strings.Contains(neigh, "lladdr "+rmac.String()) {
		t.Errorf("client's neighbour cache for the VIP = %q, want lladdr %s (the router's eth0)", neigh, rmac)
	}
}

// checkedUp reports whether both real servers answer through the VIP: a
// GET from each is seen within a few tries (health checks put them in).
func checkedUp(t *testing.T, lab *netlab.T, ns string) bool {
	seen := map[string]bool{}
	for range 4 {
		body, err := get6(lab, ns, "/", io.Discard)
		if err != nil {
			return false
		}
		seen[body] = true
	}
	return seen["web1"] && seen["web2"]
}

// get6 does one HTTP/1.0 GET of path from ns to the VIP over IPv6 and
// returns a body of up to 64 bytes; the whole body also goes to sink.
func get6(lab *netlab.T, ns, path string, sink io.Writer) (string, error) {
	var c net.Conn
	var err error
	lab.Do(ns, func() { c, err = net.DialTimeout("tcp6", net.JoinHostPort(vip6, "80"), 5*time.Second) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: [%s]\r\n\r\n", path, vip6); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	head, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok || !strings.HasPrefix(head, "HTTP/1.0 200") && !strings.HasPrefix(head, "HTTP/1.1 200") {
		return "", fmt.Errorf("bad response %.80q", string(b))
	}
	if _, err := io.WriteString(sink, body); err != nil {
		return "", err
	}
	return body[:min(len(body), 64)], nil
}

// serveHTTP6 runs an HTTP server on [::]:80 in ns answering its name, and
// big for /big.
func serveHTTP6(t *testing.T, lab *netlab.T, ns, name string, big []byte) {
	t.Helper()
	var l net.Listener
	var err error
	lab.Do(ns, func() { l, err = net.Listen("tcp6", "[::]:80") })
	if err != nil {
		t.Fatalf("listening in %s: %v", ns, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write(big)
			return
		}
		_, _ = io.WriteString(w, name)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
}
