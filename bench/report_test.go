package bench

import (
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvs/config"
)

// sampleReport is a report with a measured kernel LB, a measured lvsd and
// an unavailable lvsd, as a run would produce.
func sampleReport() *Report {
	rep := func(n int, pps, dirNs float64, p99 time.Duration, cps float64) *Rep {
		cpu := CPUCost{Valid: true, DirectorNs: dirNs, MachineNs: 2 * dirNs, UserNs: 100, SystemNs: 200, SoftIRQNs: 300, DirectorBusy: 1}
		return &Rep{Rep: n,
			UDP:   &UDPRun{Window: time.Second, Sent: 500_000, Delivered: uint64(pps), SentPPS: 500_000, DeliveredPPS: pps, CPU: cpu},
			Paced: &PacedRun{Window: time.Second, OfferedPPS: 100_000, SentPPS: 100_000, DeliveredPPS: 100_000, CPU: cpu, Latency: Latency{Sent: 1000, P50: 50 * time.Microsecond, P99: p99}},
			TCP:   &TCPRun{Window: time.Second, Conns: uint64(cps), PerSec: cps, CPU: cpu, Latency: Latency{Sent: int(cps), P50: time.Millisecond, P99: 2 * time.Millisecond}},
		}
	}
	klb := &Contender{Name: KernelLB, Label: "kernel LB (nftables DNAT)", Kind: "kernel", Available: true, Pinning: "CPU1",
		Runs: []*Rep{rep(1, 400_000, 2000, 90*time.Microsecond, 10_000), rep(2, 440_000, 2100, 100*time.Microsecond, 12_000), rep(3, 420_000, 2200, 95*time.Microsecond, 11_000)}}
	lv := &Contender{Name: LVSD1, Label: "lvsd NAT, 1 worker", Kind: "lvsd", Available: true, Pinning: "taskset -c 1",
		Runs: []*Rep{rep(1, 300_000, 3000, 80*time.Microsecond, 9_000), rep(2, 315_000, 3150, 85*time.Microsecond, 9_900), rep(3, 330_000, 3300, 70*time.Microsecond, 8_000)}}
	lv.Runs[1].Paced.ProcNs = 1234
	lv.Runs[0].Mode, lv.Runs[1].Mode, lv.Runs[2].Mode = "afpacket", "afpacket", "tcx"
	lv.Runs[0].UDP.PerServer = []uint64{150_000, 150_000}
	lv.Runs[2].Err = "generator: sendmmsg: broken | pipe"
	gone := &Contender{Name: LVSD2, Label: "lvsd NAT, 2 workers", Kind: "lvsd", Reason: "lvsd exited (exit status 1): lvsd: no dataplane"}
	return &Report{
		Started: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), Duration: 95 * time.Second,
		Machine:    Machine{CPUModel: "AMD EPYC", CPUs: 2, MemGiB: 24, Kernel: "6.18", Go: "go1.26", LoadAvg: "1.0 1.0 1.0"},
		Settings:   Settings{Mode: "quick", Reps: 3, Warmup: 300 * time.Millisecond, Window: time.Second, Baseline: 500 * time.Millisecond, Servers: 2, Flows: 1024, FrameBytes: frameBytes, LoadPPS: 100_000, ProbeRate: 1000, TCPWorkers: 8, GenCPU: 0, DirectorCPU: 1},
		Pinning:    []string{"generator: CPU0", "director: CPU1"},
		Topology:   "cli ══ dir ══ rs\n",
		Contenders: []*Contender{klb, lv, gone},
		Notes:      []string{"a note"},
		Micro:      "BenchmarkX-2   1000   123 ns/op   0 B/op   0 allocs/op\n",
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown(sampleReport())
	for _, want := range []string{
		"| UDP delivered at saturation (pps) | 420,000 (400,000–440,000) | 315,000 (300,000–330,000) | n/a | 0.75× (pairs 0.75×) | n/a |",
		"| lvsd-1w ÷ klb | lvsd-2w ÷ klb |",
		"| figure | kernel LB (nftables DNAT) | lvsd NAT, 1 worker [afpacket, tcx] | lvsd NAT, 2 workers |",
		"| lvsd-1w | lvsd NAT, 1 worker | afpacket, tcx | taskset -c 1 | 3 repetition(s) |",
		"| klb | kernel LB (nftables DNAT) | — | CPU1 |",
		"| lvsd-1w | 3 | tcx | 500,000 | 330,000 |",
		"| CPU per packet at saturation, director core (ns) | 2,100 (2,000–2,200) | 3,150 (3,000–3,300) | n/a | 1.50× (pairs 1.50×) | n/a |",
		"| request latency p99 at fixed load (µs) | 95 (90–100) | 80 (70–85) | n/a | 0.84× (pairs 0.85×) | n/a |",
		"| TCP connections (/s) | 11,000 (10,000–12,000) | 9,000 (8,000–9,900) | n/a | 0.82× (pairs 0.82×) | n/a |",
		"| lvsd process CPU per packet at fixed load (ns) | — | 1,234 | n/a | — | n/a |",
		"| lvsd-2w | lvsd NAT, 2 workers | — | — | **not available:** lvsd exited (exit status 1): lvsd: no dataplane |",
		"generator: sendmmsg: broken \\| pipe",
		"| lvsd-1w | 1 | afpacket | 500,000 | 300,000 | 50/50 % | 100% |",
		"2026-11-25 20:00 UTC (quick mode, 3 repetitions",
		"## Micro-benchmarks (`go test -bench`, benchstat format)\n\n```\nBenchmarkX-2   1000   123 ns/op",
		"- a note",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "NaN") {
		t.Errorf("Markdown shows NaN:\n%s", md)
	}
}

func TestMarkdownNothingMeasured(t *testing.T) {
	r := sampleReport()
	r.Contenders = r.Contenders[2:] // only the unavailable lvsd
	md := Markdown(r)
	if strings.Contains(md, "UDP delivered at saturation") {
		t.Errorf("Markdown has rows although nothing was measured:\n%s", md)
	}
	if !strings.Contains(md, "**not available:**") {
		t.Errorf("Markdown does not say why lvsd-2w did not run")
	}
}

func TestWriteReports(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	r.Contenders[0].Runs[0].UDP.CPU = CPUCost{} // a window with nothing to divide by
	if err := WriteReports(dir, r); err != nil {
		t.Fatalf("WriteReports: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report.json does not decode: %v", err)
	}
	if got := back.Contender(LVSD1).Summary(Figures[0]); got.Median != 315_000 || got.N != 3 {
		t.Errorf("decoded lvsd-1w saturation = %+v, want median 315000 over 3", got)
	}
	if back.Contender(LVSD2).Available || back.Contender(LVSD2).Reason == "" {
		t.Errorf("decoded lvsd-2w = %+v, want unavailable with a reason", back.Contender(LVSD2))
	}
	if _, err := os.Stat(filepath.Join(dir, ReportMarkdown)); err != nil {
		t.Errorf("report.md: %v", err)
	}
}

func TestSummarySkipsInvalidCPU(t *testing.T) {
	r := sampleReport()
	klb := r.Contender(KernelLB)
	klb.Runs[0].UDP.CPU = CPUCost{}
	f := figure("CPU per packet at saturation, director core")
	if got := klb.Summary(f); got.N != 2 || got.Min != 2100 {
		t.Errorf("Summary(%s) = %+v, want the 2 valid repetitions", f.Name, got)
	}
}

func TestNum(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{{0, "0"}, {999, "999"}, {1234, "1,234"}, {1234567.6, "1,234,568"}, {-4321, "-4,321"}, {2.345, "2.35"}, {math.NaN(), "—"}}
	for _, tt := range tests {
		if got := num(tt.in); got != tt.want {
			t.Errorf("num(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSiteConfig(t *testing.T) {
	reals := []netip.Addr{netip.MustParseAddr("10.0.2.11"), netip.MustParseAddr("10.0.2.12")}
	c := siteConfig(siteSpec{primary: netip.MustParseAddr("10.0.1.1"), vip: netip.MustParseAddr("10.0.1.100"),
		natRouter: netip.MustParseAddr("10.0.2.254"), reals: reals, udpPort: 9000, tcpPort: 8080})
	text, err := formatSite(c)
	if err != nil {
		t.Fatalf("formatSite: %v", err)
	}
	for _, want := range []string{"network = nat", "nat_router = 10.0.2.254 eth1:1", "protocol = udp", "port = 9000", "port = 8080", "scheduler = rr", "address = 10.0.2.12"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("lvs.cf lacks %q:\n%s", want, text)
		}
	}
	rules := kernelLBRules(c, "t", pickNumgen)
	for _, want := range []string{
		"ip daddr 10.0.1.100 udp dport 9000 dnat to numgen inc mod 2 map { 0 : 10.0.2.11, 1 : 10.0.2.12 }",
		"ip daddr 10.0.1.100 tcp dport 8080 dnat to numgen inc mod 2 map { 0 : 10.0.2.11, 1 : 10.0.2.12 }",
		"type nat hook prerouting priority dstnat",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("kernel rules lack %q:\n%s", want, rules)
		}
	}
	rules = kernelLBRules(c, "t", pickJhash)
	for _, want := range []string{
		"ip daddr 10.0.1.100 udp dport 9000 dnat to jhash ip saddr . udp sport mod 2 map { 0 : 10.0.2.11, 1 : 10.0.2.12 }",
		"ip daddr 10.0.1.100 tcp dport 8080 dnat to jhash ip saddr . tcp sport mod 2 map",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("jhash rules lack %q:\n%s", want, rules)
		}
	}
	dr := siteConfig(siteSpec{primary: netip.MustParseAddr("10.0.1.1"), vip: netip.MustParseAddr("10.0.3.100"), vipDevice: "eth1:1",
		direct: true, reals: reals, udpPort: 9000, sched: config.SchedSH})
	text, err = formatSite(dr)
	if err != nil {
		t.Fatalf("formatSite(direct): %v", err)
	}
	for _, want := range []string{"network = direct", "address = 10.0.3.100 eth1:1", "scheduler = sh"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("direct lvs.cf lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "nat_router") || strings.Contains(string(text), "port = 8080") {
		t.Errorf("direct lvs.cf without TCP has nat_router or a TCP service:\n%s", text)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Quick: true}.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if o.Reps < 2 || o.Window <= 0 || len(o.Contenders) != len(DefaultContenders) {
		t.Errorf("quick defaults = %+v", o)
	}
	full, err := DefaultOptions(false).withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if full.Reps < 3 {
		t.Errorf("full mode runs %d repetitions, want at least 3", full.Reps)
	}
	// quick must fit 3 minutes, full 16 (11 with three repetitions), with
	// every contender, the overload curves and the scaling phase; 15 s go
	// to building lvsd and the topology.
	for _, x := range []struct {
		o     Options
		limit time.Duration
	}{{o, 3 * time.Minute}, {full, 16 * time.Minute}} {
		if total := x.o.plan(); total > x.limit-15*time.Second {
			t.Errorf("mode quick=%v plans %v, over its %v budget", x.o.Quick, total, x.limit)
		}
	}
	if _, err := (Options{Contenders: []string{"ipvs"}}).withDefaults(); err == nil {
		t.Errorf("withDefaults accepted an unknown contender")
	}
	if _, err := (Options{Reps: 100}).withDefaults(); err == nil {
		t.Errorf("withDefaults accepted 100 repetitions")
	}
	if o.DuringWindow != duringTCP {
		t.Errorf("--during runs over %q windows by default, want tcp", o.DuringWindow)
	}
	for _, bad := range []Options{{DuringWindow: "overload"}, {DuringWindow: duringSaturation, TCPOnly: true}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("withDefaults accepted --during-window %q (tcp-only %v)", bad.DuringWindow, bad.TCPOnly)
		}
	}
	if _, err := (Options{DuringWindow: duringFixed}).withDefaults(); err != nil {
		t.Errorf("--during-window fixed: %v", err)
	}
}

// TestGeneratorBound: a saturation pair whose director core had room
// while the generator's was full is said to measure the generator; one
// whose director cores were full is not.
func TestGeneratorBound(t *testing.T) {
	r := sampleReport()
	klb, lv := r.Contender(KernelLB), r.Contender(LVSD1)
	if n := generatorBound(lv, klb); n != "" {
		t.Errorf("director cores full: %q, want no note", n)
	}
	for _, c := range []*Contender{klb, lv} {
		for _, x := range c.Runs {
			x.UDP.GeneratorBusy = 1
		}
	}
	if n := generatorBound(lv, klb); n != "" {
		t.Errorf("both cores full: %q, want no note", n)
	}
	for _, x := range lv.Runs {
		x.UDP.CPU.DirectorBusy = 0.8
	}
	want := "**lvsd-1w ÷ klb at saturation was bound by the generator's core**, not the director's: the director core was 80 % and 100 % busy, the generator's 100 % and 100 %"
	if n := generatorBound(lv, klb); !strings.HasPrefix(n, want) {
		t.Errorf("generatorBound = %q, want it to start %q", n, want)
	}
	if md := Markdown(r); !strings.Contains(md, "| director core busy at saturation (%) | 100 | 80 | n/a | | |") ||
		!strings.Contains(md, "- "+want) {
		t.Errorf("the report has no busy rows or no note:\n%s", md)
	}
}

// TestUnstolen measures a window again while the hypervisor took a core
// during it, up to StealRetries times, and keeps the last one; the
// report's note counts both.
func TestUnstolen(t *testing.T) {
	var log strings.Builder
	for _, c := range []struct {
		retries int
		steals  []float64
		want    int // windows measured
	}{{2, []float64{0}, 1}, {2, []float64{0.01, 0}, 2}, {2, []float64{0.01, 0.02, 0.03, 0}, 3}, {0, []float64{0.01, 0}, 1}} {
		r := &runner{o: Options{StealRetries: c.retries}, con: newConsole(&log)}
		x := &Rep{Rep: 1}
		n := 0
		w, err := unstolen(r, x, duringFixed, func() (*PacedRun, error) {
			p := &PacedRun{CPU: CPUCost{Steal: c.steals[n]}}
			n++
			return p, nil
		})
		if err != nil || n != c.want || w.CPU.Steal != c.steals[n-1] || len(x.Remeasured) != n-1 {
			t.Errorf("retries %d, steals %v: measured %d windows (kept steal %v, remeasured %v), want %d",
				c.retries, c.steals, n, w.CPU.Steal, x.Remeasured, c.want)
		}
	}
	if !strings.Contains(log.String(), "measuring it again") {
		t.Errorf("no log line for a window measured again:\n%s", log.String())
	}
	r := sampleReport()
	r.Settings.StealRetries = 2
	if n := stealNote(r); n != "" {
		t.Errorf("no steal: note %q, want none", n)
	}
	lv := r.Contender(LVSD1)
	tcpRate := figure("TCP connections")
	if got := lv.Summary(tcpRate); got.N != 3 || got.Median != 9_000 {
		t.Fatalf("TCP connections/s before: %+v, want the median of 3 windows, 9,000", got)
	}
	// One TCP window kept with steal, two without: the figures leave it
	// out (its 8,000 connections/s), and the note counts it.
	lv.Runs[2].Remeasured = []string{duringTCP, duringTCP}
	lv.Runs[2].TCP.CPU.Steal = 0.005
	want := "during 2 windows, measured again (up to 2 times: --steal-retries), and 1 windows kept with it, 1 of which the figures leave out " +
		"(a contender's windows of a kind with steal, where it has at least 2 of that kind without) (contender: again/kept/left out: lvsd-1w 2/1/1)."
	if n := stealNote(r); !strings.HasSuffix(n, want) || !strings.Contains(Markdown(r), want) {
		t.Errorf("stealNote = %q, want it to end %q and to be in the report", n, want)
	}
	if got := lv.Summary(tcpRate); got.N != 2 || got.Median != 9_450 {
		t.Errorf("TCP connections/s with a stolen window: %+v, want the median of the 2 others, 9,450", got)
	}
	if xs := lv.ByRep(tcpRate, 3); !math.IsNaN(xs[2]) || xs[0] != 9_000 {
		t.Errorf("ByRep with a stolen window = %v, want it NaN", xs)
	}
	if got := lv.Summary(figure("UDP delivered at saturation")); got.N != 3 {
		t.Errorf("saturation windows counted: %d, want 3 (only a TCP window had steal)", got.N)
	}
	// With a second stolen TCP window one is left without steal: too few
	// to choose, every window counts again.
	lv.Runs[1].TCP.CPU.Steal = 0.01
	if got := lv.Summary(tcpRate); got.N != 3 {
		t.Errorf("TCP windows counted with 2 of 3 stolen: %d, want all 3", got.N)
	}
}
