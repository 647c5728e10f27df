package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"lvs/config"
)

// The points of the scaling phase.
var (
	flowPoints   = []int{1_000, 10_000, 100_000, 1_000_000} // memory is reported at 10k, 100k, 1M
	serverPoints = map[bool][]int{false: {2, 10, 100, 1000}, true: {2, 1000}}
	quickScheds  = []config.Scheduler{config.SchedRR, config.SchedSH, config.SchedMH}
)

// ScaleCurves are the curves of the scaling phase, as Options.ScalingOnly
// names them: memory and pps against flows, pps against real servers and
// against the scheduler.
var ScaleCurves = []string{"flows", "servers", "schedulers"}

// scaleCurve reports whether the run measures scaling curve name.
func (o Options) scaleCurve(name string) bool {
	return !o.NoScaling && (len(o.ScalingOnly) == 0 || slices.Contains(o.ScalingOnly, name))
}

// scalingOnly reports whether the run is the scaling phase alone (no
// repetitions, no overload curves).
func (o Options) scalingOnly() bool { return len(o.ScalingOnly) > 0 }

// warmSettle is the pause after each warm-up pass of a scaling point
// before its frames are counted (see warm).
const warmSettle = 200 * time.Millisecond

// fillRate is the pace of the passes that open the flows: well below
// every contender's saturation, so a pass loses few first packets.
const fillRate = 200_000

// scaleWindows are the warm-up and window of each scaling point's two
// windows (saturation, fixed load): shorter than the repetitions' so that
// about thirty points fit the run's budget.
func (o Options) scaleWindows() (warmup, window time.Duration) {
	if o.Quick {
		return min(o.Warmup, 100*time.Millisecond), min(o.Window, 400*time.Millisecond)
	}
	return min(o.Warmup, 500*time.Millisecond), min(o.Window, time.Second)
}

// plan estimates how long a run with o takes, from its windows and the
// points above: the budget
// make bench and --quick promise is checked against it.
func (o Options) plan() time.Duration {
	const setup = 700 * time.Millisecond // measured: a contender starts and stops in about 0.5 s
	win := o.Warmup + o.Window
	per := 2*o.Baseline + 3*win + setup
	var rep time.Duration
	for _, c := range o.Contenders {
		switch {
		case o.TCPOnly && isIPv6(c): // no TCP window (ipv6.go): nothing to run
		case o.TCPOnly:
			rep += per - 2*win
		case isIPv6(c):
			rep += per - win // no TCP window
		default:
			rep += per
		}
	}
	total := time.Duration(o.Reps)*rep + o.overloadTime()
	if o.scalingOnly() {
		total = 0
	}
	if o.NoScaling {
		return total
	}
	sw, sd := o.scaleWindows()
	point := 2 * (sw + sd) // saturation and fixed load
	total += o.Baseline + 2*setup
	if o.scaleCurve("flows") {
		for i, n := range flowPoints { // lvsd: every point; the kernel: all but 1M (over nf_conntrack_max)
			// Usually two passes: the first loses some flows' first packets.
			fill := 2*time.Duration(float64(n)/fillRate*1.3*float64(time.Second)) + 300*time.Millisecond
			total += fill + point
			if i < len(flowPoints)-1 {
				total += fill + point
			}
		}
	}
	warm := warmSettle + 10*time.Millisecond // usually one warm-up pass per point (warm)
	if o.scaleCurve("servers") {
		total += time.Duration(2*len(serverRuns(serverPoints[o.Quick], o.ScaleReps))) * (setup + warm + point)
	}
	if o.scaleCurve("schedulers") {
		scheds := len(quickScheds)
		if !o.Quick {
			scheds = len(config.SchedulerNames())
		}
		total += time.Duration(scheds+2) * (setup + warm + point)
	}
	return total
}

// Scaling is the memory and scaling-curve phase of a run: after the
// repetitions, on the same topology, one contender at a time.
type Scaling struct {
	// Memory is the director's memory with N concurrent flows held in
	// its connection table.
	Memory []MemPoint `json:"memory"`
	// Flows, Servers and Schedulers are the curves: delivered pps at
	// saturation against the number of flows, of real servers, and the
	// scheduler.
	Flows      []Curve  `json:"pps_vs_flows"`
	Servers    []Curve  `json:"pps_vs_servers"`
	Schedulers []Curve  `json:"pps_vs_scheduler"`
	Notes      []string `json:"notes,omitempty"`
}

// MemPoint is one contender's memory with Flows flows offered.
type MemPoint struct {
	Contender string `json:"contender"`
	Flows     int    `json:"flows"`   // distinct flows the generator sent
	Entries   int64  `json:"entries"` // entries the contender's table reported, minus its idle count
	Bytes     int64  `json:"bytes"`   // memory growth over the idle director (see Method)
	// BytesPerFlow is Bytes ÷ Entries.
	BytesPerFlow float64 `json:"bytes_per_flow"`
	// RSS is lvsd's VmRSS (0 for the kernel).
	RSS int64 `json:"rss_bytes,omitempty"`
	// SlabWide is the machine-wide growth of /proc/meminfo Slab for the
	// kernel (everyone's slab: noisy on a shared machine; includes the
	// conntrack extensions that live outside the nf_conntrack cache).
	SlabWide int64  `json:"slab_machine_bytes,omitempty"`
	Method   string `json:"method"`
	// Mode is lvsd's dataplane mode, from its /metrics ("" for the
	// kernel, or when lvsd reported none).
	Mode string `json:"dataplane_mode,omitempty"`
	Err  string `json:"error,omitempty"`
}

// Curve is one contender's delivered pps against a parameter.
type Curve struct {
	Contender string       `json:"contender"`
	Points    []CurvePoint `json:"points"`
}

// CurvePoint is one measured point of a Curve.
type CurvePoint struct {
	X     float64 `json:"x"`               // flows or real servers; the category index for schedulers
	Label string  `json:"label,omitempty"` // the scheduler
	PPS   float64 `json:"delivered_pps"`
	Sent  float64 `json:"sent_pps"`
	// DirNs is the director core's CPU time per delivered packet at the
	// run's fixed load (ns, after the idle baseline); 0 when not measured.
	// Unlike saturation pps it does not depend on who starves whom.
	DirNs float64 `json:"director_ns_at_fixed_load,omitempty"`
	// FixedPPS is what was delivered in the fixed-load window, and
	// DirBusy the director core's busy share there (0–1): a DirNs
	// measured with the core saturated and FixedPPS short of the load
	// is a saturation figure, not a per-packet cost.
	FixedPPS float64 `json:"delivered_pps_at_fixed_load,omitempty"`
	DirBusy  float64 `json:"director_busy_at_fixed_load,omitempty"`
	// DirSoftNs is the director core's softirq time per packet at the
	// fixed load, and ProcNs lvsd's own process time per packet there
	// (0 for the kernel): the director's share of the core without
	// whatever else the scheduler ran on it (the two overlap by the
	// softirqs that ran in lvsd's thread).
	DirSoftNs float64 `json:"director_softirq_ns_at_fixed_load,omitempty"`
	ProcNs    float64 `json:"contender_process_ns_at_fixed_load,omitempty"`
	// Mode is lvsd's dataplane mode, from its /metrics ("" for the
	// kernel, or when lvsd reported none).
	Mode string `json:"dataplane_mode,omitempty"`
	Err  string `json:"error,omitempty"`
	// Runs is how many times the point was measured (0 or 1: once); with
	// more, each figure is the median over the runs that measured it,
	// and PPSMin and PPSMax the range of the delivered pps.
	Runs   int     `json:"runs,omitempty"`
	PPSMin float64 `json:"delivered_pps_min,omitempty"`
	PPSMax float64 `json:"delivered_pps_max,omitempty"`
}

// serverRuns is the order in which the real-server curve measures its
// points: every point once, then the two ends (the fewest and the most
// servers, which the target compares) reps-1 more times, taking
// turns, so that a slow spell of a shared machine does not fall on one
// end alone.
func serverRuns(points []int, reps int) []int {
	out := slices.Clone(points)
	if len(points) == 0 {
		return out
	}
	lo, hi := slices.Min(points), slices.Max(points)
	for range reps - 1 {
		out = append(out, lo)
		if hi != lo {
			out = append(out, hi)
		}
	}
	return out
}

// medianPoint folds the runs of one point into one: each figure the
// median of the runs that measured it (a failed run counts for none), the
// delivered pps with its range. With no run measured, it is the first
// run's failure.
func medianPoint(runs []CurvePoint) CurvePoint {
	var ok []CurvePoint
	for _, p := range runs {
		if p.Err == "" {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		if len(runs) == 0 {
			return CurvePoint{}
		}
		p := runs[0]
		p.Runs = len(runs)
		return p
	}
	med := func(f func(CurvePoint) float64) float64 {
		var xs []float64
		for _, p := range ok {
			if v := f(p); v > 0 {
				xs = append(xs, v)
			}
		}
		if len(xs) == 0 {
			return 0
		}
		return SpreadOf(xs).Median
	}
	out := ok[0]
	out.Runs = len(runs)
	pps := SpreadOf(mapPoints(ok, func(p CurvePoint) float64 { return p.PPS }))
	out.PPS, out.PPSMin, out.PPSMax = pps.Median, pps.Min, pps.Max
	out.Sent = med(func(p CurvePoint) float64 { return p.Sent })
	out.DirNs = med(func(p CurvePoint) float64 { return p.DirNs })
	out.FixedPPS = med(func(p CurvePoint) float64 { return p.FixedPPS })
	out.DirBusy = med(func(p CurvePoint) float64 { return p.DirBusy })
	out.DirSoftNs = med(func(p CurvePoint) float64 { return p.DirSoftNs })
	out.ProcNs = med(func(p CurvePoint) float64 { return p.ProcNs })
	return out
}

func mapPoints(ps []CurvePoint, f func(CurvePoint) float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = f(p)
	}
	return out
}

// modes are the dataplane modes over c's points, in order of first
// appearance.
func (c Curve) modes() string {
	var out []string
	for _, p := range c.Points {
		if p.Mode != "" && !slices.Contains(out, p.Mode) {
			out = append(out, p.Mode)
		}
	}
	return strings.Join(out, ", ")
}

// label is c's name in tables and plots: the contender, with the
// dataplane mode for lvsd.
func (c Curve) label() string {
	if m := c.modes(); m != "" {
		return c.Contender + " [" + m + "]"
	}
	return c.Contender
}

// curve returns the curve of contender name in *cs, adding it.
func curve(cs *[]Curve, name string) *Curve {
	for i := range *cs {
		if (*cs)[i].Contender == name {
			return &(*cs)[i]
		}
	}
	*cs = append(*cs, Curve{Contender: name})
	return &(*cs)[len(*cs)-1]
}

// Plot file names, next to the report.
const (
	PlotFlows      = "pps-vs-flows.svg"
	PlotServers    = "pps-vs-servers.svg"
	PlotSchedulers = "pps-vs-scheduler.svg"
	PlotMemory     = "memory-per-flow.svg"
	PlotFlowsCPU   = "cpu-vs-flows.svg"
	PlotServersCPU = "cpu-vs-servers.svg"
	PlotSchedsCPU  = "cpu-vs-scheduler.svg"
)

// plots returns the scaling plots of s by file name.
func (s *Scaling) plots() map[string]Plot {
	series := func(cs []Curve, y func(CurvePoint) float64) []Series {
		var out []Series
		for _, c := range cs {
			sr := Series{Name: c.label()}
			for _, p := range c.Points {
				v := y(p)
				if p.Err != "" || v <= 0 {
					v = math.NaN()
				}
				sr.Points = append(sr.Points, Point{p.X, v})
			}
			out = append(out, sr)
		}
		return out
	}
	lines := func(cs []Curve) []Series { return series(cs, func(p CurvePoint) float64 { return p.PPS }) }
	cpu := func(cs []Curve) []Series { return series(cs, func(p CurvePoint) float64 { return p.DirNs }) }
	var cats []string
	for _, c := range s.Schedulers {
		for _, p := range c.Points {
			if int(p.X) >= len(cats) {
				cats = append(cats, make([]string, int(p.X)-len(cats)+1)...)
			}
			cats[int(p.X)] = p.Label
		}
	}
	mem := map[string]*Series{}
	var memSeries []Series
	var order []string
	for _, m := range s.Memory {
		if mem[m.Contender] == nil {
			name := m.Contender
			if m.Mode != "" {
				name += " [" + m.Mode + "]"
			}
			mem[m.Contender] = &Series{Name: name}
			order = append(order, m.Contender)
		}
		y := m.BytesPerFlow
		if m.Err != "" || m.Entries <= 0 {
			y = math.NaN()
		}
		mem[m.Contender].Points = append(mem[m.Contender].Points, Point{float64(m.Flows), y})
	}
	for _, n := range order {
		memSeries = append(memSeries, *mem[n])
	}
	return map[string]Plot{
		PlotFlows:      {Title: "UDP delivered at saturation vs concurrent flows", XLabel: "flows (log)", YLabel: "delivered pps", LogX: true, Series: lines(s.Flows)},
		PlotServers:    {Title: "UDP delivered at saturation vs real servers", XLabel: "real servers (log)", YLabel: "delivered pps", LogX: true, Series: lines(s.Servers)},
		PlotSchedulers: {Title: "UDP delivered at saturation vs scheduler (2 real servers)", XLabel: "scheduler", YLabel: "delivered pps", Categories: cats, Series: lines(s.Schedulers)},
		PlotMemory:     {Title: "director memory per tracked flow", XLabel: "flows (log)", YLabel: "bytes per flow", LogX: true, Series: memSeries},
		PlotFlowsCPU:   {Title: "director-core CPU per packet at fixed load vs concurrent flows", XLabel: "flows (log)", YLabel: "ns per packet", LogX: true, Series: cpu(s.Flows)},
		PlotServersCPU: {Title: "director-core CPU per packet at fixed load vs real servers", XLabel: "real servers (log)", YLabel: "ns per packet", LogX: true, Series: cpu(s.Servers)},
		PlotSchedsCPU:  {Title: "director-core CPU per packet at fixed load vs scheduler", XLabel: "scheduler", YLabel: "ns per packet", Categories: cats, Series: cpu(s.Schedulers)},
	}
}

// writeScaling renders the scaling phase into the report.
func writeScaling(b *strings.Builder, s *Scaling, set Settings) {
	w := func(f string, a ...any) { fmt.Fprintf(b, f, a...) }
	w("## Director memory per concurrent flow\n\n")
	w("The generator sends N distinct UDP flows (raw frames, distinct source addresses and ports, no socket per flow; paced passes until the table holds them); the real servers drop them, so every flow stays in the director's table until it times out (lvsd: UDP 300 s; kernel: `nf_conntrack_udp_timeout` raised to 120 s in the director's namespace). *Entries* is what the contender's own table reports, minus its idle count (lvsd: `lvs_connection_table_entries` of its /metrics; kernel: the director namespace's `nf_conntrack_count`); bytes per flow divide the memory growth by it. lvsd's memory is the growth of its VmRSS (/proc/PID/status: everything the process holds, Go heap slack included). The kernel's is the growth of the `nf_conntrack` slab cache (/proc/slabinfo active objects × object size: machine-wide, so conntrack of other namespaces on a shared machine adds noise; NAT extensions and the hash table live elsewhere and are not counted), with the growth of the machine-wide Slab beside it as an upper bound.\n\n")
	w("| contender | flows sent | entries | memory growth | bytes per flow | how measured |\n|---|---:|---:|---:|---:|---|\n")
	for _, m := range s.Memory {
		if m.Err != "" {
			w("| %s | %s | — | — | — | %s |\n", m.Contender, num(float64(m.Flows)), oneLine(m.Err))
			continue
		}
		extra := ""
		if m.SlabWide != 0 {
			extra = fmt.Sprintf("; machine-wide Slab grew %s MiB (%.0f B/entry, everyone's slab)", mib(m.SlabWide), float64(m.SlabWide)/math.Max(float64(m.Entries), 1))
		}
		if m.RSS != 0 {
			extra = fmt.Sprintf("; VmRSS %s MiB", mib(m.RSS))
		}
		if m.Mode != "" {
			extra += "; dataplane " + m.Mode
		}
		w("| %s | %s | %s | %s MiB | %s | %s%s |\n", m.Contender, num(float64(m.Flows)), num(float64(m.Entries)),
			mib(m.Bytes), num(m.BytesPerFlow), m.Method, extra)
	}
	w("\n![memory per flow](%s)\n\n", PlotMemory)
	table := func(title, xname, plot, cpuPlot string, cs []Curve) {
		w("## %s\n\n", title)
		if len(cs) == 0 {
			w("Not measured.\n\n")
			return
		}
		var xs []CurvePoint
		for _, c := range cs {
			for _, p := range c.Points {
				if !containsX(xs, p) {
					xs = append(xs, p)
				}
			}
		}
		w("| %s |", xname)
		for _, c := range cs {
			w(" %s delivered pps (sent) | %s ns/pkt at fixed load |", c.label(), c.Contender)
		}
		w("\n|---|")
		for range cs {
			w("---:|---:|")
		}
		w("\n")
		for _, x := range xs {
			lbl := x.Label
			if lbl == "" {
				lbl = num(x.X)
			}
			w("| %s |", lbl)
			for _, c := range cs {
				w(" %s |", curveCell(c, x))
			}
			w("\n")
		}
		w("\n![%s](%s) ![%s, CPU](%s)\n\n", title, plot, title, cpuPlot)
	}
	w("Each point starts its contender afresh and first sends every flow once, paced, until a pass is delivered whole (at most %d passes), so that its windows find the real servers' MAC addresses resolved: lvsd resolves them itself, up to 256 a turn (5 turns a second), and before that limit was raised from 64 took 3-5 such passes with 1,000 servers. ", warmPasses)
	w("Each point: delivered pps with the generator flat out, then the director core's CPU time per packet (after the idle baseline of the scaling phase) at the run's fixed load of %s pps; each window %s after %s of warm-up, one run per point except the real-server curve's ends (2 and 1,000 servers: %d runs each, taking turns, median with the range; read single points with care, other work on a shared machine swings them by 2×). The CPU figures are tick-sampled (±1 tick of 10 ms per window); the director core's busy time after the idle baseline counts whatever else ran on the core, so the softirq time beside it (the kernel's forwarding, lvsd's fast path; lvsd's own process not included) is the steadier of the two. With a userspace forwarder pinned to the core its receive softirq runs on, saturation pps mostly measures who starves whom; the CPU column does not. The real-server curve uses a UDP-only lvs.cf with 2…1,000 servers (the kernel: the same numgen map); the scheduler curve 2 servers, lvsd with each scheduler beside the kernel's two choices (numgen inc is round robin, jhash of the source a source hash).\n\n",
		num(set.LoadPPS), dur(set.ScaleWindow), dur(set.ScaleWarmup), set.ScaleReps)
	table("Scaling: pps vs concurrent flows", "flows", PlotFlows, PlotFlowsCPU, s.Flows)
	for _, c := range s.Flows {
		if lo, hi, ok := ends(c); ok {
			w("- %s: pps at %s flows ÷ pps at %s flows = %.2f× (issue target for lvsd at 1M ÷ 1k: ≥ 0.8×)\n", c.Contender, num(hi.X), num(lo.X), hi.PPS/lo.PPS)
		}
	}
	if len(s.Flows) > 0 {
		w("\n")
	}
	table("Scaling: pps vs real servers", "real servers", PlotServers, PlotServersCPU, s.Servers)
	for _, c := range s.Servers {
		if lo, hi, ok := ends(c); ok {
			w("- %s: pps at %s real servers ÷ pps at %s = %.2f× (issue target for lvsd: within 10%%); CPU per packet at fixed load %s against %s ns (director-core softirq %s against %s ns)\n",
				c.Contender, num(hi.X), num(lo.X), hi.PPS/lo.PPS, nsCell(hi.DirNs), nsCell(lo.DirNs), nsCell(hi.DirSoftNs), nsCell(lo.DirSoftNs))
		}
	}
	if len(s.Servers) > 0 {
		w("\n")
	}
	table("Scaling: pps vs scheduler", "scheduler", PlotSchedulers, PlotSchedsCPU, s.Schedulers)
	for _, n := range s.Notes {
		w("- %s\n", n)
	}
	if len(s.Notes) > 0 {
		w("\n")
	}
}

// ends returns the measured points of c with the fewest and the most
// flows; ok is false without two of them.
func ends(c Curve) (lo, hi CurvePoint, ok bool) {
	n := 0
	for _, p := range c.Points {
		if p.Err != "" || p.PPS <= 0 {
			continue
		}
		if n == 0 || p.X < lo.X {
			lo = p
		}
		if n == 0 || p.X > hi.X {
			hi = p
		}
		n++
	}
	return lo, hi, n >= 2
}

// nsCell formats a CPU figure, "—" when it was not measured (0: nothing
// delivered, or a baseline busier than the window).
func nsCell(ns float64) string {
	if ns <= 0 {
		return "—"
	}
	return num(ns)
}

// mib formats bytes in MiB with one decimal.
func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func containsX(xs []CurvePoint, p CurvePoint) bool {
	for _, x := range xs {
		if x.X == p.X && x.Label == p.Label {
			return true
		}
	}
	return false
}

func curveCell(c Curve, x CurvePoint) string {
	for _, p := range c.Points {
		if p.X == x.X && p.Label == x.Label {
			if p.Err != "" {
				return "failed: " + oneLine(p.Err) + " | —"
			}
			ns := nsCell(p.DirNs)
			if p.DirSoftNs > 0 {
				ns += " (softirq " + num(p.DirSoftNs) + ")"
			}
			pps := num(p.PPS)
			if p.Runs > 1 {
				pps = fmt.Sprintf("%s (%s–%s of %d)", pps, num(p.PPSMin), num(p.PPSMax), p.Runs)
			}
			return fmt.Sprintf("%s (%s) | %s", pps, num(p.Sent), ns)
		}
	}
	return "— | —"
}

// parseSlabInfo finds cache in /proc/slabinfo text ("name active_objs
// num_objs objsize …") and returns its active objects and object size.
func parseSlabInfo(text, cache string) (objs, size int64, err error) {
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != cache {
			continue
		}
		if objs, err = strconv.ParseInt(f[1], 10, 64); err == nil {
			size, err = strconv.ParseInt(f[3], 10, 64)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/slabinfo: bad line %q", l)
		}
		return objs, size, nil
	}
	return 0, 0, fmt.Errorf("/proc/slabinfo has no %s cache", cache)
}
