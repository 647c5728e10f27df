package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvs/internal/testutil"
	"lvs/sched"
)

// TestIntegrationNAT runs the real lvsd on the router of the guide's NAT
// site (figure 1.1, section 3.1) in network namespaces and checks, with real
// clients and servers, what issue 6 asks of the dataplane. The subtests share
// one site and one lvsd and run in order; the last one stops lvsd.
func TestIntegrationNAT(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs a NAT site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "ping")
	began := time.Now()
	bin := buildLVSD(t)
	s := newNATSite(t)
	s.writeConf(t, siteConf{sched: "wrr"})
	if out, err := exec.Command(bin, "-t", "-f", s.confPath()).CombinedOutput(); err != nil {
		t.Fatalf("lvsd -t rejects the site's lvs.cf: %v\n%s\n%s", err, out, s.conf.text())
	}
	s.parent = t
	s.startLVSD(t, bin)
	s.waitReady(t)
	t.Logf("site up and lvsd ready after %v", time.Since(began).Round(time.Millisecond))

	t.Run("ping", s.testPing)
	t.Run("wrr-1:2:3", s.testWRR)
	t.Run("lvsadm-list", s.testLvsadmList)
	t.Run("reload-under-load", s.testReloadUnderLoad)
	t.Run("schedulers", s.testSchedulers)
	t.Run("persistence", s.testPersistence)
	t.Run("tcp-echo", s.testTCPEcho)
	t.Run("udp-echo", s.testUDPEcho)
	t.Run("unserved-port", s.testUnservedPort)
	t.Run("no-kernel-rst-or-duplicate", s.testNoKernelInterference)
	t.Run("download-50MB", s.testDownload)
	t.Run("sigterm", s.testSIGTERM)
	t.Logf("whole test: %v", time.Since(began).Round(time.Millisecond))
}

// TestIntegrationNATTCHook runs the NAT site's forwarding subtests with
// the fast path on the legacy tc hook (--dataplane tc, what a kernel
// before 6.6 gets): rr and wrr new flows scheduled by the program, echo
// over TCP and UDP, the 50 MB download through the kernel, and no filter
// or qdisc left after SIGTERM.
func TestIntegrationNATTCHook(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs a NAT site in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "tc")
	bin := buildLVSD(t)
	s := newNATSite(t)
	s.writeConf(t, siteConf{sched: "wrr"})
	s.parent, s.args, s.mode = t, []string{"--dataplane", "tc"}, "tc+afpacket"
	s.startLVSD(t, bin)
	s.waitReady(t)
	if out, err := s.lab.In(s.router, "tc", "filter", "show", "dev", "eth0", "ingress"); err != nil ||
		!strings.Contains(out, "lvs_fastpath") || !strings.Contains(out, "direct-action") {
		t.Fatalf("tc filter show dev eth0 ingress = %v, want lvsd's direct-action filter:\n%s", err, out)
	}
	t.Run("wrr-1:2:3", s.testWRR)
	t.Run("tcp-echo", s.testTCPEcho)
	t.Run("udp-echo", s.testUDPEcho)
	t.Run("download-50MB", s.testDownload)
	t.Run("sigterm", s.testSIGTERM)
}

// testPing: lvsd answers ICMP echo for the VIP (from both clients) and for
// the nat_router address (from a real server).
func (s *natSite) testPing(t *testing.T) {
	tests := []struct {
		name, from, to string
	}{
		{"far client to VIP", s.far, vip},
		{"LAN client to VIP", s.lan, vip},
		{"real server to nat_router", s.reals[0], natRouter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.lab.In(tt.from, "ping", "-n", "-c3", "-i0.2", "-W2", "-w5", tt.to)
			if err != nil || !strings.Contains(out, "3 received") || !strings.Contains(out, "bytes from "+tt.to+":") {
				t.Errorf("ping -c3 %s = %v, want 3 echo replies from %s:\n%s", tt.to, err, tt.to, out)
			}
		})
	}
}

// testWRR: wrr with weights 1:2:3 sends exactly 100/200/300 of 600
// sequential HTTP/1.0 requests (one connection each) to web1/web2/web3.
func (s *natSite) testWRR(t *testing.T) {
	s.reload(t, siteConf{sched: "wrr"})
	replies := s.httpGets(t, s.far, 600)
	if len(replies) != 600 {
		t.Fatalf("got %d replies to 600 requests", len(replies))
	}
	got := countServers(t, replies)
	want := map[string]int{"web1": 100, "web2": 200, "web3": 300}
	if !mapsEqual(got, want) {
		t.Errorf("600 requests through wrr 1:2:3 reached %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// exactShares are the schedulers whose split of 12 sequential connections
// over weights 1:2:3 is fixed by the kernel's algorithm.
var exactShares = map[string]map[string]int{
	"rr":  {"web1": 4, "web2": 4, "web3": 4},
	"wrr": {"web1": 2, "web2": 4, "web3": 6},
	"fo":  {"web3": 12}, // the available server of highest weight
}

// testSchedulers: every scheduler of sched.Names(), loaded by SIGHUP,
// serves 12 requests; the hashing ones keep one client on one server.
func (s *natSite) testSchedulers(t *testing.T) {
	for _, name := range sched.Names() {
		t.Run(name, func(t *testing.T) {
			s.reload(t, siteConf{sched: name})
			replies := s.httpGets(t, s.far, 12)
			if len(replies) != 12 {
				t.Fatalf("got %d replies to 12 requests", len(replies))
			}
			got := countServers(t, replies)
			for srv := range got {
				if !slices.ContainsFunc(realServers, func(r realServer) bool { return r.name == srv }) {
					t.Errorf("a reply named %q, not a real server", srv)
				}
			}
			if want, ok := exactShares[name]; ok && !mapsEqual(got, want) {
				t.Errorf("12 requests with %s reached %v, want %v", name, got, want)
			}
			if (name == "sh" || name == "dh" || name == "mh") && len(got) != 1 {
				t.Errorf("12 requests from one client with %s reached %v, want one server", name, got)
			}
		})
	}
}

// testPersistence: with persistent = 300 (and rr, which would otherwise
// spread them), 20 connections from each client reach one real server.
func (s *natSite) testPersistence(t *testing.T) {
	s.reload(t, siteConf{sched: "rr", persistent: 300})
	for _, c := range []struct{ name, ns string }{{"far", s.far}, {"lan", s.lan}} {
		replies := s.httpGets(t, c.ns, 20)
		if len(replies) != 20 {
			t.Fatalf("%s client: got %d replies to 20 requests", c.name, len(replies))
		}
		if got := countServers(t, replies); len(got) != 1 {
			t.Errorf("%s client: 20 persistent connections reached %v, want one server", c.name, got)
		}
	}
}

// testTCPEcho: 100 KB echoed through the VIP's TCP echo service.
func (s *natSite) testTCPEcho(t *testing.T) {
	msg := make([]byte, 100_000)
	_, _ = rand.Read(msg)
	var c net.Conn
	var err error
	s.lab.Do(s.far, func() { c, err = net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", vip, echoPort), 5*time.Second) })
	if err != nil {
		t.Fatalf("dial the TCP echo service: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := c.Write(msg); werr <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("TCP echo through the VIP changed the %d bytes sent", len(msg))
	}
}

// testUDPEcho: a small datagram and a 4,000-byte one come back intact
// through the VIP, each at the first attempt (nothing on this quiet
// network may lose a datagram); the big one crosses the 1,500-byte MTU as
// fragments in both directions (seen on the far client's interface).
func (s *natSite) testUDPEcho(t *testing.T) {
	var c *net.UDPConn
	var err error
	s.lab.Do(s.far, func() {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(vip), echoPort)))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, size := range []int{5, 4000} {
		capt := startCapture(t, s.lab, s.far, "eth0")
		msg := make([]byte, size)
		_, _ = rand.Read(msg)
		got, err := udpExchange(c, msg)
		pkts := capt.stop()
		var out, in, fragOut, fragIn int // UDP frames to and from the VIP
		for _, p := range pkts {
			switch {
			case p.proto != syscall.IPPROTO_UDP:
			case p.out && p.dst.String() == vip:
				out++
				fragOut += b2i(p.frag)
			case !p.out && p.src.String() == vip:
				in++
				fragIn += b2i(p.frag)
			}
		}
		if err != nil {
			t.Errorf("%d-byte datagram from %s:%d: no echo from the VIP within 3 s (%v); the client sent %d frames and received %d",
				size, farClient, c.LocalAddr().(*net.UDPAddr).Port, err, out, in)
			continue
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("%d-byte datagram: echo of %d bytes differs from what was sent", size, len(got))
		}
		if size > 1500 && (fragOut < 3 || fragIn < 3) {
			t.Errorf("4,000-byte exchange: %d fragments sent to the VIP and %d received from it, want ≥3 each way", fragOut, fragIn)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// udpExchange sends msg on c and waits up to 3 s for the reply.
func udpExchange(c *net.UDPConn, msg []byte) ([]byte, error) {
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// testUnservedPort: a TCP connect to a port of the VIP without a service
// is refused by an ICMP port unreachable from the VIP, not by a RST.
func (s *natSite) testUnservedPort(t *testing.T) {
	const port = 8080
	capt := startCapture(t, s.lab, s.lan, "eth0")
	var err error
	s.lab.Do(s.lan, func() {
		var c net.Conn
		if c, err = net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", vip, port), 5*time.Second); err == nil {
			c.Close()
		}
	})
	pkts := capt.stop()
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to %s:%d = %v, want connection refused", vip, port, err)
	}
	var unreach, rst int
	for _, p := range pkts {
		switch {
		case p.out || p.src.String() != vip:
		case p.proto == syscall.IPPROTO_ICMP && p.icmpType == 3 && p.icmpCode == 3 && p.dport == port:
			unreach++
		case p.proto == syscall.IPPROTO_TCP && p.flags&tcpRST != 0:
			rst++
		}
	}
	if unreach == 0 || rst != 0 {
		t.Errorf("from the VIP: %d ICMP port unreachable quoting port %d and %d TCP RSTs, want ≥1 and 0", unreach, port, rst)
	}
}

// flow is what a capture saw of one client connection to the VIP's port 80.
type flow struct {
	synAcks   int // SYN-ACKs from the VIP
	rstEarly  int // RSTs from the VIP before the client's own FIN or RST
	clientEnd bool
}

// testNoKernelInterference: during 20 HTTP exchanges from the LAN client,
// the router's kernel neither answers (no RST from the VIP before the
// client closes) nor forwards (one SYN-ACK per connection, no segment
// leaking from a real server's address, no ICMP redirect from the router).
func (s *natSite) testNoKernelInterference(t *testing.T) {
	capt := startCapture(t, s.lab, s.lan, "eth0")
	replies := s.httpGets(t, s.lan, 20)
	pkts := capt.stop()
	if len(replies) != 20 {
		t.Errorf("got %d replies to 20 requests", len(replies))
	}
	countServers(t, replies)
	flows := map[uint16]*flow{}
	private := netip.MustParsePrefix("10.11.12.0/24")
	var leaked, redirects int
	for _, p := range pkts {
		switch {
		case p.out && p.proto == syscall.IPPROTO_TCP && p.dst.String() == vip && p.dport == 80:
			f := flows[p.sport]
			if f == nil && p.flags&(tcpSYN|tcpACK) == tcpSYN {
				f = &flow{}
				flows[p.sport] = f
			}
			if f != nil && p.flags&(tcpFIN|tcpRST) != 0 {
				f.clientEnd = true
			}
		case p.out:
		case private.Contains(p.src):
			leaked++
		case p.proto == syscall.IPPROTO_ICMP && p.icmpType == 5:
			redirects++
		case p.proto == syscall.IPPROTO_TCP && p.src.String() == vip && p.sport == 80 && flows[p.dport] != nil:
			f := flows[p.dport]
			if p.flags&(tcpSYN|tcpACK) == tcpSYN|tcpACK {
				f.synAcks++
			}
			if p.flags&tcpRST != 0 && !f.clientEnd {
				f.rstEarly++
			}
		}
	}
	if len(flows) != 20 {
		t.Errorf("capture saw %d connections to %s:80, want 20", len(flows), vip)
	}
	for port, f := range flows {
		if f.synAcks != 1 || f.rstEarly != 0 {
			t.Errorf("client port %d: %d SYN-ACKs and %d RSTs before the client's close from the VIP, want 1 and 0",
				port, f.synAcks, f.rstEarly)
		}
	}
	if leaked != 0 || redirects != 0 {
		t.Errorf("the client received %d frames from the private network and %d ICMP redirects, want 0 and 0", leaked, redirects)
	}
}

// testDownload: a 50 MB body (sent by the real servers with the veths'
// default offloads, so as GSO super-frames) reaches the far client intact.
func (s *natSite) testDownload(t *testing.T) {
	capt := startCapture(t, s.lab, s.router, "eth1")
	began := time.Now()
	h := sha256.New()
	var n int64
	if _, err := exec.LookPath("curl"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", s.far, "curl", "-sS", "--http1.0",
			"--connect-timeout", "5", "--max-time", "50", "http://"+vip+"/big")
		var stderr bytes.Buffer
		cw := &countWriter{w: h}
		cmd.Stdout, cmd.Stderr = cw, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("curl http://%s/big: %v: %s", vip, err, strings.TrimSpace(stderr.String()))
		}
		n = cw.n
	} else {
		cw := &countWriter{w: h}
		if _, _, err := s.goGet(s.far, "/big", 50*time.Second, cw); err != nil {
			t.Errorf("GET http://%s/big: %v", vip, err)
		}
		n = cw.n
	}
	took := time.Since(began)
	var super int
	for _, p := range capt.stop() {
		if !p.out && p.size > 1514 {
			super++
		}
	}
	t.Logf("downloaded %d bytes in %v; the router's eth1 received %d frames larger than 1,514 bytes (GSO)",
		n, took.Round(time.Millisecond), super)
	if got := [sha256.Size]byte(h.Sum(nil)); n != bigSize || got != s.bigSum {
		t.Errorf("downloaded %d bytes with sha256 %x, want %d bytes with %x", n, got, bigSize, s.bigSum)
	}
	// lvsd's default dataplane on this kernel is the eBPF fast path (on
	// tcx, or on the tc hook the site asked for): the download's
	// established segments went through it, not the workers.
	want := "tcx+afpacket"
	if s.mode != "" {
		want = s.mode
	}
	stats := s.lvsdStats()
	var mode string
	var rx, installs uint64
	for _, l := range strings.Split(stats, "\n") {
		if strings.HasPrefix(l, "dataplane: ") {
			fmt.Sscanf(l, "dataplane: mode %s rx %d", &mode, &rx)
			if i := strings.Index(l, "installs "); i >= 0 {
				fmt.Sscanf(l[i:], "installs %d", &installs)
			}
		}
	}
	mode = strings.TrimSuffix(mode, ",")
	t.Logf("dataplane %s: the workers read %d frames in all, %d flow directions installed in the fast path", mode, rx, installs)
	if mode != want {
		t.Errorf("lvsd runs dataplane %q, want %s (the kernel has tcx and BPF):\n%s", mode, want, stats)
	} else if installs < 2 || rx > uint64(bigSize/1448/2) {
		t.Errorf("fast path: %d installs and the workers read %d frames for a %d-byte download; want ≥ 2 installs and most segments in the kernel",
			installs, rx, bigSize)
	}
}

// countWriter counts what it passes on to w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// testSIGTERM: lvsd exits 0 within 5 s of SIGTERM and takes its nftables
// table out of the router's namespace.
func (s *natSite) testSIGTERM(t *testing.T) {
	const table = "table netdev lvsd"
	if out, err := s.lab.In(s.router, "nft", "list", "tables"); err != nil || !strings.Contains(out, table) {
		t.Fatalf("before SIGTERM, nft list tables = %v, want %q listed:\n%s", err, table, out)
	}
	if s.parent != nil && s.parent.Failed() {
		t.Logf("an earlier subtest failed; lvsd's counters before SIGTERM (SIGUSR2):\n%s", s.lvsdStats())
	}
	if err := s.lvsd.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to lvsd: %v", err)
	}
	select {
	case <-s.lvsd.done:
	case <-time.After(5 * time.Second):
		t.Fatal("lvsd still runs 5 s after SIGTERM")
	}
	if s.lvsd.err != nil {
		t.Errorf("lvsd exited with %v after SIGTERM, want status 0", s.lvsd.err)
	}
	if out, err := s.lab.In(s.router, "nft", "list", "tables"); err != nil || strings.Contains(out, table) {
		t.Errorf("after lvsd exited, nft list tables = %v, want no %q:\n%s", err, table, out)
	}
	// Nor any tc hook: a tcx link goes with lvsd's descriptors, the tc
	// hook's filter and qdisc only when lvsd deletes them.
	if out, err := s.lab.In(s.router, "tc", "qdisc", "show"); err != nil || strings.Contains(out, "clsact") {
		t.Errorf("after lvsd exited, tc qdisc show = %v, want no clsact qdisc:\n%s", err, out)
	}
}

// testLvsadmList: `lvsadm -L -n` against the running lvsd prints ipvsadm's
// table for the site, byte for byte but for the connection counts.
func (s *natSite) testLvsadmList(t *testing.T) {
	lvsadm := buildCmd(t, "lvsadm")
	out, err := exec.Command(lvsadm, "--socket", filepath.Join(s.dir, "lvsd.sock"), "-L", "-n").CombinedOutput()
	if err != nil {
		t.Fatalf("lvsadm -L -n: %v\n%s", err, out)
	}
	dest := func(addr string, port, weight int) string {
		return fmt.Sprintf("  -> %-28s %-7s %-6d N          N         ", fmt.Sprintf("%s:%d", addr, port), "Masq", weight)
	}
	want := []string{
		"IP Virtual Server version 1.2.1 (size=4096)",
		"Prot LocalAddress:Port Scheduler Flags",
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
		fmt.Sprintf("TCP  %s:%d rr", vip, echoPort),
	}
	for _, rs := range realServers {
		want = append(want, dest(rs.addr, echoPort, 1))
	}
	want = append(want, fmt.Sprintf("TCP  %s:80 %s", vip, s.conf.sched))
	for _, rs := range realServers {
		want = append(want, dest(rs.addr, 80, rs.weight*max(1, s.conf.scale)))
	}
	// The UDP echo service follows: its servers come and go with their UDP
	// health checks (one lost probe takes a server out for reentry), so
	// the comparison stops before it.
	want = append(want, fmt.Sprintf("UDP  %s:%d rr", vip, echoPort))
	counts := regexp.MustCompile(`^(  -> .{28} .{7} .{6} )\d+( +)\d+( +)$`)
	got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	for i := range got {
		got[i] = counts.ReplaceAllString(got[i], "${1}N          N         ")
	}
	if len(got) > len(want) {
		got = got[:len(want)]
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lvsadm -L -n (counts masked as N):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// testReloadUnderLoad: a reload that changes every HTTP weight and the
// scheduler while a rate-limited 50 MB download and a stream of short
// requests run drops none of them (services and servers that stay keep
// their connections), and the new weights apply at once.
func (s *natSite) testReloadUnderLoad(t *testing.T) {
	testutil.RequireCommand(t, "curl")
	old := s.conf
	defer s.reload(t, old)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dl := exec.CommandContext(ctx, "ip", "netns", "exec", s.far, "curl", "-sS", "--http1.0",
		"--limit-rate", "25M", "--max-time", "50", "http://"+vip+"/big")
	h := sha256.New()
	cw := &countWriter{w: h}
	var stderr bytes.Buffer
	dl.Stdout, dl.Stderr = cw, &stderr
	if err := dl.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dl.Wait() }()
	time.Sleep(300 * time.Millisecond) // the download is under way (a bound, not an expectation)
	s.reload(t, siteConf{sched: "wlc", scale: 10})
	replies := s.httpGets(t, s.lan, 30)
	if len(replies) != 30 {
		t.Errorf("%d of 30 requests during the reload were answered", len(replies))
	}
	if err := <-done; err != nil {
		t.Errorf("download across the reload: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if got := [sha256.Size]byte(h.Sum(nil)); cw.n != bigSize || got != s.bigSum {
		t.Errorf("download across the reload: %d bytes with sha256 %x, want %d bytes with %x", cw.n, got, bigSize, s.bigSum)
	}
	out, err := exec.Command(buildCmd(t, "lvsadm"), "--socket", filepath.Join(s.dir, "lvsd.sock"), "-L", "-n").CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("TCP  %s:80 wlc", vip)) ||
		!strings.Contains(string(out), fmt.Sprintf("%-28s Masq    30 ", "10.11.12.3:80")) {
		t.Errorf("after the reload lvsadm -L -n shows (want wlc and weight 30 for web3): %v\n%s", err, out)
	}
}
