//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvs/internal/netlab"
	"lvs/internal/testutil"
)

// TestSmoke runs the kernel contenders (NAT side, DR segment and IPv6 NAT)
// for very short windows on a real topology and checks that the report has numbers
// and that nothing is left behind. It asserts on counts, never on speed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds namespaces and runs traffic for ~20 s")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "taskset")
	// A generous bound, not an expectation: it includes waiting for the
	// simulator's site lock, which the sim tests may hold for minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	out := t.TempDir()
	o := Options{
		Quick: true, Out: out, Reps: 1, Contenders: []string{KernelForward, KernelLB, KernelLBJhash, KernelDR, KernelLB6}, NoScaling: true,
		Warmup: 100 * time.Millisecond, Window: 300 * time.Millisecond, Baseline: 200 * time.Millisecond,
		Flows: 64, LoadPPS: 20_000, ProbeRate: 200, TCPWorkers: 2, GenCPU: -1, DirCPU: -1,
		Log: testWriter{t},
	}
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, name := range o.Contenders {
		c := rep.Contender(name)
		if c == nil || !c.Available || len(c.Runs) != 1 {
			t.Fatalf("contender %s = %+v, want one repetition", name, c)
		}
		x := c.Runs[0]
		if x.Err != "" {
			t.Errorf("%s: %s", name, x.Err)
			continue
		}
		if x.UDP == nil || x.UDP.Delivered == 0 || !x.UDP.CPU.Valid {
			t.Errorf("%s saturation = %+v, want delivered packets and a CPU cost", name, x.UDP)
		}
		if x.Paced == nil || x.Paced.Delivered() == 0 || x.Paced.Latency.Sent == x.Paced.Latency.Lost {
			t.Errorf("%s fixed load = %+v, want delivered packets and answered probes", name, x.Paced)
		}
		switch {
		case isIPv6(name) && x.TCP != nil:
			t.Errorf("%s ran a TCP window: IPv6 contenders run none", name)
		case !isIPv6(name) && (x.TCP == nil || x.TCP.Conns == 0):
			t.Errorf("%s TCP = %+v, want connections", name, x.TCP)
		case !isIPv6(name) && x.TCP.Client.ActiveOpens < x.TCP.Conns/2:
			// Read at the window's edges, a few ms after the connection
			// counts' edges: not equal, but of the client's namespace.
			t.Errorf("%s TCP: the client's namespace counted %d connect()s for %d connections", name, x.TCP.Client.ActiveOpens, x.TCP.Conns)
		}
	}
	// The overload curves: the kernel's DNAT on both placements and the
	// DR reference, each with its flat-out point last.
	if rep.Overload == nil || len(rep.Overload.Curves) != 3 {
		t.Fatalf("overload = %+v, want the curves of klb, kfwd-dr and klb with no RPS", rep.Overload)
	}
	for _, cv := range rep.Overload.Curves {
		if cv.Reason != "" || len(cv.Points) == 0 || cv.Points[len(cv.Points)-1].Target != 0 {
			t.Errorf("overload curve %s = %+v, want points ending flat out", cv.Name(), cv)
			continue
		}
		for _, p := range cv.Points {
			if p.Err != "" || p.Delivered == 0 {
				t.Errorf("overload curve %s point %+v: want delivered packets", cv.Name(), p)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, PlotOverloadNAT)); err != nil {
		t.Errorf("overload plot: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(out, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &Report{}); err != nil {
		t.Errorf("report.json: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, ReportMarkdown)); err != nil {
		t.Errorf("report.md: %v", err)
	}
	if left := Leftovers(); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	if paths, _ := filepath.Glob(filepath.Join(StateDir, "*.json")); len(paths) > 0 {
		for _, p := range paths {
			var st netlab.State
			if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &st) == nil && st.Owner == os.Getpid() {
				t.Errorf("state file left behind: %s", p)
			}
		}
	}
}

// TestSmokeTCPOnly runs the TCP window alone (--tcp-only) for the
// kernel's DNAT with a --during command, and checks that only that window
// ran and that the command ran with its environment.
func TestSmokeTCPOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds namespaces and runs traffic for a few seconds")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "nft", "taskset")
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	out := t.TempDir()
	o := Options{
		Quick: true, Out: out, Reps: 1, Contenders: []string{KernelLB}, TCPOnly: true,
		Warmup: 100 * time.Millisecond, Window: 300 * time.Millisecond, Baseline: 200 * time.Millisecond,
		TCPWorkers: 2, GenCPU: -1, DirCPU: -1, Log: testWriter{t},
		During: `echo "$LVSBENCH_CONTENDER $LVSBENCH_SEQ $LVSBENCH_DIR_CPU"`, // its interrupt: TestDuringEnds
	}
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	c := rep.Contender(KernelLB)
	if c == nil || len(c.Runs) != 1 || c.Runs[0].Err != "" {
		t.Fatalf("contender klb = %+v, want one repetition", c)
	}
	if x := c.Runs[0]; x.UDP != nil || x.Paced != nil || x.TCP == nil || x.TCP.Conns == 0 || rep.Overload != nil || rep.Scaling != nil {
		t.Errorf("--tcp-only ran UDP %v, fixed load %v, TCP %+v, overload %v, scaling %v; want the TCP window alone",
			x.UDP != nil, x.Paced != nil, x.TCP, rep.Overload != nil, rep.Scaling != nil)
	}
	b, err := os.ReadFile(filepath.Join(out, "logs", "during-klb-1.log"))
	if want := fmt.Sprintf("klb 1 %d\n", rep.Settings.DirectorCPU); err != nil || string(b) != want {
		t.Errorf("--during output = %q, %v; want %q", b, err, want)
	}
	for _, n := range rep.Notes {
		if strings.Contains(n, "--during") {
			t.Errorf("note: %s", n)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
