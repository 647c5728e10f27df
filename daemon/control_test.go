package daemon

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lvs/admin/api"
	"lvs/admin/cli"
	"lvs/frame"
	"lvs/internal/frametest"
)

// serveAPI serves td's control socket with lvsd's own handler (lvsd.serve)
// until the test ends and returns the socket's path.
func (td *testDaemon) serveAPI(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lvsd-api") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "lvsd.sock")
	l, err := api.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := td.serve(ctx, l, false); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return path
}

// lvsadm runs lvsadm (cli.CLI, as cmd/lvsadm) with args against socket.
func lvsadm(t *testing.T, socket, args string) (stdout, stderr string, code int) {
	t.Helper()
	return lvsadmIn(t, socket, args, "")
}

// lvsadmIn is lvsadm with stdin.
func lvsadmIn(t *testing.T, socket, args, stdin string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cli := cli.CLI{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code = cli.Run(context.Background(), append(strings.Fields(args), "--socket", socket))
	return out.String(), errb.String(), code
}

// TestEditThenDeleteAnotherServer is the crash of issue 16: on the guide's
// NAT site, adding a server, editing it and then deleting another server
// made lvsd panic (editServer deleted from the slice it ranged over) and
// every later request fail.
func TestEditThenDeleteAnotherServer(t *testing.T) {
	td := newTestDaemon(t, guideNAT)
	sock := td.serveAPI(t)
	for _, args := range []string{
		"-a -t 192.168.26.10:80 -r 10.11.12.4:80 -m -w 1",
		"-e -t 192.168.26.10:80 -r 10.11.12.4:80 -m -w 3",
		"-d -t 192.168.26.10:80 -r 10.11.12.1:80",
	} {
		if out, errs, code := lvsadm(t, sock, args); code != 0 || out != "" || errs != "" {
			t.Fatalf("lvsadm %s = exit %d, stdout %q, stderr %q; want exit 0 and silence", args, code, out, errs)
		}
	}
	out, errs, code := lvsadm(t, sock, "-S -n")
	want := "-A -t 192.168.26.10:80 -s wlc\n" +
		"-a -t 192.168.26.10:80 -r 10.11.12.2:80 -m -w 1\n" +
		"-a -t 192.168.26.10:80 -r 10.11.12.3:80 -m -w 2\n" +
		"-a -t 192.168.26.10:80 -r 10.11.12.4:80 -m -w 3\n"
	if code != 0 || out != want || errs != "" {
		t.Errorf("lvsadm -S -n = exit %d, stderr %q,\n%s\nwant\n%s", code, errs, out, want)
	}
	if n := td.logs.count("panic"); n != 0 {
		t.Errorf("%d log lines mention a panic", n)
	}
}

// TestDeleteEveryServer deletes the servers of a block in every order, the
// sibling of the crash: each delete must take exactly its server.
func TestDeleteEveryServer(t *testing.T) {
	orders := [][]string{{"1", "2", "3"}, {"3", "2", "1"}, {"2", "1", "3"}, {"2", "3", "1"}}
	for _, order := range orders {
		t.Run(strings.Join(order, ""), func(t *testing.T) {
			td := newTestDaemon(t, guideNAT)
			left := map[string]bool{"1": true, "2": true, "3": true}
			for _, n := range order {
				td.apply(t, "-d -t 192.168.26.10:80 -r 10.11.12."+n)
				delete(left, n)
				_, st := td.running(t)
				var got []string
				for _, d := range st.Services[0].Dests {
					got = append(got, strings.TrimPrefix(d.Addr.String(), "10.11.12."))
				}
				if len(got) != len(left) {
					t.Fatalf("after deleting %s: servers %v, want %d", n, got, len(left))
				}
				for _, g := range got {
					if !left[g] {
						t.Errorf("after deleting %s: server %s is still in", n, g)
					}
				}
			}
		})
	}
}

// TestControlSurvivesPanic: a request whose handler panics on the
// management goroutine is refused with an error (exit 1 for lvsadm),
// logged once and counted; lvsd keeps answering and forwarding.
func TestControlSurvivesPanic(t *testing.T) {
	td := newTestDaemon(t, guideNAT)
	sock := td.serveAPI(t)
	now := time.Now()
	pub, priv := td.site.ports[0], td.site.ports[1]
	pub.Neigh.Learn(testGw, testGwMAC, now)
	rips := map[netip.Addr]bool{}
	for i := byte(1); i <= 3; i++ {
		rip := netip.AddrFrom4([4]byte{10, 11, 12, i})
		rips[rip] = true
		priv.Neigh.Learn(rip, frame.MAC{2, 0, 0, 0, 1, i}, now)
	}
	vip := netip.AddrPortFrom(netip.MustParseAddr("192.168.26.10"), 80)
	forwarded := func(what string, clientPort uint16) {
		t.Helper()
		client := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), clientPort)
		td.rx[0].Inject(frametest.TCPSyn(client, vip, frametest.WithSrcMAC(testGwMAC), frametest.WithDstMAC(testPubMAC)))
		out := frametest.Decode(td.waitFrame(t, 1, what))
		if out.IP == nil || !rips[netip.AddrFrom4([4]byte(out.IP.DstIP.To4()))] {
			t.Fatalf("%s: the SYN went out as %v, want it sent to a real server", what, out.IP)
		}
	}
	forwarded("before the panic", 40000)

	// The state a bug could leave: a nil server in the block. Every server
	// edit of the service now panics inside the handler.
	if err := td.do(context.Background(), func() {
		v := td.cfg.Virtuals[0]
		v.Servers = append(v.Servers, nil)
	}); err != nil {
		t.Fatal(err)
	}
	_, errs, code := lvsadm(t, sock, "-d -t 192.168.26.10:80 -r 10.11.12.1")
	if code != 1 || !strings.Contains(errs, "internal error") {
		t.Errorf("lvsadm -d over the bad block = exit %d, stderr %q; want exit 1 and the internal error", code, errs)
	}
	forwarded("after the panic", 40001)
	if out, errs, code := lvsadm(t, sock, "-L -n"); code != 0 || !strings.Contains(out, "10.11.12.1:80") {
		t.Errorf("lvsadm -L -n after the panic = exit %d, %q, stdout\n%s\nwant the running table", code, errs, out)
	}
	// The refused edit changed nothing; a direct panic is refused too.
	err := td.do(context.Background(), func() { panic("boom") })
	var pe *PanicError
	if !errors.As(err, &pe) || !errors.Is(err, ErrInternal) || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Errorf("do(panic) = %v, want a *PanicError for boom with its stack", err)
	}
	if n := td.logs.count("control request refused after a panic"); n != 2 {
		t.Errorf("%d log lines for 2 panics, want one each:\n%s", n, td.logs.b.String())
	}
	if got := counterValue(t, td.lvsd, "lvs_control_errors_total", "kind", "panic"); got != 2 {
		t.Errorf("lvs_control_errors_total{kind=panic} = %v, want 2", got)
	}
	// Repaired, the same edit goes through.
	if err := td.do(context.Background(), func() {
		v := td.cfg.Virtuals[0]
		v.Servers = v.Servers[:len(v.Servers)-1]
	}); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := lvsadm(t, sock, "-d -t 192.168.26.10:80 -r 10.11.12.1"); code != 0 {
		t.Errorf("lvsadm -d after the repair = exit %d, %q", code, errs)
	}
	forwarded("after the repair", 40002)
}

// counterValue gathers d's registry, as /metrics does, and returns the
// value of counter name with label=value, or -1 when it is not exported.
func counterValue(t *testing.T, d *lvsd, name, label, value string) float64 {
	t.Helper()
	mfs, err := d.metrics.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}
