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

// siteCF6 is the lvs.cf of an IPv6 site test: a lone primary (so lvsd is
// active at once), network and the global lines, then one TCP virtual
// server name on vip:port (rr, quick checks; vip_nmask 64 for an IPv6 VIP)
// with the extra lines and the real servers rs.
func siteCF6(network, globals, name, vip string, port int, extra string, rs ...realServer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "serial_no = 1\nprimary = 192.168.26.9\nservice = lvs\nbackup_active = 0\nnetwork = %s\n%s", network, globals)
	fmt.Fprintf(&b, "virtual %s {\n\tactive = 1\n\taddress = %s eth0:1\n", name, vip)
	if strings.Contains(vip, ":") {
		b.WriteString("\tvip_nmask = 64\n")
	}
	fmt.Fprintf(&b, "\tport = %d\n\tprotocol = tcp\n%s\tscheduler = rr\n\ttimeout = 6\n\treentry = 15\n", port, extra)
	for _, r := range rs {
		fmt.Fprintf(&b, "\tserver %s {\n\t\taddress = %s\n\t\tactive = 1\n\t\tweight = %d\n\t}\n", r.name, r.addr, r.weight)
	}
	b.WriteString("}\n")
	return b.String()
}

// natRouter6 is the global lines of the IPv6 NAT sites.
const natRouter6 = "nat_router6 = fd00:11:12::10 eth1:1\nnat_nmask6 = 64\n"

// lvsCF6 is the IPv6 NAT site's lvs.cf.
var lvsCF6 = siteCF6("nat", natRouter6, "web6", vip6, 80, "", realServers6...)

// site6 is the start every IPv6 site test shares: the real lvsd built,
// the simulator's site lock held until the namespaces are gone, a lab,
// and the names of the switch, client and router namespaces (tag makes
// them "sw"+tag, "c"+tag and "r"+tag).
type site6 struct {
	*natSite
	t     *testing.T
	bin   string
	sw, c string
}

// newSite6 skips t in -short mode and without root or cmds (with ip, nft
// and ping), takes the site lock, builds lvsd and makes the lab.
func newSite6(t *testing.T, tag string, cmds ...string) *site6 {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs an IPv6 site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, append([]string{"ip", "nft", "ping"}, cmds...)...)
	unlock, err := netlab.Lock(lockSites)
	if err != nil {
		t.Fatalf("taking the site lock: %v", err)
	}
	t.Cleanup(unlock) // after the lab's cleanup, registered later, removed the namespaces
	bin := buildLVSD(t)
	lab := newLab(t)
	s := &site6{natSite: &natSite{lab: lab, dir: t.TempDir(), parent: t}, t: t, bin: bin}
	s.sw, s.c, s.router = lab.NS("sw"+tag), lab.NS("c"+tag), lab.NS("r"+tag)
	return s
}

// ip runs `ip -n ns args...`, failing the test on an error.
func (s *site6) ip(ns string, args ...string) {
	s.lab.Must("ip", append([]string{"-n", ns}, args...)...)
}

// addr adds address a (with its prefix length) to dev in ns, without
// duplicate address detection for an IPv6 one.
func (s *site6) addr(ns, a, dev string) {
	args := []string{"addr", "add", a, "dev", dev}
	if strings.Contains(a, ":") {
		args = append(args, "nodad")
	}
	s.ip(ns, args...)
}

// routerAddrs gives the router its own 2001:db8:26::9 and the heartbeat
// address 192.168.26.9 (primary) on eth0, and the extra addresses given
// as address/len dev pairs, and turns IPv6 forwarding on: lvsd must keep
// the kernel out whatever it says.
func (s *site6) routerAddrs(extra ...string) {
	s.addr(s.router, "2001:db8:26::9/64", "eth0")
	s.addr(s.router, "192.168.26.9/24", "eth0")
	for i := 0; i+1 < len(extra); i += 2 {
		s.addr(s.router, extra[i], extra[i+1])
	}
	s.lab.MustIn(s.router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
}

// natSegments wires the IPv6 NAT topology: the client (client6) on the
// router's eth0, and the router's eth1 (fd00:11:12::9) and each real
// server namespace reals[i] (address addrs[i]/64, default route through
// nat_router6 fd00:11:12::10) on a bridge in sw.
func (s *site6) natSegments(reals, addrs []string) {
	s.lab.Veth(s.c, "eth0", s.router, "eth0")
	s.lab.Veth(s.sw, "priv-r", s.router, "eth1")
	s.addr(s.c, client6+"/64", "eth0")
	s.routerAddrs("fd00:11:12::9/64", "eth1")
	priv := []string{"priv-r"}
	for i, ns := range reals {
		port := fmt.Sprintf("priv-%d", i+1)
		s.lab.Veth(s.sw, port, ns, "eth0")
		priv = append(priv, port)
		s.addr(ns, addrs[i]+"/64", "eth0")
		s.ip(ns, "-6", "route", "add", "default", "via", "fd00:11:12::10")
	}
	s.lab.Bridge(s.sw, "priv", priv...)
}

// start writes conf as the site's lvs.cf, has lvsd -t accept it (what
// names the site in the failure), starts lvsd and waits until it runs.
func (s *site6) start(conf, what string) {
	t := s.t
	t.Helper()
	if err := os.WriteFile(s.confPath(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(s.bin, "-t", "-f", s.confPath()).CombinedOutput(); err != nil {
		t.Fatalf("lvsd -t rejects %s: %v\n%s", what, err, out)
	}
	s.startLVSD(t, s.bin)
	s.waitFor(t, "lvsd running", 10*time.Second, func() bool { return strings.Contains(s.lvsd.log.String(), "lvsd running") })
}

// waitPing6 waits until the client's ping -6 of the VIP is answered.
func (s *site6) waitPing6() {
	s.t.Helper()
	s.waitFor(s.t, "the VIP to answer ping -6", 15*time.Second, func() bool {
		_, err := s.lab.In(s.c, "ping", "-6", "-c1", "-W1", vip6)
		return err == nil
	})
}

// TestIntegrationNAT66 runs the real lvsd on an IPv6 NAT site: a real IPv6
// client reaches both real servers through the VIP (NAT66 both ways,
// round robin), downloads a checksummed body, pings the VIP, and its
// neighbour cache holds the VIP at the router's MAC (lvsd answered its
// neighbour solicitation).
func TestIntegrationNAT66(t *testing.T) {
	began := time.Now()
	step := func(what string) { t.Logf("%s after %v", what, time.Since(began).Round(time.Millisecond)) }
	s := newSite6(t, "6")
	step("lvsd built")
	lab, c := s.lab, s.c
	big := make([]byte, bigSize6)
	rng := rand.NewChaCha8([32]byte{6})
	_, _ = rng.Read(big)
	sum := sha256.Sum256(big)
	var reals, addrs []string
	for _, rs := range realServers6 {
		reals, addrs = append(reals, lab.NS(rs.name+"-6")), append(addrs, rs.addr)
	}
	s.natSegments(reals, addrs)
	for i, rs := range realServers6 {
		serveHTTP(t, lab, reals[i], "tcp6", rs.name, big)
	}
	s.start(lvsCF6, "the IPv6 site's lvs.cf")
	s.waitPing6()

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
	s.ip(c, "-6", "neigh", "flush", "dev", "eth0")
	s.waitPing6()
	step("VIP resolved again")
	var rmac net.HardwareAddr
	var err error
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

// serveHTTP runs an HTTP server on port 80 in ns, on network ("tcp6":
// IPv6 only, "tcp": both families), answering its name, big for /big, and
// the SHA-256 of the body posted to /sum.
func serveHTTP(t *testing.T, lab *netlab.T, ns, network, name string, big []byte) {
	t.Helper()
	var l net.Listener
	var err error
	lab.Do(ns, func() { l, err = net.Listen(network, ":80") })
	if err != nil {
		t.Fatalf("listening in %s: %v", ns, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write(big)
		case "/sum":
			h := sha256.New()
			_, _ = io.Copy(h, r.Body)
			_, _ = fmt.Fprintf(w, "%x", h.Sum(nil))
		default:
			_, _ = io.WriteString(w, name)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
}
