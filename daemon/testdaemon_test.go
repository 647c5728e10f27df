package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/ipvsadm"
	"lvs/admin/metrics"
	"lvs/config"
	"lvs/dataplane"
	"lvs/dataplane/linktest"
	"lvs/frame"
)

// guideNAT is the guide's NAT site (figure 1.1, section 3.1; examples/nat.cf)
// for a router alone: the same virtual server, without the backup router.
const guideNAT = `serial_no = 1
primary = 192.168.26.9
service = lvs
network = nat
nat_router = 10.11.12.10 eth1:1
nat_nmask = 255.255.255.0
virtual http {
     active = 1
     address = 192.168.26.10 eth0:1
     vip_nmask = 255.255.255.0
     port = 80
     send = "GET / HTTP/1.0\r\n\r\n"
     expect = "HTTP"
     scheduler = wlc
     protocol = tcp
     server web1 {
         address = 10.11.12.1
         active = 1
         weight = 1
     }
     server web2 {
         address = 10.11.12.2
         active = 1
         weight = 1
     }
     server web3 {
         address = 10.11.12.3
         active = 1
         weight = 2
     }
}
`

// The router's interfaces in the test daemons: eth0 on the public segment
// (default route via the gateway), eth1 on the private one.
var (
	testPubMAC  = frame.MAC{0x02, 0, 0, 0, 0, 0x09}
	testPrivMAC = frame.MAC{0x02, 0, 0, 0, 1, 0x09}
	testGwMAC   = frame.MAC{0x02, 0, 0, 0, 0, 0xfe}
	testGw      = netip.MustParseAddr("192.168.26.254")
)

func testIface(name string) (iface, error) {
	if name == "eth1" {
		return iface{name: name, mac: testPrivMAC, mtu: 1500, addrs: []netip.Prefix{netip.MustParsePrefix("10.11.12.9/24")}}, nil
	}
	return iface{name: name, mac: testPubMAC, mtu: 1500, addrs: []netip.Prefix{netip.MustParsePrefix("192.168.26.9/24")},
		routes: []dataplane.Route{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: testGw}}}, nil
}

// testDaemon is an lvsd assembled by start itself, on a fake host
// (testHost: the interfaces of testIface, no kernel guard, which would
// need root) and in-memory links (testLinks); the health checks are
// registered but never run, so no traffic leaves the test. Its management
// goroutine is the real control loop (lvsd.control) and one real worker
// per port forwards; both run until the test ends.
type testDaemon struct {
	*lvsd
	rx   []*linktest.Link // per port: what the port's worker reads
	tx   []*linktest.Link // per port: what the workers send out of it
	logs *logBuffer
}

// testHost is the machine of a testDaemon.
var testHost = host{
	iface: testIface,
	addrs: func() ([]netip.Prefix, error) { return nil, nil },
	guard: func(context.Context, GuardSpec) (*KernelGuard, error) { return nil, nil },
}

// testLinks is a LinkFactory of linktest links for the ports eth0 and
// eth1 of testIface: a worker reads rx[port] and every frame for a port
// goes to tx[port], whichever worker sends it; the control loop's links
// (the first Transmit of each port, as openLinks opens them) are apart, so
// its ARP probes and announcements do not mix with forwarded frames.
type testLinks struct {
	rx, tx []*linktest.Link
	ctl    map[string]bool
}

func newTestLinks() *testLinks {
	t := &testLinks{ctl: map[string]bool{}}
	for range 2 {
		t.rx = append(t.rx, linktest.New(linktest.Config{}))
		t.tx = append(t.tx, linktest.New(linktest.Config{}))
	}
	return t
}

func testPort(iface string) int {
	if iface == "eth1" {
		return 1
	}
	return 0
}

func (t *testLinks) Receive(iface string, _ LinkOptions) (dataplane.MetaLink, error) {
	p := testPort(iface)
	return reopenRx{rxtx: rxtx{Link: t.rx[p], tx: t.tx[p]}, links: t, port: p}, nil
}

func (t *testLinks) Transmit(iface string) (dataplane.MetaLink, error) {
	if !t.ctl[iface] {
		t.ctl[iface] = true
		return linktest.New(linktest.Config{}), nil
	}
	return keepOpen{t.tx[testPort(iface)]}, nil
}

// reopenRx is a worker's receive link of testLinks. lvsd closes every link
// when a reload makes it serve a new port (ports.go) and opens them again:
// closing one ends its worker and puts a fresh link in rx[port] (the same
// slice as testDaemon.rx) for the next Receive, and the control loop's
// links are apart again in the next round.
type reopenRx struct {
	rxtx
	links *testLinks
	port  int
}

func (l reopenRx) Close() error {
	err := l.rxtx.Close()
	if l.links.rx[l.port] == l.rxtx.Link {
		l.links.rx[l.port] = linktest.New(linktest.Config{})
	}
	l.links.ctl = map[string]bool{}
	return err
}

// keepOpen is a port's transmit link that lvsd may close and open again:
// the test reads it until the end (newTestDaemonOn closes it).
type keepOpen struct{ *linktest.Link }

func (keepOpen) Close() error { return nil }

// rxtx reads one link and writes another: a worker's receive link, whose
// answers on its own port go where the test looks for the port's output.
type rxtx struct {
	*linktest.Link
	tx *linktest.Link
}

func (l rxtx) WriteBatch(frames [][]byte) (int, error) { return l.tx.WriteBatch(frames) }
func (l rxtx) WriteBatchMeta(frames [][]byte, meta []dataplane.Meta) (int, error) {
	return l.tx.WriteBatchMeta(frames, meta)
}

// newTestDaemon starts a testDaemon on lvs.cf text, which must be valid
// and name the interfaces eth0 and eth1 only.
func newTestDaemon(t *testing.T, text string) *testDaemon {
	t.Helper()
	return newTestDaemonOn(t, text, testHost)
}

// newTestDaemonOn is newTestDaemon on host h; a pair's role machine and
// connection sync run too, as in run.
func newTestDaemonOn(t *testing.T, text string, h host) *testDaemon {
	t.Helper()
	noDefaultIptables(t)
	dir := t.TempDir()
	links := newTestLinks()
	opts := Options{ConfigFile: filepath.Join(dir, "lvs.cf"), Socket: "off", Admin: "off", Workers: 1, Links: links}
	if err := os.WriteFile(opts.ConfigFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := load(opts)
	if err != nil || len(l.errs) > 0 {
		t.Fatalf("load: %v %v", err, l.errs)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	d, err := start(context.Background(), opts, l, log, h)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if len(d.specs) == 0 && len(l.cfg.Virtuals) > 0 {
		t.Fatalf("no health checks for %d virtual servers", len(l.cfg.Virtuals))
	}
	td := &testDaemon{lvsd: d, rx: links.rx, tx: links.tx, logs: logs}
	d.metrics = metrics.NewMetrics(d) // as run does
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	d.pp.spawn = func(run func() error) { // as run's group does (ports.go)
		wg.Go(func() {
			if err := run(); err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	d.startWorkers()
	if d.ha != nil {
		wg.Go(func() { d.ha.Run(ctx) })
		wg.Go(func() { d.forwardHA(ctx) })
	}
	if d.sync != nil {
		wg.Go(func() { d.sync.recv.Run() })
	}
	var control sync.WaitGroup
	control.Go(func() { d.control(ctx) })
	t.Cleanup(func() {
		cancel()
		control.Wait()
		d.sync.close() // after the control loop, which may have replaced it
		for _, l := range d.links {
			l.Close()
		}
		for _, l := range links.tx {
			l.Close()
		}
		wg.Wait()
	})
	return td
}

// apply runs lvsadm command lines through lvsd's Apply, one batch each,
// and fails the test on the first error.
func (td *testDaemon) apply(t *testing.T, lines ...string) {
	t.Helper()
	for _, line := range lines {
		cmd, err := ipvsadm.ParseArgs(strings.Fields(line))
		if err != nil {
			t.Fatalf("ParseArgs(%q): %v", line, err)
		}
		if err := td.Apply(context.Background(), []ipvsadm.Command{cmd}); err != nil {
			t.Fatalf("lvsadm %s: %v", line, err)
		}
	}
}

// running returns the running configuration, formatted, and the published
// table's services without counters, both read on the management
// goroutine.
func (td *testDaemon) running(t *testing.T) (cf string, st admin.Status) {
	t.Helper()
	if err := td.do(context.Background(), func() {
		cf = string(config.Format(td.cfg))
		st = tableOnly(admin.StatusFromTable(td.dp.State().Table))
	}); err != nil {
		t.Fatalf("reading the running state: %v", err)
	}
	return cf, st
}

// tableOnly keeps what ipvsadm -S carries: services and destinations with
// their settings, sorted, without counters or timeouts.
func tableOnly(st admin.Status) admin.Status {
	st.Timeouts = admin.Timeouts{}
	for i := range st.Services {
		s := &st.Services[i]
		s.Stats = admin.Counters{}
		for j := range s.Dests {
			d := &s.Dests[j]
			d.Stats, d.Active, d.Inactive, d.Persist = admin.Counters{}, 0, 0, 0
		}
	}
	st.Sort()
	return st
}

// logBuffer is an io.Writer for a slog handler, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count returns how many log lines contain s.
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// waitFrame returns the first frame port's transmit link sends within a
// generous bound, or fails the test.
func (td *testDaemon) waitFrame(t *testing.T, port int, what string) []byte {
	t.Helper()
	select {
	case f := <-td.tx[port].Outbound():
		return f.Data
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing sent on port %d", what, port)
	}
	return nil
}
