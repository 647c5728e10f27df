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
		rep += per
		if isIPv6(c) {
			rep -= win // no TCP window (ipv6.go)
		}
	}
	total := time.Duration(o.Reps)*rep + o.overloadTime()
	if o.NoScaling {
		return total
	}
	sw, sd := o.scaleWindows()
	point := 2 * (sw + sd) // saturation and fixed load
	total += o.Baseline
	for i, n := range flowPoints { // lvsd: every point; the kernel: all but 1M (over nf_conntrack_max)
		// Usually two passes: the first loses some flows' first packets.
		fill := 2*time.Duration(float64(n)/fillRate*1.3*float64(time.Second)) + 300*time.Millisecond
		total += fill + point
		if i < len(flowPoints)-1 {
			total += fill + point
		}
	}
	total += 2 * setup
	total += time.Duration(2*len(serverPoints[o.Quick])) * (setup + point)
	scheds := len(quickScheds)
	if !o.Quick {
		scheds = len(config.SchedulerNames())
	}
	total += time.Duration(scheds+2) * (setup + point)
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
	// Mode is lvsd's dataplane mode, from its /metrics ("" for the
	// kernel, or when lvsd reported none).
	Mode string `json:"dataplane_mode,omitempty"`
	Err  string `json:"error,omitempty"`
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
	w("Each point: delivered pps with the generator flat out, then the director core's CPU time per packet (after the idle baseline of the scaling phase) at the run's fixed load of %s pps; each window %s after %s of warm-up, one run per point (no repetitions: read single points with care; the CPU figures are tick-sampled, ±1 tick of 10 ms per window). With a userspace forwarder pinned to the core its receive softirq runs on, saturation pps mostly measures who starves whom; the CPU column does not. The real-server curve uses a UDP-only lvs.cf with 2…1,000 servers (the kernel: the same numgen map); the scheduler curve 2 servers, lvsd with each scheduler beside the kernel's two choices (numgen inc is round robin, jhash of the source a source hash).\n\n",
		num(set.LoadPPS), dur(set.ScaleWindow), dur(set.ScaleWarmup))
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
			ns := "—"
			if p.DirNs > 0 {
				ns = num(p.DirNs)
			}
			return fmt.Sprintf("%s (%s) | %s", num(p.PPS), num(p.Sent), ns)
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
