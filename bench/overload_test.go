package bench

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLoadTargets(t *testing.T) {
	tests := []struct {
		name string
		max  float64
		n    int
		want []float64
	}{
		{"doubling", 800_000, 5, []float64{50_000, 100_000, 200_000, 400_000}},
		{"six points to 1.37M", 1_370_000, 6, []float64{50_000, 97_000, 188_000, 364_000, 707_000}},
		{"max at the floor", overloadFloor, 6, nil},
		{"max below the floor", 30_000, 6, nil},
		{"one point", 1e6, 1, nil},
		{"no max", math.NaN(), 6, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadTargets(tt.max, tt.n); !slices.Equal(got, tt.want) {
				t.Errorf("loadTargets(%v, %d) = %v, want %v", tt.max, tt.n, got, tt.want)
			}
		})
	}
	// The full mode's eight points: rising, below the maximum.
	got := loadTargets(1_400_000, 8)
	if len(got) != 7 || got[0] != overloadFloor || !slices.IsSorted(got) || got[6] >= 1_400_000 {
		t.Errorf("loadTargets(1.4M, 8) = %v, want 7 rising rates from %d below 1.4M", got, overloadFloor)
	}
}

func TestCollapse(t *testing.T) {
	pt := func(sent, delivered float64) LoadPoint { return LoadPoint{Sent: sent, Delivered: delivered} }
	failed := LoadPoint{Sent: 900_000, Err: "generator: sendmmsg: broken"}
	tests := []struct {
		name             string
		points           []LoadPoint
		ok, pass         bool
		peak, low, share float64
	}{
		{"rises and holds", []LoadPoint{pt(50e3, 50e3), pt(200e3, 200e3), pt(800e3, 600e3), pt(1.4e6, 580e3)}, true, true, 600e3, 580e3, 580.0 / 600},
		{"collapses at flat out", []LoadPoint{pt(50e3, 50e3), pt(200e3, 199e3), pt(700e3, 650e3), pt(1.37e6, 701)}, true, false, 650e3, 701, 701.0 / 650e3},
		{"dips and recovers", []LoadPoint{pt(50e3, 50e3), pt(400e3, 400e3), pt(700e3, 300e3), pt(1.4e6, 390e3)}, true, false, 400e3, 300e3, 0.75},
		{"peak at flat out", []LoadPoint{pt(50e3, 50e3), pt(100e3, 100e3), pt(900e3, 880e3)}, true, true, 880e3, 880e3, 1},
		{"low points before the peak do not count", []LoadPoint{pt(50e3, 50e3), pt(1e6, 1e6)}, true, true, 1e6, 1e6, 1},
		{"exactly 90 %", []LoadPoint{pt(50e3, 50e3), pt(500e3, 500e3), pt(1e6, 450e3)}, true, true, 500e3, 450e3, 0.9},
		{"failed points are skipped", []LoadPoint{pt(50e3, 50e3), failed, pt(1e6, 500e3)}, true, true, 500e3, 500e3, 1},
		{"flat out offered less than the peak, all delivered", []LoadPoint{pt(50e3, 50e3), pt(519e3, 519e3), pt(337e3, 337e3)}, true, true, 519e3, 519e3, 1},
		{"flat out offered less than the peak, a third lost", []LoadPoint{pt(50e3, 50e3), pt(519e3, 519e3), pt(337e3, 225e3)}, true, false, 519e3, 225e3, 225.0 / 337},
		{"one point", []LoadPoint{pt(1e6, 500e3)}, false, false, 0, 0, 0},
		{"nothing delivered", []LoadPoint{pt(50e3, 0), pt(1e6, 0)}, true, false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LoadCurve{Points: tt.points}.Collapse()
			if got.OK != tt.ok || got.Pass != tt.pass || got.Peak.Delivered != tt.peak || got.Lowest.Delivered != tt.low || math.Abs(got.Share-tt.share) > 1e-9 {
				t.Errorf("Collapse() = %+v, want ok %v pass %v peak %v lowest %v share %v", got, tt.ok, tt.pass, tt.peak, tt.low, tt.share)
			}
		})
	}
}

func TestOverloadPlan(t *testing.T) {
	tests := []struct {
		contenders []string
		want       []loadCurveSpec
	}{
		{AllContenders, []loadCurveSpec{
			{KernelLB, PlacementFair}, {LVSD1, PlacementFair}, {LVSDAFP, PlacementFair}, {KernelDR, PlacementFair}, {LVSDDR, PlacementFair},
			{KernelLB, PlacementNoRPS}, {LVSD1, PlacementNoRPS},
		}},
		{[]string{LVSDAFP, KernelLB}, []loadCurveSpec{{KernelLB, PlacementFair}, {LVSDAFP, PlacementFair}, {KernelLB, PlacementNoRPS}}},
		{[]string{KernelForward, LVSD2}, nil},
	}
	for _, tt := range tests {
		if got := overloadPlan(tt.contenders); !slices.Equal(got, tt.want) {
			t.Errorf("overloadPlan(%v) = %v, want %v", tt.contenders, got, tt.want)
		}
	}
}

func TestOverloadTimeInPlan(t *testing.T) {
	o, err := Options{Quick: true}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	off := o
	off.NoOverload = true
	warmup, window := o.overloadWindows()
	min := 7 * time.Duration(o.overloadSteps()) * (warmup + window) // seven curves' windows at least
	if d := o.plan() - off.plan(); d < min {
		t.Errorf("the overload phase adds %v to the plan, want at least %v", d, min)
	}
}

// sampleOverload is an overload phase as a run would record it: the
// kernel's DNAT and lvsd holding, lvsd on AF_PACKET collapsing, a no-RPS
// lvsd curve, and an lvsd curve that could not run.
func sampleOverload() *Overload {
	curve := func(name, placement, kind, mode string, delivered ...float64) LoadCurve {
		c := LoadCurve{Contender: name, Path: pathOf(name), Placement: placement, Kind: kind, Mode: mode}
		sent := []float64{50e3, 97e3, 188e3, 364e3, 706e3, 1.37e6}
		for i, d := range delivered {
			target := sent[i]
			if i == len(delivered)-1 {
				target = 0
			}
			c.Points = append(c.Points, LoadPoint{Target: target, Sent: sent[i], Delivered: d, DirBusy: 0.5, GenBusy: 1, DirDrops: sent[i] - d})
		}
		return c
	}
	lv := curve(LVSD1, PlacementFair, "lvsd", "tcx", 50e3, 97e3, 188e3, 364e3, 700e3, 690e3)
	// A probe that delivered more than any point: it is not one of them.
	lv.Probe = &LoadPoint{Sent: 1.4e6, Delivered: 1.2e6, DirBusy: 1, GenBusy: 1, DirDrops: 2e5, GenDrops: 10}
	return &Overload{Curves: []LoadCurve{
		curve(KernelLB, PlacementFair, "kernel", "", 50e3, 97e3, 188e3, 364e3, 590e3, 585e3),
		lv,
		curve(LVSDAFP, PlacementFair, "lvsd", "afpacket", 50e3, 97e3, 188e3, 300e3, 120e3, 701),
		curve(LVSD1, PlacementNoRPS, "lvsd", "tcx", 50e3, 97e3, 188e3, 364e3, 706e3, 900e3),
		{Contender: LVSDDR, Path: "DR", Placement: PlacementFair, Kind: "lvsd", Reason: "lvsd exited (exit status 2): flag provided but not defined: -dataplane"},
	}}
}

func TestOverloadReport(t *testing.T) {
	r := sampleReport()
	r.Overload = sampleOverload()
	md := Markdown(r)
	for _, want := range []string{
		"## Overload: delivered against offered pps",
		"| curve | path | placement | lvsd dataplane mode | 1 | 2 | 3 | 4 | 5 | 6 (flat out) | peak delivered |",
		"| klb | NAT | fair: receive (RPS) and lvsd on CPU1 | — | 50.0k → 50.0k | 97.0k → 97.0k | 188k → 188k | 364k → 364k | 706k → 590k | 1,370k → 585k | 590k at 706k offered | 585k at 1,370k offered | no target (99 %) |",
		"| lvsd-afp | NAT | fair: receive (RPS) and lvsd on CPU1 | afpacket |",
		"| 300k at 364k offered | 0.7k at 1,370k offered | **FAIL** (0 %) |",
		"| lvsd-1w | NAT | no RPS: receive on CPU0 (the generator's) | tcx |",
		"| lvsd-dr | DR | fair: receive (RPS) and lvsd on CPU1 | — | **not available:** lvsd exited (exit status 2): flag provided but not defined: -dataplane |",
		"- **no collapse** lvsd-1w (fair placement, dataplane tcx): pass: the weakest point from its peak on delivered 690,000 pps of 1,370,000 offered, 99 % of the lesser of that offer and its peak 700,000 pps at 706,000 offered (target ≥ 90 %)",
		"- **no collapse** lvsd-afp (fair placement, dataplane afpacket): **FAIL**: the weakest point from its peak on delivered 701 pps",
		"![overload-nat](" + PlotOverloadNAT + ")",
		"| lvsd-afp [afpacket] | flat out | 1,370,000 | 701 | 0 % | 50 % | 100 % | 1,369,299 | 0 |  |",
		"| lvsd-1w no-RPS [tcx] | 50,000 | 50,000 | 50,000 | 100 % |",
		"| lvsd-1w [tcx] | flat out, first: the maximum that sets the steps | 1,400,000 | 1,200,000 | 86 % | 100 % | 100 % | 200,000 | 10 |  |\n| lvsd-1w [tcx] | 50,000 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "![overload-dr]") {
		t.Errorf("Markdown links a DR plot although no DR curve was measured")
	}
	if strings.Contains(md, "no collapse** klb") {
		t.Errorf("Markdown states the lvsd target for the kernel")
	}
	// The overload section sits between the headline and the contenders.
	if i, j, k := strings.Index(md, "## Results"), strings.Index(md, "## Overload"), strings.Index(md, "## Contenders"); !(i < j && j < k) {
		t.Errorf("sections at %d, %d, %d: want Results, Overload, Contenders", i, j, k)
	}

	dir := t.TempDir()
	if err := WriteReports(dir, r); err != nil {
		t.Fatalf("WriteReports: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, PlotOverloadNAT))
	if err != nil {
		t.Fatalf("plot: %v", err)
	}
	elems, text := parseSVG(t, b)
	if got := count(elems, "polyline"); got != 5 { // four curves and the all-delivered guide
		t.Errorf("NAT plot has %d lines, want 5", got)
	}
	if !strings.Contains(string(b), `stroke-dasharray`) {
		t.Errorf("the all-delivered guide is not dashed")
	}
	if got := count(elems, "circle"); got != 24 {
		t.Errorf("NAT plot has %d markers, want 24 (the guide has none)", got)
	}
	for _, want := range []string{"klb", "lvsd-1w [tcx]", "lvsd-afp [afpacket]", "lvsd-1w no-RPS [tcx]", "all delivered"} {
		if !slices.Contains(strings.Split(text, "|"), want) {
			t.Errorf("NAT plot lacks the legend %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, PlotOverloadDR)); !os.IsNotExist(err) {
		t.Errorf("a DR plot was written without a measured DR curve (%v)", err)
	}
}

// TestOverloadPlotOrder checks that a curve is drawn by rising sent pps
// (the flat-out point is measured first but sent the most) and that the
// legend widens the plot instead of running off its edge.
func TestOverloadPlotOrder(t *testing.T) {
	ov := &Overload{Curves: []LoadCurve{{Contender: LVSD1, Path: "NAT", Kind: "lvsd", Mode: "a-rather-long-mode-name",
		Points: []LoadPoint{{Target: 50e3, Sent: 50e3, Delivered: 50e3}, {Target: 0, Sent: 1e6, Delivered: 600e3}, {Target: 200e3, Sent: 200e3, Delivered: 200e3}}}}}
	p := ov.plots()[PlotOverloadNAT]
	if len(p.Series) != 2 || !p.Series[1].Guide {
		t.Fatalf("series = %+v, want the curve and a guide", p.Series)
	}
	var xs []float64
	for _, pt := range p.Series[0].Points {
		xs = append(xs, pt.X)
	}
	if !slices.Equal(xs, []float64{50e3, 200e3, 1e6}) {
		t.Errorf("points drawn at x = %v, want rising sent pps", xs)
	}
	g := p.Series[1].Points
	if len(g) < 10 || g[0] != (Point{50e3, 50e3}) || math.Abs(g[len(g)-1].X-1e6) > 1e-6 {
		t.Errorf("guide = %v, want y = x over the sent range, finely sampled", g)
	}
	for _, pt := range g {
		if pt.X != pt.Y || pt.X < 50e3 || pt.X > 1e6+1e-6 {
			t.Errorf("guide point %v is not on y = x within the sent range", pt)
		}
	}
	if p.legendExtra() <= 0 {
		t.Errorf("legend %q fits the default width?", p.Series[0].Name)
	}
	if !strings.Contains(string(p.SVG()), `width="`+strconv.Itoa(plotW+p.legendExtra())+`"`) {
		t.Errorf("SVG is not widened for its legend")
	}
}

func TestKpps(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{{49_950, "50.0k"}, {701, "0.7k"}, {137_400, "137k"}, {1_370_000, "1,370k"}, {math.NaN(), "—"}}
	for _, tt := range tests {
		if got := kpps(tt.in); got != tt.want {
			t.Errorf("kpps(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDataplaneMode(t *testing.T) {
	tests := []struct {
		name, metrics, want string
	}{
		{"tcx", "# HELP lvs_dataplane_mode the dataplane mode\n# TYPE lvs_dataplane_mode gauge\nlvs_dataplane_mode{mode=\"tcx\"} 1\nlvs_up 1\n", "tcx"},
		{"the chosen one of several", "lvs_dataplane_mode{mode=\"tcx\"} 0\nlvs_dataplane_mode{mode=\"afpacket\"} 1\n", "afpacket"},
		{"a mode named with a plus", "lvs_dataplane_mode{mode=\"tcx+afpacket\"} 1\n", "tcx+afpacket"},
		{"two at once", "lvs_dataplane_mode{mode=\"tcx\"} 1\nlvs_dataplane_mode{mode=\"afpacket\"} 1\n", "tcx, afpacket"},
		{"more labels", "lvs_dataplane_mode{iface=\"eth0\",mode=\"afpacket\"} 1\n", "afpacket"},
		{"none reported", "lvs_connection_table_entries 3\n", ""},
		{"a longer name is not it", "lvs_dataplane_modes{mode=\"x\"} 1\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dataplaneMode(tt.metrics); got != tt.want {
				t.Errorf("dataplaneMode() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMetricValue(t *testing.T) {
	text := "lvs_connection_table_entries_max 9\nlvs_connection_table_entries 1234\n"
	if v, err := metricValue(text, "lvs_connection_table_entries"); err != nil || v != 1234 {
		t.Errorf("metricValue = %v, %v; want 1234", v, err)
	}
	if _, err := metricValue(text, "lvs_nothing"); err == nil {
		t.Errorf("metricValue found a metric that is not there")
	}
}
