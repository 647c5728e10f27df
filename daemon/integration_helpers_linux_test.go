package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/internal/netlab"
)

// The guide's NAT site (figure 1.1, section 3.1).
const (
	vip       = "192.168.26.10"
	natRouter = "10.11.12.10"
	farClient = "203.0.113.10"   // behind the gateway 192.168.26.254
	lanClient = "192.168.26.100" // on the public segment itself
	echoPort  = 7                // TCP and UDP echo services
	bigSize   = 50 << 20         // bytes of /big
)

// realServer is one real server of the site: its name (what its HTTP
// server answers), address and weight in the HTTP service.
type realServer struct {
	name, addr string
	weight     int
}

// realServers are the NAT site's real servers.
var realServers = []realServer{{"web1", "10.11.12.1", 1}, {"web2", "10.11.12.2", 2}, {"web3", "10.11.12.3", 3}}

// natSite is the guide's NAT site in namespaces with the real lvsd on its
// router.
type natSite struct {
	lab    *netlab.T
	far    string // client 203.0.113.10, behind the gateway
	lan    string // client 192.168.26.100, on the public segment
	router string
	reals  []string
	dir    string // lvs.cf lives here
	conf   siteConf
	lvsd   *lvsdProc
	bigSum [sha256.Size]byte // sha256 of every server's /big
	parent *testing.T        // the whole test: its failure makes testSIGTERM print lvsd's counters
	args   []string          // lvsd's options beyond -f and --socket
	mode   string            // the dataplane mode lvsd must report ("" = tcx+afpacket)
}

// newLab returns the namespace lab of one test: namespaces lvst-PID-N-NODE,
// removed when the test ends, swept by the next run if the test crashed.
func newLab(t *testing.T) *netlab.T { return netlab.NewT(t, "lvst-") }

// buildLVSD builds ./cmd/lvsd into a temporary directory of t.
func buildLVSD(t *testing.T) string { return buildCmd(t, "lvsd") }

// buildCmd builds ./cmd/NAME into the test's temporary directory.
func buildCmd(t *testing.T, name string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, out)
	}
	return bin
}

// newNATSite builds the namespaces of the site: a switch namespace holding
// the public and the private segment as bridges, the gateway and the far
// client, the client on the public segment, the router and the real servers.
func newNATSite(t *testing.T) *natSite {
	lab := newLab(t)
	s := &natSite{lab: lab, dir: t.TempDir()}
	sw, gw := lab.NS("sw"), lab.NS("gw")
	s.far, s.lan, s.router = lab.NS("far"), lab.NS("lan"), lab.NS("r")
	lab.Veth(sw, "pub-r", s.router, "eth0")
	lab.Veth(sw, "pub-gw", gw, "eth0")
	lab.Veth(sw, "pub-lan", s.lan, "eth0")
	lab.Veth(gw, "eth1", s.far, "eth0")
	lab.Veth(sw, "priv-r", s.router, "eth1")
	lab.Bridge(sw, "pub", "pub-r", "pub-gw", "pub-lan")
	ip := func(ns string, args ...string) { lab.Must("ip", append([]string{"-n", ns}, args...)...) }
	ip(gw, "addr", "add", "192.168.26.254/24", "dev", "eth0")
	ip(gw, "addr", "add", "203.0.113.254/24", "dev", "eth1")
	lab.MustIn(gw, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	ip(s.far, "addr", "add", farClient+"/24", "dev", "eth0")
	ip(s.far, "route", "add", "default", "via", "203.0.113.254")
	ip(s.lan, "addr", "add", lanClient+"/24", "dev", "eth0")
	ip(s.router, "addr", "add", "192.168.26.9/24", "dev", "eth0")
	ip(s.router, "addr", "add", "10.11.12.9/24", "dev", "eth1")
	ip(s.router, "route", "add", "default", "via", "192.168.26.254")
	// As the guide sets it: lvsd must keep the kernel out whatever it says.
	lab.MustIn(s.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	priv := []string{"priv-r"}
	for i, rs := range realServers {
		ns := lab.NS(rs.name)
		port := fmt.Sprintf("priv-%d", i+1)
		lab.Veth(sw, port, ns, "eth0")
		priv = append(priv, port)
		ip(ns, "addr", "add", rs.addr+"/24", "dev", "eth0")
		ip(ns, "route", "add", "default", "via", natRouter)
		s.reals = append(s.reals, ns)
	}
	lab.Bridge(sw, "priv", priv...)
	big := bigBody()
	s.bigSum = sha256.Sum256(big)
	for i, rs := range realServers {
		startServers(t, lab, s.reals[i], rs.name, big)
	}
	return s
}

// bigBody is the 50 MB the servers send for /big: seeded pseudo-random
// bytes, so no compression or pattern can hide a lost or repeated segment.
func bigBody() []byte {
	b := make([]byte, bigSize)
	r := rand.NewChaCha8([32]byte{'l', 'v', 's'})
	_, _ = r.Read(b)
	return b
}

// startServers runs, inside namespace ns, an HTTP server on port 80 that
// answers every path with its name (and /big with big), a TCP echo and a
// UDP echo on port 7. They stop in t.Cleanup.
func startServers(t *testing.T, lab *netlab.T, ns, name string, big []byte) {
	t.Helper()
	var hl, el net.Listener
	var uc net.PacketConn
	var err error
	lab.Do(ns, func() {
		if hl, err = net.Listen("tcp4", ":80"); err != nil {
			return
		}
		if el, err = net.Listen("tcp4", fmt.Sprintf(":%d", echoPort)); err != nil {
			return
		}
		uc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", echoPort))
	})
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
	go func() { _ = srv.Serve(hl) }()
	go serveTCPEcho(el)
	go serveUDPEcho(uc)
	t.Cleanup(func() { srv.Close(); el.Close(); uc.Close() })
}

// serveTCPEcho echoes every connection of l until l is closed.
func serveTCPEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			_, _ = io.Copy(c, c)
		}()
	}
}

// serveUDPEcho sends every datagram (up to 64 KiB) back to its sender.
func serveUDPEcho(c net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = c.WriteTo(buf[:n], from)
	}
}

// siteConf is what the subtests change in lvs.cf.
type siteConf struct {
	sched      string
	persistent int // seconds; 0 = none
	scale      int // the HTTP weights are 1:2:3 times scale (0 means 1)
}

// text renders lvs.cf: a lone primary (no backup, so lvsd is active at
// once), the HTTP service with weights 1:2:3, and TCP and UDP echo.
func (c siteConf) text() string {
	var b strings.Builder
	b.WriteString("serial_no = 1\nprimary = 192.168.26.9\nservice = lvs\nbackup_active = 0\n")
	b.WriteString("network = nat\nnat_router = " + natRouter + " eth1:1\nnat_nmask = 255.255.255.0\n")
	virtual := func(name, proto string, port int, sched string, persistent int, extra string, weights bool) {
		fmt.Fprintf(&b, "virtual %s {\n\tactive = 1\n\taddress = %s eth0:1\n\tvip_nmask = 255.255.255.0\n", name, vip)
		fmt.Fprintf(&b, "\tport = %d\n\tprotocol = %s\n\tscheduler = %s\n\ttimeout = 6\n\treentry = 15\n%s", port, proto, sched, extra)
		if persistent > 0 {
			fmt.Fprintf(&b, "\tpersistent = %d\n", persistent)
		}
		for _, rs := range realServers {
			w := 1
			if weights {
				w = rs.weight * max(1, c.scale)
			}
			fmt.Fprintf(&b, "\tserver %s {\n\t\taddress = %s\n\t\tactive = 1\n\t\tweight = %d\n\t}\n", rs.name, rs.addr, w)
		}
		b.WriteString("}\n")
	}
	virtual("http", "tcp", 80, c.sched, c.persistent, "", true)
	virtual("echo", "tcp", echoPort, "rr", 0, "", false)
	// The UDP check waits for a reply; an echo server needs a request first.
	virtual("uecho", "udp", echoPort, "rr", 0, "\tsend = \"ping\"\n", false)
	return b.String()
}

func (s *natSite) confPath() string { return filepath.Join(s.dir, "lvs.cf") }

// writeConf writes c as the site's lvs.cf.
func (s *natSite) writeConf(t *testing.T, c siteConf) {
	t.Helper()
	if err := os.WriteFile(s.confPath(), []byte(c.text()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.conf = c
}

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lvsdProc is lvsd running in the router namespace, tracked by PID.
type lvsdProc struct {
	cmd  *exec.Cmd
	log  lockedBuffer  // stderr
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's result, valid after done
}

// startLVSD runs `ip netns exec ROUTER lvsd -f lvs.cf` (ip execs lvsd, so
// the PID is lvsd's). t.Cleanup kills it if it still runs and prints its
// log when the test failed.
func (s *natSite) startLVSD(t *testing.T, bin string) {
	t.Helper()
	p := &lvsdProc{done: make(chan struct{})}
	// The control socket (and the SIGUSR2 dump next to it) in s.dir, so
	// other lvsd processes on this host (the simulator's) are not disturbed.
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", s.router, bin, "-f", s.confPath(),
		"--socket", filepath.Join(s.dir, "lvsd.sock")}, s.args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting lvsd: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.lvsd = p
	t.Cleanup(func() {
		if t.Failed() && !p.exited() {
			t.Logf("lvsd statistics (SIGUSR2):\n%s", s.lvsdStats())
		}
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("lvsd log:\n%s", p.log.String())
		}
	})
}

// lvsdStats asks the running lvsd for its counters (SIGUSR2 writes
// lvsd.stats next to the control socket) and returns them, waiting at most
// 2 s.
func (s *natSite) lvsdStats() string {
	path := filepath.Join(s.dir, "lvsd.stats")
	_ = os.Remove(path)
	if err := s.lvsd.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		return err.Error()
	}
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	return "(no lvsd.stats within 2 s)"
}

// exited reports whether lvsd has exited.
func (p *lvsdProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond every 100 ms for at most limit; it fails t when lvsd
// exits or the limit passes.
func (s *natSite) waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); ; {
		if cond() {
			return
		}
		if s.lvsd.exited() {
			t.Fatalf("waiting for %s: lvsd exited (%v)", what, s.lvsd.err)
		}
		if time.Now().After(end) {
			t.Fatalf("waiting for %s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady waits until lvsd says it runs and the VIP answers ping from
// the client on the public segment.
func (s *natSite) waitReady(t *testing.T) {
	t.Helper()
	s.waitFor(t, "lvsd running", 10*time.Second, func() bool {
		return strings.Contains(s.lvsd.log.String(), "lvsd running")
	})
	s.waitFor(t, "the VIP to answer ping", 10*time.Second, func() bool {
		_, err := s.lab.In(s.lan, "ping", "-c1", "-W1", vip)
		return err == nil
	})
}

// reload writes c, sends SIGHUP and waits until lvsd logs the reload. A
// refused reload fails t. Nothing happens when c is already loaded.
func (s *natSite) reload(t *testing.T, c siteConf) {
	t.Helper()
	if c == s.conf {
		return
	}
	before := strings.Count(s.lvsd.log.String(), "configuration reloaded")
	s.writeConf(t, c)
	if err := s.lvsd.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to lvsd: %v", err)
	}
	s.waitFor(t, "the reload", 5*time.Second, func() bool {
		log := s.lvsd.log.String()
		if strings.Contains(log, "reload refused") {
			t.Fatalf("lvsd refused the reload of %+v", c)
		}
		return strings.Count(log, "configuration reloaded") > before
	})
}

// httpReply is one HTTP exchange as the client saw it.
type httpReply struct {
	status int
	body   string // the real server's name
	conns  int    // connections opened for it (curl's num_connects; 1 for the Go client)
}

// httpGets sends n sequential HTTP/1.0 GETs to the VIP from namespace ns,
// each on a new connection: with one real curl when installed (URL globbing
// /r[1-n]), with the Go client otherwise.
func (s *natSite) httpGets(t *testing.T, ns string, n int) []httpReply {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		return s.goGets(t, ns, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/r[1-%d]", vip, n)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "curl", "-sS", "--http1.0", "--fail-early",
		"--connect-timeout", "5", "--max-time", "10", "-w", " %{http_code} %{num_connects}\n", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("curl %s from %s: %v: %s", url, ns, err, strings.TrimSpace(stderr.String()))
	}
	var replies []httpReply
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r httpReply
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &r.body, &r.status, &r.conns); err != nil {
			t.Errorf("curl printed %q: %v", sc.Text(), err)
			continue
		}
		replies = append(replies, r)
	}
	return replies
}

// goGets is httpGets with the Go client: each connection is dialled
// inside ns, then one HTTP/1.0 exchange is read to the server's close.
func (s *natSite) goGets(t *testing.T, ns string, n int) []httpReply {
	t.Helper()
	var out []httpReply
	for i := range n {
		body, status, err := s.goGet(ns, fmt.Sprintf("/r%d", i+1), 10*time.Second, io.Discard)
		if err != nil {
			t.Errorf("GET %d of %d from %s: %v", i+1, n, ns, err)
			break
		}
		out = append(out, httpReply{status: status, body: strings.TrimSpace(body), conns: 1})
	}
	return out
}

// goGet dials the VIP from ns and does one HTTP/1.0 GET of path. A body of
// up to 1 KiB is returned; the whole body also goes to sink.
func (s *natSite) goGet(ns, path string, limit time.Duration, sink io.Writer) (string, int, error) {
	var c net.Conn
	var err error
	s.lab.Do(ns, func() { c, err = net.DialTimeout("tcp4", vip+":80", 5*time.Second) })
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(limit))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, vip); err != nil {
		return "", 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var head bytes.Buffer
	w := io.MultiWriter(sink, &limitedWriter{&head, 1024})
	if _, err := io.Copy(w, resp.Body); err != nil {
		return "", resp.StatusCode, err
	}
	return head.String(), resp.StatusCode, nil
}

// limitedWriter keeps the first n bytes written and discards the rest.
type limitedWriter struct {
	b *bytes.Buffer
	n int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.n - w.b.Len(); room > 0 {
		w.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// countServers counts replies by server name and fails t for any reply
// that is not a 200 on a new connection.
func countServers(t *testing.T, replies []httpReply) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i, r := range replies {
		if r.status != 200 || r.conns != 1 {
			t.Errorf("request %d: status %d on %d new connections (body %q), want 200 on 1", i+1, r.status, r.conns, r.body)
		}
		got[r.body]++
	}
	return got
}

// pkt is the summary of one captured IPv4 frame.
type pkt struct {
	out          bool // sent by the capturing namespace
	size         int  // bytes of the frame, Ethernet header included
	src, dst     netip.Addr
	proto        uint8
	frag         bool   // a fragment (MF set or offset non-zero)
	sport, dport uint16 // TCP/UDP ports; for an ICMP error, the quoted datagram's ports
	flags        uint8  // TCP flags
	icmpType     uint8
	icmpCode     uint8
}

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// capture is an AF_PACKET socket (ETH_P_ALL) on one interface of a
// namespace, read by a goroutine until stop.
type capture struct {
	fd   int
	quit atomic.Bool
	done chan struct{}
	pkts []pkt // owned by the reader until done is closed
}

// startCapture opens the capture on ifname inside ns. ETH_P_ALL sees
// frames in both directions, before the IP layer reassembles fragments.
func startCapture(t *testing.T, lab *netlab.T, ns, ifname string) *capture {
	t.Helper()
	c := &capture{fd: -1, done: make(chan struct{})}
	var err error
	lab.Do(ns, func() {
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return
		}
		proto := int(htons(unix.ETH_P_ALL))
		if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return
		}
		err = unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index})
	})
	if err == nil {
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		err = unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	if err != nil {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		t.Fatalf("packet socket on %s in %s: %v", ifname, ns, err)
	}
	go c.read()
	t.Cleanup(func() { c.quit.Store(true); <-c.done }) // when the test ends before stop
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read collects frames until quit, at most a million of them.
func (c *capture) read() {
	defer close(c.done)
	defer unix.Close(c.fd)
	buf := make([]byte, 65536)
	for n := 0; n < 1_000_000 && !c.quit.Load(); n++ {
		k, from, err := unix.Recvfrom(c.fd, buf, unix.MSG_TRUNC)
		if err != nil {
			continue // the receive timeout: look at quit again
		}
		ll, _ := from.(*unix.SockaddrLinklayer)
		if p, ok := parsePkt(buf[:min(k, len(buf))]); ok {
			p.size = k
			p.out = ll != nil && ll.Pkttype == unix.PACKET_OUTGOING
			c.pkts = append(c.pkts, p)
		}
	}
}

// stop waits a little for late frames (a duplicate would come last), ends
// the capture and returns what it saw, in order.
func (c *capture) stop() []pkt {
	time.Sleep(300 * time.Millisecond)
	c.quit.Store(true)
	<-c.done
	return c.pkts
}

// parsePkt summarises an untagged Ethernet frame holding IPv4.
func parsePkt(f []byte) (pkt, bool) {
	if len(f) < 34 || f[12] != 0x08 || f[13] != 0x00 {
		return pkt{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	p := pkt{size: len(f), proto: ip[9], src: netip.AddrFrom4([4]byte(ip[12:16])), dst: netip.AddrFrom4([4]byte(ip[16:20]))}
	p.frag = ip[6]&0x20 != 0 || (uint16(ip[6]&0x1f)<<8|uint16(ip[7])) != 0
	if ihl < 20 || len(ip) < ihl+8 || p.frag && (uint16(ip[6]&0x1f)<<8|uint16(ip[7])) != 0 {
		return p, true
	}
	l4 := ip[ihl:]
	switch p.proto {
	case unix.IPPROTO_TCP:
		p.sport, p.dport = be16(l4[0:]), be16(l4[2:])
		if len(l4) >= 14 {
			p.flags = l4[13]
		}
	case unix.IPPROTO_UDP:
		p.sport, p.dport = be16(l4[0:]), be16(l4[2:])
	case unix.IPPROTO_ICMP:
		p.icmpType, p.icmpCode = l4[0], l4[1]
		if in := l4[8:]; p.icmpType == 3 && len(in) >= 20 && len(in) >= int(in[0]&0x0f)*4+4 {
			q := in[int(in[0]&0x0f)*4:]
			p.sport, p.dport = be16(q[0:]), be16(q[2:])
		}
	}
	return p, true
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
