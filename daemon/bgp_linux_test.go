package daemon_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lvs/internal/netlab"
	"lvs/internal/testutil"
)

// ecmpCf is one ECMP director announcing the VIP to a BIRD router.
const ecmpCf = `serial_no = 1
primary = 192.168.26.9
service = lvs
network = nat
nat_router = 10.11.12.10 eth1:1
nat_nmask = 255.255.255.0
redundancy = ecmp
bgp {
     local_as = 65001
     drain_time = 2
     peer upstream {
         address = 192.168.26.1
         remote_as = 65000
         hold_time = 3
     }
}
virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
     port = 80
     scheduler = mh
     timeout = 1
     reentry = 2
     server web1 {
         address = 10.11.12.1
         active = 1
     }
}
`

const ecmpBird = `router id 192.168.26.1;
log stderr all;
protocol device { scan time 2; }
protocol kernel {
	merge paths yes;
	ipv4 { import none; export all; };
}
protocol bgp lvs {
	local 192.168.26.1 as 65000;
	neighbor 192.168.26.9 as 65001;
	hold time 3;
	connect retry time 1;
	ipv4 { import all; export none; };
}
`

// TestBGPAnnounce runs the real lvsd in the ECMP mode against a real BIRD 2
// router in namespaces: the router learns the VIP with the director as next
// hop and reaches the real server through it; the VIP is withdrawn when its
// only real server fails its health check and announced when it returns;
// lvsadm -L --daemon shows the session and the route; a reload changes
// the peers without a restart; SIGTERM withdraws the VIP at once and lvsd
// stops after drain_time.
func TestBGPAnnounce(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds lvsd and runs a site with a BGP router in namespaces")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "bird")
	bin, adm := buildCmd(t, "lvsd"), buildCmd(t, "lvsadm")
	lab := netlab.NewT(t, "lvst-")
	rtr, dir, rs := lab.NS("rtr"), lab.NS("dir"), lab.NS("rs")
	lab.Veth(rtr, "eth0", dir, "eth0")
	lab.Veth(dir, "eth1", rs, "eth0")
	lab.Must("ip", "-n", rtr, "addr", "add", "192.168.26.1/24", "dev", "eth0")
	lab.Must("ip", "-n", dir, "addr", "add", "192.168.26.9/24", "dev", "eth0")
	lab.Must("ip", "-n", dir, "addr", "add", "10.11.12.9/24", "dev", "eth1")
	lab.Must("ip", "-n", rs, "addr", "add", "10.11.12.1/24", "dev", "eth0")
	lab.Must("ip", "-n", rs, "route", "add", "default", "via", "10.11.12.10")
	var hl net.Listener
	var err error
	lab.Do(rs, func() { hl, err = net.Listen("tcp4", ":80") })
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "web1") })}
	go func() { _ = srv.Serve(hl) }()
	t.Cleanup(func() { srv.Close() })

	tmp := t.TempDir()
	birdConf, birdSock := filepath.Join(tmp, "bird.conf"), filepath.Join(tmp, "bird.ctl")
	lvsCf, lvsSock := filepath.Join(tmp, "lvs.cf"), filepath.Join(tmp, "lvsd.sock")
	for name, text := range map[string]string{birdConf: ecmpBird, lvsCf: ecmpCf} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(bin, "-t", "-f", lvsCf).CombinedOutput(); err != nil {
		t.Fatalf("lvsd -t rejects the site's lvs.cf: %v\n%s", err, out)
	}
	ecmpStart(t, "bird", rtr, "bird", "-f", "-c", birdConf, "-s", birdSock, "-P", filepath.Join(tmp, "bird.pid"))
	lvsd := ecmpStart(t, "lvsd", dir, bin, "-f", lvsCf, "--socket", lvsSock)
	ecmpWait(t, "lvsd running", func() bool { return strings.Contains(lvsd.log.String(), "lvsd running") })
	began := time.Now()

	route := func() string {
		out, _ := lab.In(rtr, "ip", "route", "show", "192.168.26.10/32")
		return out
	}
	routed := func() bool { return strings.Contains(route(), "via 192.168.26.9") }
	gone := func() bool { return !strings.Contains(route(), "192.168.26.10") }
	ecmpWait(t, "the VIP's route in the router's kernel", routed)
	t.Logf("route to the VIP via the director in the router's kernel %v after lvsd ran", time.Since(began).Round(time.Millisecond))

	var got string
	lab.Do(rtr, func() { got, err = ecmpHTTP("192.168.26.10:80", "/") })
	if err != nil || got != "web1" {
		t.Errorf("GET http://192.168.26.10/ from the router = %q, %v; want \"web1\" through the director", got, err)
	}

	out, err := exec.Command(adm, "--socket", lvsSock, "-L", "--daemon").CombinedOutput()
	for _, want := range []string{"bgp peer upstream (192.168.26.1): established", "bgp route 192.168.26.10/32: announced (serving)"} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("lvsadm -L --daemon = %v\n%s\nwant a line with %q", err, out, want)
		}
	}

	var metrics string
	lab.Do(dir, func() { metrics, err = ecmpHTTP("127.0.0.1:3636", "/metrics") })
	for _, want := range []string{`lvs_bgp_session_up{peer="192.168.26.1"} 1`, `lvs_bgp_announced{vip="192.168.26.10"} 1`} {
		if err != nil || !strings.Contains(metrics, want) {
			t.Errorf("/metrics: %v; want a line %s", err, want)
		}
	}

	// lvsadm drain withdraws the VIP while lvsd runs; --undrain announces it.
	if out, err := exec.Command(adm, "drain", "--socket", lvsSock).CombinedOutput(); err != nil {
		t.Fatalf("lvsadm drain: %v\n%s", err, out)
	}
	start := time.Now()
	ecmpWait(t, "the withdrawal on lvsadm drain", gone)
	t.Logf("route withdrawn %v after lvsadm drain", time.Since(start).Round(time.Millisecond))
	out, err = exec.Command(adm, "--socket", lvsSock, "-L", "--daemon").CombinedOutput()
	if want := "bgp route 192.168.26.10/32: withdrawn (drained)"; err != nil || !strings.Contains(string(out), want) {
		t.Errorf("lvsadm -L --daemon after drain = %v\n%s\nwant a line with %q", err, out, want)
	}
	if out, err := exec.Command(adm, "drain", "--undrain", "--socket", lvsSock).CombinedOutput(); err != nil {
		t.Fatalf("lvsadm drain --undrain: %v\n%s", err, out)
	}
	ecmpWait(t, "the announcement on lvsadm drain --undrain", routed)

	// The only real server fails its check (its port 80 drops SYNs): the
	// VIP is withdrawn, and announced again when the server is back.
	lab.MustIn(rs, "nft", "add table inet lvst; add chain inet lvst in { type filter hook input priority 0; }; add rule inet lvst in tcp dport 80 drop")
	start = time.Now()
	ecmpWait(t, "the withdrawal when no real server is up", gone)
	t.Logf("route withdrawn %v after the real server stopped answering (check interval 1 s)", time.Since(start).Round(time.Millisecond))
	lab.MustIn(rs, "nft", "delete table inet lvst")
	start = time.Now()
	ecmpWait(t, "the announcement when the real server is back", routed)
	t.Logf("route back %v after the real server answered again (reentry 2 s)", time.Since(start).Round(time.Millisecond))

	// A reload changes the peers live: the peer moved to an address where
	// no router is (its session with the router closes, so the router
	// drops the route), then back under another name (a new session; the
	// route returns). lvsd keeps running throughout.
	reload := func(from, to string) {
		t.Helper()
		text := strings.Replace(ecmpCf, from, to, 1)
		if text == ecmpCf {
			t.Fatalf("reload: no %q in the site's lvs.cf", from)
		}
		if err := os.WriteFile(lvsCf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := lvsd.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	reload("peer upstream {\n         address = 192.168.26.1", "peer upstream {\n         address = 192.168.26.2")
	start = time.Now()
	ecmpWait(t, "the withdrawal when a reload moves the peer away", gone)
	t.Logf("route gone %v after the reload that moved the peer", time.Since(start).Round(time.Millisecond))
	reload("peer upstream {", "peer gw {")
	start = time.Now()
	ecmpWait(t, "the announcement when a reload adds the router back as peer gw", routed)
	t.Logf("route back %v after the reload that added the router back", time.Since(start).Round(time.Millisecond))
	out, err = exec.Command(adm, "--socket", lvsSock, "-L", "--daemon").CombinedOutput()
	if want := "bgp peer gw (192.168.26.1): established"; err != nil || !strings.Contains(string(out), want) {
		t.Errorf("lvsadm -L --daemon after the reloads = %v\n%s\nwant a line with %q", err, out, want)
	}
	if strings.Contains(string(out), "192.168.26.2") {
		t.Errorf("lvsadm -L --daemon after the reloads still lists the removed peer:\n%s", out)
	}
	for _, want := range []string{"bgp peers changed", "removed=[upstream]", "added=[gw]"} {
		if !strings.Contains(lvsd.log.String(), want) {
			t.Errorf("lvsd's log has no %q after the reloads", want)
		}
	}

	// SIGTERM: withdraw at once, keep running for drain_time, then stop.
	start = time.Now()
	if err := lvsd.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ecmpWait(t, "the withdrawal on SIGTERM", gone)
	withdrawn := time.Since(start)
	select {
	case <-lvsd.done:
	case <-time.After(30 * time.Second):
		t.Fatal("lvsd still runs 30 s after SIGTERM")
	}
	t.Logf("SIGTERM: route gone after %v, lvsd exited after %v (drain_time 2 s)", withdrawn.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if lvsd.err != nil {
		t.Errorf("lvsd exited with %v after SIGTERM, want status 0", lvsd.err)
	}
	log := lvsd.log.String()
	for _, want := range []string{"VIPs withdrawn; forwarding for the drain time", "bgp speaker stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("lvsd's log has no %q", want)
		}
	}
}

// ecmpProc is a program the test runs in a namespace, tracked by PID.
type ecmpProc struct {
	cmd  *exec.Cmd
	log  ecmpLog
	done chan struct{} // closed once waited for
	err  error         // Wait's result, valid after done
}

// ecmpLog is a log buffer safe for the writer and readers.
type ecmpLog struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *ecmpLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *ecmpLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ecmpStart runs args in namespace ns (ip execs the program, so the PID is
// its own); it is killed by PID when the test ends, or by the kernel if the
// test process dies first, and its log is printed when the test failed.
func ecmpStart(t *testing.T, name, ns string, args ...string) *ecmpProc {
	t.Helper()
	p := &ecmpProc{done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, p.log.String())
		}
	})
	return p
}

// ecmpWait polls cond every 50 ms for at most a generous 30 s.
func ecmpWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waiting for %s: not within 30 s", what)
		}
	}
}

// ecmpHTTP does one HTTP/1.0 GET of path at addr and returns the body.
func ecmpHTTP(addr, path string) (string, error) {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\n\r\n", path); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
