package bench

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Report is everything one run of the harness measured, as written to
// report.json; report.md is rendered from it by Markdown.
type Report struct {
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration_ns"`
	Machine    Machine       `json:"machine"`
	Settings   Settings      `json:"settings"`
	Pinning    []string      `json:"pinning"`
	Topology   string        `json:"topology"`
	Contenders []*Contender  `json:"contenders"`
	Notes      []string      `json:"notes,omitempty"`
	// Overload holds the curves of delivered against offered pps (nil:
	// not run).
	Overload *Overload `json:"overload,omitempty"`
	// Scaling holds the memory and scaling-curve figures (nil: not run).
	Scaling *Scaling `json:"scaling,omitempty"`
	// Micro holds `go test -bench` output (benchstat format), if given.
	Micro string `json:"micro,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUModel string  `json:"cpu_model"`
	CPUs     int     `json:"cpus"`
	MemGiB   float64 `json:"mem_gib"`
	Kernel   string  `json:"kernel"`
	Go       string  `json:"go"`
	LoadAvg  string  `json:"loadavg_at_start"` // /proc/loadavg: others' work shares the machine
}

// Settings are the knobs the run used.
type Settings struct {
	Mode        string        `json:"mode"` // quick or full
	Reps        int           `json:"reps"`
	Warmup      time.Duration `json:"warmup_ns"`
	Window      time.Duration `json:"window_ns"`
	Baseline    time.Duration `json:"baseline_ns"`
	Servers     int           `json:"servers"`
	Flows       int           `json:"flows"`
	FrameBytes  int           `json:"frame_bytes"`
	LoadPPS     float64       `json:"load_pps"`   // offered rate of the fixed-load window
	ProbeRate   int           `json:"probe_rate"` // latency probes per second in it
	TCPWorkers  int           `json:"tcp_workers"`
	TCPClose    string        `json:"tcp_close"` // rst or fin
	GenCPU      int           `json:"gen_cpu"`
	DirectorCPU int           `json:"director_cpu"`
	// StealRetries is Options.StealRetries: how many times a window the
	// hypervisor took a core from could be measured again.
	StealRetries int `json:"steal_retries"`
	// OverloadWarmup and OverloadWindow are the windows of each
	// overload point.
	OverloadWarmup time.Duration `json:"overload_warmup_ns,omitempty"`
	OverloadWindow time.Duration `json:"overload_window_ns,omitempty"`
	// ScaleWarmup and ScaleWindow are the windows of each scaling point.
	ScaleWarmup time.Duration `json:"scale_warmup_ns,omitempty"`
	ScaleWindow time.Duration `json:"scale_window_ns,omitempty"`
	// ScaleReps is how many runs the real-server curve's ends take.
	ScaleReps int `json:"scale_reps,omitempty"`
}

// Contender is one way of doing the director's job, with every repetition
// it ran. An unavailable contender has Reason and no runs.
type Contender struct {
	Name      string `json:"name"` // one of AllContenders
	Label     string `json:"label"`
	Kind      string `json:"kind"`           // kernel or lvsd
	Base      string `json:"base,omitempty"` // the kernel contender lvsd's ratios divide by
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // why not available
	Pinning   string `json:"pinning"`
	Runs      []*Rep `json:"runs,omitempty"`
}

// Modes are the dataplane modes lvsd reported over c's repetitions, in
// order of first appearance ("" for the kernel, or when lvsd reported
// none).
func (c *Contender) Modes() string {
	var out []string
	for _, r := range c.Runs {
		if r.Mode != "" && !slices.Contains(out, r.Mode) {
			out = append(out, r.Mode)
		}
	}
	return strings.Join(out, ", ")
}

// Rep is one repetition of one contender. Err is set when it failed part
// way; the windows it finished are kept.
type Rep struct {
	Rep int    `json:"rep"`
	Err string `json:"error,omitempty"`
	// Mode is the dataplane mode lvsd reported in its /metrics
	// (lvs_dataplane_mode): "" for the kernel, or when lvsd reported
	// none.
	Mode string `json:"dataplane_mode,omitempty"`
	// Remeasured names the windows measured again because the
	// hypervisor took a core during them (Options.StealRetries), one
	// entry per window thrown away: "saturation", "fixed" or "tcp".
	Remeasured []string  `json:"remeasured_for_steal,omitempty"`
	UDP        *UDPRun   `json:"udp_saturation,omitempty"`
	Paced      *PacedRun `json:"udp_fixed_load,omitempty"`
	TCP        *TCPRun   `json:"tcp_connections,omitempty"`
	// out marks the windows (by kind: winSaturation, winFixed, winTCP)
	// the figures leave out: see Contender.markStolen.
	out [winKinds]bool
}

// UDPRun is a saturation window: the generator sends as fast as it can.
type UDPRun struct {
	Window       time.Duration `json:"window_ns"`
	Sent         uint64        `json:"sent"`      // generator frames handed to the kernel
	Delivered    uint64        `json:"delivered"` // frames the real servers received
	SentPPS      float64       `json:"sent_pps"`
	DeliveredPPS float64       `json:"delivered_pps"`
	CPU          CPUCost       `json:"cpu_per_packet"`
	ProcNs       float64       `json:"lvsd_process_ns,omitempty"`     // lvsd's own utime+stime per packet
	ProgNs       float64       `json:"fastpath_program_ns,omitempty"` // --prog-stats: the program's run time per run
	// GeneratorBusy is the generator core's busy share over the window
	// (0–1, as CPUCost.DirectorBusy): a window whose director core has
	// room while this one is full measured the generator, not the
	// director.
	GeneratorBusy float64 `json:"generator_busy"`
	// PerServer is Delivered by real server (rs1, rs2, …): the load
	// balancer's split (kfwd sends everything to rs1; kfwd-dr spreads flows by its multipath route's hash).
	PerServer []uint64 `json:"delivered_per_server,omitempty"`
	use       [2]Usage // the window's edges, to recompute CPU with the final baseline
}

// PacedRun is a fixed-load window: the generator offers LoadPPS while
// latency probes measure request round trips through the director.
type PacedRun struct {
	Window       time.Duration `json:"window_ns"`
	OfferedPPS   float64       `json:"offered_pps"`
	SentPPS      float64       `json:"sent_pps"`
	DeliveredPPS float64       `json:"delivered_pps"`
	CPU          CPUCost       `json:"cpu_per_packet"`
	ProcNs       float64       `json:"lvsd_process_ns,omitempty"`
	ProgNs       float64       `json:"fastpath_program_ns,omitempty"` // --prog-stats: the program's run time per run
	Latency      Latency       `json:"latency"`
	use          [2]Usage
}

// steal is the window's CPUCost.Steal; 0 for a window not run (nil).
func (u *UDPRun) steal() float64 {
	if u == nil {
		return 0
	}
	return u.CPU.Steal
}

func (p *PacedRun) steal() float64 {
	if p == nil {
		return 0
	}
	return p.CPU.Steal
}

func (t *TCPRun) steal() float64 {
	if t == nil {
		return 0
	}
	return t.CPU.Steal
}

// Delivered is how many packets the real servers received in the window.
func (p *PacedRun) Delivered() float64 { return p.DeliveredPPS * p.Window.Seconds() }

// TCPRun is a connection-rate window: workers connect, send a tiny
// request, read the answer and close, as fast as they can.
type TCPRun struct {
	Window   time.Duration `json:"window_ns"`
	Conns    uint64        `json:"conns"`
	Failures uint64        `json:"failures"`
	PerSec   float64       `json:"conns_per_sec"`
	CPU      CPUCost       `json:"cpu_per_conn"`
	ProcNs   float64       `json:"lvsd_process_ns,omitempty"` // lvsd's own utime+stime per connection
	Latency  Latency       `json:"conn_time"`                 // connect + request + answer + close
	// Client and Servers are the TCP counters of the client's namespace
	// and of the real servers' (summed) over the window: a SYN or SYN-ACK
	// retransmit stalls one of the workers for a second.
	Client  TCPCounters `json:"client_tcp"`
	Servers TCPCounters `json:"servers_tcp"`
	// RespondersNs is the real servers' responders' utime per
	// connection: the same code doing the same work whichever contender
	// runs, so it moves with the machine's speed inside the window (their
	// stime would not: it takes in the softirq work that interrupts them).
	RespondersNs float64 `json:"responders_ns"`
	// ForeignNs is the CPU time (all cores) that processes outside the
	// run took during the window (foreignTicks): other people's builds
	// and tests on a shared machine, taken from whichever contender ran.
	ForeignNs float64 `json:"foreign_cpu_ns"`
	use       [2]Usage
}

// Figure is one row of the summary: a number extracted from each
// repetition of a contender.
type Figure struct {
	Name   string
	Unit   string
	Higher bool // higher is better (for the reader; nothing is judged)
	Scale  float64
	// Context marks a row that describes the run rather than the
	// contender (no lvsd ÷ kernel ratio is shown for it).
	Context bool
	get     func(*Rep) float64
}

var nan = math.NaN()

// The saturation window's busy rows, by name (generatorBound reads them).
const (
	satDirBusy = "director core busy at saturation"
	satGenBusy = "generator core busy at saturation"
)

// Figures are the summary rows, in report order.
var Figures = []Figure{
	{"UDP delivered at saturation", "pps", true, 1, false, func(r *Rep) float64 { return udp(r, func(u *UDPRun) float64 { return u.DeliveredPPS }) }},
	{"generator sent at saturation", "pps", true, 1, false, func(r *Rep) float64 { return udp(r, func(u *UDPRun) float64 { return u.SentPPS }) }},
	{satDirBusy, "%", false, 100, true, func(r *Rep) float64 {
		return udp(r, func(u *UDPRun) float64 { return cost(u.CPU, u.CPU.DirectorBusy) })
	}},
	{satGenBusy, "%", false, 100, true, func(r *Rep) float64 { return udp(r, func(u *UDPRun) float64 { return u.GeneratorBusy }) }},
	{"CPU per packet at saturation, director core", "ns", false, 1, false, func(r *Rep) float64 { return udp(r, func(u *UDPRun) float64 { return cost(u.CPU, u.CPU.DirectorNs) }) }},
	{"CPU per packet at saturation, whole machine", "ns", false, 1, false, func(r *Rep) float64 { return udp(r, func(u *UDPRun) float64 { return cost(u.CPU, u.CPU.MachineNs) }) }},
	{"CPU per packet at fixed load, director core", "ns", false, 1, false, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return cost(p.CPU, p.CPU.DirectorNs) })
	}},
	{"CPU per packet at fixed load, whole machine", "ns", false, 1, false, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return cost(p.CPU, p.CPU.MachineNs) })
	}},
	{"  of which user", "ns", false, 1, false, func(r *Rep) float64 { return paced(r, func(p *PacedRun) float64 { return cost(p.CPU, p.CPU.UserNs) }) }},
	{"  of which system + irq", "ns", false, 1, false, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return cost(p.CPU, p.CPU.SystemNs) })
	}},
	{"  of which softirq", "ns", false, 1, false, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return cost(p.CPU, p.CPU.SoftIRQNs) })
	}},
	{"lvsd process CPU per packet at fixed load", "ns", false, 1, false, func(r *Rep) float64 { return paced(r, func(p *PacedRun) float64 { return orNaN(p.ProcNs) }) }},
	{"lvsd's eBPF program per run at fixed load (--prog-stats)", "ns", false, 1, false, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return orNaN(p.ProgNs) })
	}},
	{"machine busy in the idle baseline (others' work)", "cores", false, 1, true, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return cost(p.CPU, p.CPU.BaselineCores) })
	}},
	{"UDP delivered at fixed load", "pps", true, 1, false, func(r *Rep) float64 { return paced(r, func(p *PacedRun) float64 { return p.DeliveredPPS }) }},
	{"request latency p50 at fixed load", "µs", false, 1e-3, false, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return lat(p.Latency, p.Latency.P50) })
	}},
	{"request latency p99 at fixed load", "µs", false, 1e-3, false, func(r *Rep) float64 {
		return paced(r, func(p *PacedRun) float64 { return lat(p.Latency, p.Latency.P99) })
	}},
	{"requests lost at fixed load", "", false, 1, true, func(r *Rep) float64 { return paced(r, func(p *PacedRun) float64 { return float64(p.Latency.Lost) }) }},
	{"TCP connections", "/s", true, 1, false, func(r *Rep) float64 { return tcp(r, func(t *TCPRun) float64 { return t.PerSec }) }},
	{"TCP connection time p99", "µs", false, 1e-3, false, func(r *Rep) float64 { return tcp(r, func(t *TCPRun) float64 { return lat(t.Latency, t.Latency.P99) }) }},
	{"TCP failed connections", "", false, 1, true, func(r *Rep) float64 { return tcp(r, func(t *TCPRun) float64 { return float64(t.Failures) }) }},
	{"other processes' CPU in the TCP window, all cores (not the run's)", "ms", false, 1e-6, true, func(r *Rep) float64 {
		return tcp(r, func(t *TCPRun) float64 { return t.ForeignNs })
	}},
	{"responders' user CPU per connection (the same code for every contender)", "µs", false, 1e-3, false, func(r *Rep) float64 {
		return tcp(r, func(t *TCPRun) float64 { return orNaN(t.RespondersNs) })
	}},
	{"TCP SYN and SYN-ACK retransmits", "", false, 1, false, func(r *Rep) float64 {
		return tcp(r, func(t *TCPRun) float64 { return float64(t.Client.SynRetrans + t.Servers.SynRetrans) })
	}},
	{"CPU per connection, whole machine", "µs", false, 1e-3, false, func(r *Rep) float64 { return tcp(r, func(t *TCPRun) float64 { return cost(t.CPU, t.CPU.MachineNs) }) }},
	{"CPU per connection, director core", "µs", false, 1e-3, false, func(r *Rep) float64 { return tcp(r, func(t *TCPRun) float64 { return cost(t.CPU, t.CPU.DirectorNs) }) }},
	{"director core busy in the TCP window", "%", false, 100, true, func(r *Rep) float64 {
		return tcp(r, func(t *TCPRun) float64 { return cost(t.CPU, t.CPU.DirectorBusy) })
	}},
	{"lvsd process CPU per connection", "µs", false, 1e-3, false, func(r *Rep) float64 { return tcp(r, func(t *TCPRun) float64 { return orNaN(t.ProcNs) }) }},
}

// figure is the summary row called name (a zero Figure, which measures
// nothing, for no such row).
func figure(name string) Figure {
	for _, f := range Figures {
		if f.Name == name {
			return f
		}
	}
	return Figure{get: func(*Rep) float64 { return nan }}
}

func udp(r *Rep, f func(*UDPRun) float64) float64 {
	if r.UDP == nil || r.out[winSaturation] {
		return nan
	}
	return f(r.UDP)
}

func paced(r *Rep, f func(*PacedRun) float64) float64 {
	if r.Paced == nil || r.out[winFixed] {
		return nan
	}
	return f(r.Paced)
}

func tcp(r *Rep, f func(*TCPRun) float64) float64 {
	if r.TCP == nil || r.out[winTCP] {
		return nan
	}
	return f(r.TCP)
}

// cost is x when c is valid, else NaN.
func cost(c CPUCost, x float64) float64 {
	if !c.Valid {
		return nan
	}
	return x
}

// orNaN is x, or NaN for 0 (a figure the contender does not have).
func orNaN(x float64) float64 {
	if x == 0 {
		return nan
	}
	return x
}

// lat is a latency percentile in ns, NaN when nothing was answered.
func lat(l Latency, d time.Duration) float64 {
	if l.Sent == l.Lost {
		return nan
	}
	return float64(d)
}

// Summary returns the spread of f over c's repetitions, scaled to f's unit.
func (c *Contender) Summary(f Figure) Spread {
	c.markStolen()
	xs := make([]float64, 0, len(c.Runs))
	for _, r := range c.Runs {
		xs = append(xs, f.get(r)*f.Scale)
	}
	return SpreadOf(xs)
}

// The kinds of a repetition's windows, as Rep.out and Rep.steal index them.
const (
	winSaturation = iota
	winFixed
	winTCP
	winKinds
)

// minClean is how many windows of a kind without steal a contender needs
// for the figures to leave out its windows of that kind with steal.
const minClean = 2

// markStolen marks, in c's repetitions, the windows the figures leave
// out: those the hypervisor took a core during (CPUCost.Steal above zero:
// windows whose retries ran out, Options.StealRetries), for each kind of
// window of which c has at least minClean without steal. A stolen window
// measured the host as much as c (a stall of 20 ms holds up 40 of the 4,000
// probes of a 2 s fixed-load window: its p99 by itself),
// and every contender gets the same rule; with too few clean windows
// every window counts, and the report's note says how many had steal.
func (c *Contender) markStolen() {
	for k := range winKinds {
		clean := 0
		for _, r := range c.Runs {
			if st, ok := r.steal(k); ok && st == 0 {
				clean++
			}
		}
		for _, r := range c.Runs {
			st, _ := r.steal(k)
			r.out[k] = clean >= minClean && st > 0
		}
	}
}

// steal is the steal share of r's window of kind k (winSaturation,
// winFixed, winTCP), and whether r has that window.
func (r *Rep) steal(k int) (float64, bool) {
	w := [winKinds]interface{ steal() float64 }{r.UDP, r.Paced, r.TCP}[k]
	has := [winKinds]bool{r.UDP != nil, r.Paced != nil, r.TCP != nil}[k]
	return w.steal(), has
}

// ByRep is c's figure f in repetitions 1 to n (NaN where it has none).
func (c *Contender) ByRep(f Figure, n int) []float64 {
	c.markStolen()
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = math.NaN()
	}
	for _, r := range c.Runs {
		if r.Rep >= 1 && r.Rep <= n {
			xs[r.Rep-1] = f.get(r) * f.Scale
		}
	}
	return xs
}

// Contender returns the contender named name, or nil.
func (r *Report) Contender(name string) *Contender {
	for _, c := range r.Contenders {
		if c.Name == name {
			return c
		}
	}
	return nil
}
