package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Overload is the overload phase of a run: for each contender, delivered
// pps against offered pps, from overloadFloor up to what the generator
// sends flat out.
type Overload struct {
	Curves []LoadCurve `json:"curves"`
	Notes  []string    `json:"notes,omitempty"`
}

// Placements of an overload curve.
const (
	// PlacementFair is the repetitions' placement: the director's receive
	// work steered by RPS to the director core, where lvsd runs too.
	PlacementFair = "fair"
	// PlacementNoRPS leaves the director's receive work on the core that
	// sends the frames, the generator's; lvsd stays on the director core.
	// It is not fair to the kernel (whose forwarding then shares the
	// generator's core); it only locates the limit.
	PlacementNoRPS = "no-rps"
)

// LoadCurve is one contender's overload curve on one placement. A curve
// that could not be measured has Reason and no points.
type LoadCurve struct {
	Contender string `json:"contender"`
	Path      string `json:"path"` // NAT or DR
	Placement string `json:"placement"`
	Kind      string `json:"kind"` // kernel or lvsd
	// Mode is the dataplane mode lvsd reported in its /metrics ("" for
	// the kernel, or when lvsd reported none).
	Mode   string `json:"dataplane_mode,omitempty"`
	Reason string `json:"unavailable,omitempty"`
	// Probe is the first flat-out window, which finds the generator's
	// maximum towards this contender and so the paced steps; it is not
	// one of the curve's points.
	Probe *LoadPoint `json:"probe,omitempty"`
	// Points are in the order measured, which is the order of rising
	// offered load: the paced steps, then flat out.
	Points []LoadPoint `json:"points,omitempty"`
}

// LoadPoint is one window of an overload curve.
type LoadPoint struct {
	// Target is the generator's paced rate; 0 for flat out (the curve's
	// maximum).
	Target    float64 `json:"target_pps"`
	Sent      float64 `json:"sent_pps"`
	Delivered float64 `json:"delivered_pps"`
	// DirBusy and GenBusy are the director's and the generator's cores'
	// busy shares over the window (everything on them, no baseline
	// taken off): where the work went.
	DirBusy float64 `json:"director_core_busy"`
	GenBusy float64 `json:"generator_core_busy"`
	// DirDrops and GenDrops are the frames per second each core's
	// receive backlog dropped, full (/proc/net/softnet_stat; the whole
	// machine's, not only the run's): the director core's backlog takes
	// the requests steered to it by RPS on the fair placement.
	DirDrops float64 `json:"director_backlog_drops_pps"`
	GenDrops float64 `json:"generator_backlog_drops_pps"`
	Err      string  `json:"error,omitempty"`
}

// overloadFloor is the lowest offered rate of an overload curve.
const overloadFloor = 50_000

// collapseFloor is the share of its own peak a curve must keep at every
// load at or beyond the peak's (issue 15's target for lvsd).
const collapseFloor = 0.9

// overloadSteps is the number of points of each overload curve, the last
// one flat out.
func (o Options) overloadSteps() int {
	if o.Quick {
		return 6
	}
	return 8
}

// overloadWindows are the warm-up and window of each overload point.
func (o Options) overloadWindows() (warmup, window time.Duration) {
	if o.Quick {
		return min(o.Warmup, 200*time.Millisecond), min(o.Window, 400*time.Millisecond)
	}
	return min(o.Warmup, 500*time.Millisecond), min(o.Window, time.Second)
}

// overloadTime estimates how long the overload phase of a run with o
// takes (plan adds it to the run's budget).
func (o Options) overloadTime() time.Duration {
	if o.NoOverload {
		return 0
	}
	const setup = 700 * time.Millisecond // as in plan: a contender starts and stops in about 0.5 s
	warmup, window := o.overloadWindows()
	curves := time.Duration(len(overloadPlan(o.Contenders)))
	return curves * (setup + time.Duration(o.overloadSteps()+1)*(warmup+window)) // the steps and the probe
}

// loadTargets returns the paced rates of a curve of n points whose flat-out
// point sent max pps: n-1 rates in geometric steps from overloadFloor
// towards max, rounded to 1,000 (max itself is the flat-out point). None
// when max is not above the floor.
func loadTargets(max float64, n int) []float64 {
	if n < 2 || !(max > overloadFloor) || math.IsInf(max, 0) {
		return nil
	}
	r := math.Pow(max/overloadFloor, 1/float64(n-1))
	out := make([]float64, n-1)
	for i := range out {
		out[i] = math.Round(overloadFloor*math.Pow(r, float64(i))/1000) * 1000
	}
	return out
}

// loadCurveSpec names one overload curve to measure.
type loadCurveSpec struct{ contender, placement string }

// overloadPlan lists the curves of a run over contenders, in the order they
// are measured: NAT (the kernel's DNAT, lvsd's default mode, lvsd on
// AF_PACKET alone) and DR on the fair placement, then the kernel's DNAT
// and lvsd's default mode with no RPS (all the no-RPS curves together, so
// the director's steering changes twice).
func overloadPlan(contenders []string) []loadCurveSpec {
	var out []loadCurveSpec
	for _, c := range []string{KernelLB, LVSD1, LVSDAFP, KernelDR, LVSDDR} {
		if slices.Contains(contenders, c) {
			out = append(out, loadCurveSpec{c, PlacementFair})
		}
	}
	for _, c := range []string{KernelLB, LVSD1} {
		if slices.Contains(contenders, c) {
			out = append(out, loadCurveSpec{c, PlacementNoRPS})
		}
	}
	return out
}

// pathOf is the path a contender works on: DR or NAT.
func pathOf(contender string) string {
	if contender == KernelDR || contender == LVSDDR {
		return "DR"
	}
	return "NAT"
}

// Name is the curve's name in tables and plots: the contender, the
// placement when not the fair one, and lvsd's mode.
func (c LoadCurve) Name() string {
	n := c.Contender
	if c.Placement == PlacementNoRPS {
		n += " no-RPS"
	}
	if c.Kind == "lvsd" {
		n += " [" + modeText(c.Mode) + "]"
	}
	return n
}

// modeText is lvsd's dataplane mode for the report.
func modeText(mode string) string {
	if mode == "" {
		return "mode not reported"
	}
	return mode
}

// Collapse is the no-collapse check of one curve: its peak delivered pps,
// and the weakest point after it (points in the order of rising offered
// load: paced steps up, then flat out). A point after the peak must
// deliver its share of the lesser of the peak and what it was offered:
// the flat-out step is offered what the generator can send, which is
// sometimes less than the step before it sent (its core also runs the
// switch's receive, and this VM slows down), and a director that
// delivers all of a smaller offer has not collapsed.
type Collapse struct {
	Peak, Lowest LoadPoint
	// Share is Lowest.Delivered ÷ the lesser of Peak.Delivered and
	// Lowest.Sent.
	Share float64
	// Pass is Share ≥ collapseFloor.
	Pass bool
	// OK is false when the curve has fewer than two measured points.
	OK bool
}

// Collapse checks c for collapse.
func (c LoadCurve) Collapse() Collapse {
	var pts []LoadPoint
	for _, p := range c.Points {
		if p.Err == "" && p.Sent > 0 {
			pts = append(pts, p)
		}
	}
	if len(pts) < 2 {
		return Collapse{}
	}
	peak := 0
	for i, p := range pts {
		if p.Delivered > pts[peak].Delivered {
			peak = i
		}
	}
	share := func(p LoadPoint) float64 {
		if d := min(pts[peak].Delivered, p.Sent); d > 0 {
			return p.Delivered / d
		}
		return 0
	}
	low := peak
	for i := peak; i < len(pts); i++ {
		if share(pts[i]) < share(pts[low]) {
			low = i
		}
	}
	out := Collapse{Peak: pts[peak], Lowest: pts[low], OK: true}
	if pts[peak].Delivered > 0 {
		out.Share = share(pts[low])
	}
	out.Pass = pts[peak].Delivered > 0 && out.Share >= collapseFloor
	return out
}

// Plot file names of the overload curves, next to the report.
const (
	PlotOverloadNAT = "overload-nat.svg"
	PlotOverloadDR  = "overload-dr.svg"
)

// plots returns the overload plots by file name: one per path that has a
// measured curve, delivered against sent pps, with the line where
// everything offered is delivered.
func (ov *Overload) plots() map[string]Plot {
	out := map[string]Plot{}
	for _, x := range []struct{ path, file string }{{"NAT", PlotOverloadNAT}, {"DR", PlotOverloadDR}} {
		var series []Series
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, c := range ov.Curves {
			if c.Path != x.path || len(c.Points) == 0 {
				continue
			}
			s := Series{Name: c.Name()}
			for _, p := range sortedBySent(c.Points) {
				if p.Err != "" || p.Sent <= 0 {
					continue
				}
				s.Points = append(s.Points, Point{p.Sent, p.Delivered})
				lo, hi = min(lo, p.Sent), max(hi, p.Sent)
			}
			series = append(series, s)
		}
		if len(series) == 0 {
			continue
		}
		if lo < hi {
			// y = x, sampled finely enough to be drawn as the curve it
			// is on a log x axis.
			g := Series{Name: "all delivered", Guide: true}
			for i := range guidePoints {
				x := lo * math.Pow(hi/lo, float64(i)/(guidePoints-1))
				g.Points = append(g.Points, Point{x, x})
			}
			series = append(series, g)
		}
		out[x.file] = Plot{Title: fmt.Sprintf("%s: delivered against offered UDP pps", x.path),
			XLabel: "offered pps (generator sent; log)", YLabel: "delivered pps", LogX: true, Series: series}
	}
	return out
}

// guidePoints is how many points draw the all-delivered line.
const guidePoints = 33

// sortedBySent returns ps ordered by sent pps, for drawing.
func sortedBySent(ps []LoadPoint) []LoadPoint {
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b LoadPoint) int {
		switch {
		case a.Sent < b.Sent:
			return -1
		case a.Sent > b.Sent:
			return 1
		}
		return 0
	})
	return out
}

// kpps formats a rate in thousands: 49.9k, 137k, 1,370k; "—" for NaN.
func kpps(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "—"
	case x < 100_000:
		return fmt.Sprintf("%.1fk", x/1000)
	}
	return num(math.Round(x/1000)) + "k"
}

// placementText describes a placement for the report.
func placementText(placement string, s Settings) string {
	if placement == PlacementNoRPS {
		return fmt.Sprintf("no RPS: receive on CPU%d (the generator's)", s.GenCPU)
	}
	return fmt.Sprintf("fair: receive (RPS) and lvsd on CPU%d", s.DirectorCPU)
}

// writeOverload renders the overload phase into the report.
func writeOverload(b *strings.Builder, ov *Overload, s Settings) {
	w := func(f string, a ...any) { fmt.Fprintf(b, f, a...) }
	w("## Overload: delivered against offered pps\n\n")
	w("Each curve sets its contender up once and runs the generator flat out to find the most it sends to that contender (that probe window is listed under every point, not drawn), then measures paced at %s pps and in geometric steps up towards that maximum, then flat out again (the last point); each window %s after %s of warm-up, one run per point. Points are *sent → delivered* pps, in the order measured, which is the order of rising offered load. "+
		"**Fair** is the placement of the repetitions: the director's receive work (RPS of its veths) and lvsd on CPU%d, the kernel's forwarding there too. "+
		"Unlike the repetitions, every curve steers the receive work of the switch port the director transmits into (RPS of sw p0: the bridge, the real servers' receive and the sink that counts delivered frames) to the generator's CPU%d, as if the switch and the real servers were machines of their own: "+
		"a veth runs its peer's receive in the sending core's backlog, so left on the director's core the forwarded frames queue behind the flood RPS steers there, and a flood that fills that backlog drops them after the director forwarded them (the backlog drops per core are in the table of every point below). "+
		"**No RPS** (a separate curve, only the kernel's DNAT and lvsd's default mode) leaves the director's receive work on the core that sends, the generator's CPU%d, with lvsd still on CPU%d: not fair to the kernel, whose forwarding then shares the generator's core; it shows where the limit lies. "+
		"*No collapse* holds when every point from a curve's peak on delivers at least %.0f %% of the lesser of its peak and what that point was offered (the issue's target for lvsd, as offered load rises; a flat-out step the generator could offer less than its peak is judged by what it was offered; computed, not a test). lvsd's dataplane mode is what its /metrics reported (`lvs_dataplane_mode`) after start and again after the curve.\n\n",
		num(overloadFloor), dur(s.OverloadWindow), dur(s.OverloadWarmup), s.DirectorCPU, s.GenCPU, s.GenCPU, s.DirectorCPU, 100*collapseFloor)
	steps := 0
	for _, c := range ov.Curves {
		steps = max(steps, len(c.Points))
	}
	w("| curve | path | placement | lvsd dataplane mode |")
	for i := range steps {
		if i == steps-1 {
			w(" %d (flat out) |", i+1)
		} else {
			w(" %d |", i+1)
		}
	}
	w(" peak delivered | weakest point from the peak on | no collapse (≥ %.0f %% of peak or offer) |\n|---|---|---|---|", 100*collapseFloor)
	for range steps + 3 {
		w("---:|")
	}
	w("\n")
	for _, c := range ov.Curves {
		mode := "—"
		if c.Kind == "lvsd" && c.Reason == "" {
			mode = modeText(c.Mode)
		}
		w("| %s | %s | %s | %s |", c.Contender, c.Path, placementText(c.Placement, s), mode)
		if c.Reason != "" {
			w(" **not available:** %s |", oneLine(c.Reason))
			for range steps + 2 {
				w(" |")
			}
			w("\n")
			continue
		}
		// Paced points right-aligned before the flat-out column, so
		// that column lines up when a curve has fewer steps.
		paced := c.Points[:max(len(c.Points)-1, 0)]
		for range steps - len(c.Points) {
			w(" |")
		}
		for _, p := range paced {
			w(" %s |", loadCell(p))
		}
		if len(c.Points) > 0 {
			w(" %s |", loadCell(c.Points[len(c.Points)-1]))
		}
		if v := c.Collapse(); v.OK {
			verdict := "**FAIL**"
			switch {
			case c.Kind != "lvsd":
				verdict = "no target" // the target is lvsd's; the kernel's share is for comparison
			case v.Pass:
				verdict = "pass"
			}
			w(" %s at %s offered | %s at %s offered | %s (%.0f %%) |\n", kpps(v.Peak.Delivered), kpps(v.Peak.Sent),
				kpps(v.Lowest.Delivered), kpps(v.Lowest.Sent), verdict, 100*v.Share)
		} else {
			w(" — | — | not enough points |\n")
		}
	}
	w("\n")
	for _, c := range ov.Curves {
		if c.Kind != "lvsd" || c.Reason != "" {
			continue
		}
		v := c.Collapse()
		if !v.OK {
			w("- **no collapse** %s (%s placement, dataplane %s): not measured (fewer than two points)\n", c.Contender, c.Placement, modeText(c.Mode))
			continue
		}
		verdict := "**FAIL**"
		if v.Pass {
			verdict = "pass"
		}
		w("- **no collapse** %s (%s placement, dataplane %s): %s: the weakest point from its peak on delivered %s pps of %s offered, %.0f %% of the lesser of that offer and its peak %s pps at %s offered (target ≥ %.0f %%)\n",
			c.Contender, c.Placement, modeText(c.Mode), verdict, num(v.Lowest.Delivered), num(v.Lowest.Sent), 100*v.Share,
			num(v.Peak.Delivered), num(v.Peak.Sent), 100*collapseFloor)
	}
	for _, n := range ov.Notes {
		w("- %s\n", n)
	}
	w("\n")
	plots := ov.plots()
	for _, f := range []string{PlotOverloadNAT, PlotOverloadDR} {
		if _, ok := plots[f]; ok {
			w("![%s](%s) ", strings.TrimSuffix(f, ".svg"), f)
		}
	}
	if len(plots) > 0 {
		w("\n\n")
	}
	w("<details><summary>Every overload point (target, sent, delivered, cores busy)</summary>\n\n")
	w("| curve | target pps | sent pps | delivered pps | delivered ÷ sent | director core busy | generator core busy | backlog drops/s, director core | backlog drops/s, generator core | error |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, c := range ov.Curves {
		var pts []LoadPoint
		if c.Probe != nil {
			pts = append(pts, *c.Probe)
		}
		for i, p := range append(pts, c.Points...) {
			target := targetText(p.Target)
			if i == 0 && c.Probe != nil {
				target = "flat out, first: the maximum that sets the steps"
			}
			share := "—"
			if p.Sent > 0 {
				share = fmt.Sprintf("%.0f %%", 100*p.Delivered/p.Sent)
			}
			w("| %s | %s | %s | %s | %s | %.0f %% | %.0f %% | %s | %s | %s |\n", c.Name(), target, num(p.Sent), num(p.Delivered), share,
				100*p.DirBusy, 100*p.GenBusy, num(p.DirDrops), num(p.GenDrops), oneLine(p.Err))
		}
	}
	w("\n</details>\n\n")
}

// targetText names a point's offered load: the paced rate, or flat out.
func targetText(target float64) string {
	if target > 0 {
		return num(target)
	}
	return "flat out"
}

// loadCell is one point of the curve table: "sent → delivered".
func loadCell(p LoadPoint) string {
	if p.Err != "" {
		return "failed"
	}
	return kpps(p.Sent) + " → " + kpps(p.Delivered)
}
