package bgp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvs/internal/netlab"
	"lvs/internal/testutil"
)

// The test network: a router namespace running BIRD 2 and a director
// namespace running the Speaker, on one veth.
const (
	routerAddr   = "10.99.0.1"
	directorAddr = "10.99.0.2"
	routerAS     = 65000
	directorAS   = 65001
	md5Key       = "lvs-md5-test"
	helperEnv    = "LVS_BGP_SPEAKER_HELPER" // the speaker's Config as JSON
)

// birdConf peers with the director over TCP-MD5 with a 3 s hold time and
// installs what it learns into its kernel's main table (ECMP-merged).
var birdConf = `router id ` + routerAddr + `;
log stderr all;
debug protocols { states, events };
protocol device { scan time 2; }
protocol kernel {
	merge paths yes;
	ipv4 { import none; export all; };
}
protocol bgp lvs {
	local ` + routerAddr + ` as ` + fmt.Sprint(routerAS) + `;
	neighbor ` + directorAddr + ` as ` + fmt.Sprint(directorAS) + `;
	hold time 3;
	connect retry time 1;
	password "` + md5Key + `";
	ipv4 { import all; export none; };
}
`

// TestSpeakerWithBIRD peers the Speaker, in a namespace of its own, with
// a real BIRD 2 in the router's namespace: an announced VIP appears in the
// router's kernel table with the director as next hop (with its community
// and MED in BIRD's table), a withdrawn one disappears, and Stop removes
// the rest.
func TestSpeakerWithBIRD(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "bird", "birdc")
	lab := netlab.NewT(t, "lvst-")
	rtr, dir := lab.NS("rtr"), lab.NS("dir")
	lab.Veth(rtr, "eth0", dir, "eth0")
	lab.Must("ip", "-n", rtr, "addr", "add", routerAddr+"/24", "dev", "eth0")
	lab.Must("ip", "-n", dir, "addr", "add", directorAddr+"/24", "dev", "eth0")

	tmp := t.TempDir()
	conf, sock := filepath.Join(tmp, "bird.conf"), filepath.Join(tmp, "bird.ctl")
	if err := os.WriteFile(conf, []byte(birdConf), 0o600); err != nil {
		t.Fatal(err)
	}
	startInNS(t, rtr, "bird", "-f", "-c", conf, "-s", sock, "-P", filepath.Join(tmp, "bird.pid"))
	t.Cleanup(func() {
		if t.Failed() {
			for _, what := range [][]string{{"protocols", "all"}, {"route", "all"}} {
				out, _ := lab.In(rtr, append([]string{"birdc", "-s", sock, "show"}, what...)...)
				t.Logf("birdc show %s:\n%s", strings.Join(what, " "), out)
			}
		}
	})

	cfg := Config{LocalAS: directorAS, RouterID: netip.MustParseAddr(directorAddr), ConnectRetry: time.Second,
		Peers: []Peer{{Name: "upstream", Address: netip.MustParseAddr(routerAddr), RemoteAS: routerAS,
			HoldTime: 3 * time.Second, Password: md5Key}}}
	h := startHelper(t, dir, cfg)

	h.waitFor(t, "session upstream established")
	vipA, vipB := "192.0.2.10", "192.0.2.11"
	h.do(t, "announce "+vipA+" 65000:100 20")
	h.do(t, "announce "+vipB+" - 0")
	start := time.Now()
	waitRoute(t, lab, rtr, vipA, true)
	t.Logf("route %s in the router's kernel table %v after the announcement", vipA, time.Since(start).Round(time.Millisecond))
	waitRoute(t, lab, rtr, vipB, true)
	if out := lab.MustIn(rtr, "ip", "route", "show", vipA+"/32"); !strings.Contains(out, "via "+directorAddr) {
		t.Errorf("router's route to %s = %q, want it via the director %s", vipA, out, directorAddr)
	}
	all, err := lab.In(rtr, "birdc", "-s", sock, "show", "route", "all", vipA+"/32")
	if err != nil || !strings.Contains(all, "BGP.community: (65000,100)") || !strings.Contains(all, "BGP.med: 20") {
		t.Errorf("birdc show route all %s = %v\n%s\nwant community (65000,100) and MED 20", vipA, err, all)
	}

	h.do(t, "withdraw "+vipA)
	start = time.Now()
	waitRoute(t, lab, rtr, vipA, false)
	t.Logf("route %s gone %v after the withdrawal", vipA, time.Since(start).Round(time.Millisecond))
	if out := lab.MustIn(rtr, "ip", "route", "show", vipB+"/32"); !strings.Contains(out, "via "+directorAddr) {
		t.Errorf("after withdrawing %s, the route to %s = %q, want it kept", vipA, vipB, out)
	}

	h.do(t, "stop")
	start = time.Now()
	waitRoute(t, lab, rtr, vipB, false)
	t.Logf("route %s gone %v after Stop", vipB, time.Since(start).Round(time.Millisecond))
	if err := h.wait(); err != nil {
		t.Errorf("speaker helper: %v", err)
	}

	// A speaker killed with SIGKILL: the kernel closes its TCP session, so
	// the router drops the route without waiting for the hold time.
	h = startHelper(t, dir, cfg)
	h.waitFor(t, "session upstream established")
	h.do(t, "announce "+vipA+" - 0")
	waitRoute(t, lab, rtr, vipA, true)
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitRoute(t, lab, rtr, vipA, false)
	t.Logf("route %s gone %v after SIGKILL of the speaker's process (hold time 3 s)", vipA, time.Since(start).Round(time.Millisecond))
	_ = h.wait()
}

// waitRoute waits, up to a generous bound, until the router's kernel has a
// route to vip (present) or has none.
func waitRoute(t *testing.T, lab *netlab.T, ns, vip string, present bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := lab.MustIn(ns, "ip", "route", "show", vip+"/32")
		if has := strings.Contains(out, vip); has == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("router: route to %s present = %v after 30 s, want %v (ip route: %q)", vip, !present, present, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nsCommand is a program to run inside namespace ns, killed by the kernel
// if the test process dies before it ends it.
func nsCommand(ns string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startInNS starts a program inside namespace ns and ends it by its PID
// when the test ends; its output is logged if the test failed.
func startInNS(t *testing.T, ns string, args ...string) {
	t.Helper()
	cmd := nsCommand(ns, nil, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s in %s: %v", args[0], ns, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s's output:\n%s", args[0], out.String())
		}
	})
}

// helper is the speaker running in the director's namespace: the test
// binary started again as TestSpeakerHelper, driven by lines on its stdin.
type helper struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *strings.Builder
}

func startHelper(t *testing.T, ns string, cfg Config) *helper {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := nsCommand(ns, []string{helperEnv + "=" + string(js)}, self, "-test.run=^TestSpeakerHelper$")
	h := &helper{cmd: cmd, lines: make(chan string, 64), stderr: &strings.Builder{}}
	cmd.Stderr = h.stderr
	if h.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("speaker helper's stderr:\n%s", h.stderr)
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	return h
}

// waitFor reads the helper's lines until one is want.
func (h *helper) waitFor(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				t.Fatalf("speaker helper ended before %q", want)
			}
			if l == want {
				return
			}
		case <-timeout:
			t.Fatalf("speaker helper: no %q in 60 s", want)
		}
	}
}

// do sends one command and waits for its "ok".
func (h *helper) do(t *testing.T, cmd string) {
	t.Helper()
	if _, err := fmt.Fprintln(h.in, cmd); err != nil {
		t.Fatalf("speaker helper: %s: %v", cmd, err)
	}
	h.waitFor(t, "ok "+cmd)
}

func (h *helper) wait() error {
	_ = h.in.Close()
	for range h.lines {
	}
	return h.cmd.Wait()
}

// TestSpeakerHelper is the speaker side of TestSpeakerWithBIRD, run in the
// director's namespace; it does nothing in a normal test run. Commands on
// stdin: "announce VIP COMMUNITY|- MED", "withdraw VIP", "stop"; it prints
// "ok COMMAND" after each and "session NAME STATE" on session changes.
func TestSpeakerHelper(t *testing.T) {
	js := os.Getenv(helperEnv)
	if js == "" {
		t.Skip("helper process of TestSpeakerWithBIRD")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := NewSpeaker(cfg, log, func(sess Session) { fmt.Printf("session %s %s\n", sess.Name, sess.State) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch {
		case f[0] == "announce" && len(f) == 4:
			r := Route{VIP: netip.MustParseAddr(f[1])}
			if f[2] != "-" {
				var as, v uint32
				fmt.Sscanf(f[2], "%d:%d", &as, &v)
				r.Communities = []uint32{as<<16 | v}
			}
			fmt.Sscan(f[3], &r.MED)
			err = s.Announce(r)
		case f[0] == "withdraw" && len(f) == 2:
			err = s.Withdraw(netip.MustParseAddr(f[1]))
		case f[0] == "stop":
			s.Stop()
		default:
			err = fmt.Errorf("unknown command %q", sc.Text())
		}
		if err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		fmt.Printf("ok %s\n", sc.Text())
		if f[0] == "stop" {
			return
		}
	}
}
