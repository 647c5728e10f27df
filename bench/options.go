package bench

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"
)

// Contender names, in the order they run within a repetition.
const (
	KernelForward = "kfwd"      // ip_forward, plain L3 to one real server
	KernelLB      = "klb"       // nftables DNAT, numgen inc mod N, conntrack
	KernelLBJhash = "klb-jhash" // nftables DNAT, jhash ip saddr . sport mod N, conntrack
	LVSD1         = "lvsd-1w"   // lvsd NAT, --workers 1, its default dataplane
	LVSDAFP       = "lvsd-afp"  // lvsd NAT, --workers 1 --dataplane afpacket: the Go worker on AF_PACKET alone
	LVSDTC        = "lvsd-tc"   // lvsd NAT, --workers 1 --dataplane tc: the fast path on the legacy tc hook
	LVSD2         = "lvsd-2w"   // lvsd NAT, --workers 2
	KernelDR      = "kfwd-dr"   // ip_forward on the DR segment: the VIP routed over the real servers (multipath)
	LVSDDR        = "lvsd-dr"   // lvsd direct routing, --workers 1
	LVSDECMP      = "lvsd-ecmp" // two lvsd in the ECMP mode on the DR segment (ecmp_linux.go)
	KernelLB6     = "klb6"      // IPv6: nftables ip6 DNAT, numgen inc mod N, conntrack (ipv6_linux.go)
	LVSD6         = "lvsd6"     // IPv6: lvsd NAT66 (nat_router6), --workers 1, its default dataplane
)

// DREchoCommand is the lvsbench subcommand the harness runs on each real
// server as the direct-routing service's UDP echo (DREcho).
const DREchoCommand = "dr-echo"

// AllContenders lists every contender name.
var AllContenders = []string{KernelForward, KernelLB, KernelLBJhash, LVSD1, LVSDTC, LVSDAFP, LVSD2, KernelDR, LVSDDR, LVSDECMP, KernelLB6, LVSD6}

// DefaultContenders are those a run without --contenders takes: all but
// lvsd-tc, which runs lvsd-1w's program on the other hook (ask for it by
// name; the full run keeps to its time budget without it).
var DefaultContenders = slices.DeleteFunc(slices.Clone(AllContenders), func(c string) bool { return c == LVSDTC })

// The flood's flows: flow i comes from source port
// floodPortLo+i%floodPortsPerAddr of the i/floodPortsPerAddr-th flood
// source address.
const (
	floodPortLo       = 1024
	floodPortsPerAddr = 60000
	floodMaxFlows     = 100 * floodPortsPerAddr // 100 source addresses of the flood's /25
)

// Options configure a run. Zero values take the mode's defaults.
type Options struct {
	Quick  bool          // the short mode: under 3 minutes
	Out    string        // report directory (created)
	Reps   int           // repetitions of every contender (≥ 1; default 2 quick, 5 full)
	Warmup time.Duration // traffic before each measured window
	Window time.Duration // each measured window
	// StealRetries is how many times a window is measured again when the
	// hypervisor took the generator's or the director's core during it
	// (CPUCost.Steal above zero); 0 keeps every window.
	StealRetries int
	Baseline     time.Duration // idle windows before and after each contender
	Servers      int           // real servers (default 2)
	Flows        int           // UDP flows of the flood: source address and port pairs (default 1024)
	LoadPPS      float64       // offered rate of the fixed-load window (default 100,000)
	ProbeRate    int           // latency probes per second (default 2,000)
	TCPWorkers   int           // connection workers (default 8)
	// TCPFin closes each connection of the TCP window with a FIN (the
	// client's TIME_WAIT reused after a second, tcp_tw_reuse) instead
	// of an RST (SO_LINGER 0, the default).
	TCPFin     bool
	Contenders []string  // subset of AllContenders; nil runs DefaultContenders
	GenCPU     int       // core of the generator and clients (-1: 0)
	DirCPU     int       // core of the director (-1: 1, or 0 on one CPU)
	BinDir     string    // prebuilt lvssim and lvsd; "" builds them from the module
	Micro      string    // `go test -bench` output to append to the report
	NoScaling  bool      // skip the memory and scaling-curve phase
	NoOverload bool      // skip the overload curves (delivered against offered pps)
	LVSDFlags  []string  // more flags for every lvsd contender (say --busy-poll 50us), in its label too
	Log        io.Writer // progress and log lines; nil discards

	// ScalingOnly runs only these curves of the scaling phase (some of
	// ScaleCurves), with no repetitions and no overload curves; nil runs
	// the run's phases as the other options say.
	ScalingOnly []string
	// TCPOnly runs only the TCP connection-rate window of each
	// repetition, for every contender alike (no UDP windows, overload
	// curves or scaling phase).
	TCPOnly bool
	// During is a shell command run over each TCP window (or the windows
	// DuringWindow names), from its warm-up to its end, then interrupted
	// (SIGINT): say a perf record of the director's core.
	// during_linux.go lists its environment.
	During string
	// DuringWindow is the kind of window During runs over: "tcp" (the
	// default), "saturation" or "fixed" (the fixed-load window).
	DuringWindow string
	// ProgStats measures the run time per run of lvsd's eBPF fast-path
	// program over each UDP window of an lvsd contender (the kernel's
	// BPF run-time statistics, progstats_linux.go). Off by default: the
	// statistics cost each run of the program two clock reads.
	ProgStats bool

	// ScaleReps is how many times the real-server curve measures its end
	// points (2 and 1,000 servers), interleaved; each reports the median
	// and the range (default 3 full, 1 quick).
	ScaleReps int
}

// The windows a --during command can run over (--during-window).
const (
	duringTCP        = "tcp"
	duringSaturation = "saturation"
	duringFixed      = "fixed"
)

// DefaultOptions returns the defaults of the quick or the full mode.
func DefaultOptions(quick bool) Options {
	o := Options{
		Quick: quick, Reps: 5, Warmup: time.Second, Window: 2 * time.Second, Baseline: time.Second,
		Servers: 2, Flows: 1024, LoadPPS: 100_000, ProbeRate: 2000, TCPWorkers: 8, GenCPU: -1, DirCPU: -1, ScaleReps: 3,
		StealRetries: 2,
	}
	if quick {
		o.ScaleReps = 1
		o.Reps, o.Warmup, o.Window, o.Baseline, o.ProbeRate = 2, 200*time.Millisecond, 700*time.Millisecond, 300*time.Millisecond, 1000
	}
	return o
}

// withDefaults fills zero fields from the mode's defaults and checks the
// rest.
func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions(o.Quick)
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&o.Reps, d.Reps)
	set(&o.ScaleReps, d.ScaleReps)
	set(&o.Servers, d.Servers)
	set(&o.Flows, d.Flows)
	set(&o.ProbeRate, d.ProbeRate)
	set(&o.TCPWorkers, d.TCPWorkers)
	setD(&o.Warmup, d.Warmup)
	setD(&o.Window, d.Window)
	setD(&o.Baseline, d.Baseline)
	if o.LoadPPS == 0 {
		o.LoadPPS = d.LoadPPS
	}
	if len(o.Contenders) == 0 {
		o.Contenders = DefaultContenders
	}
	if o.GenCPU < 0 {
		o.GenCPU = 0
	}
	if o.DirCPU < 0 {
		o.DirCPU = min(1, runtime.NumCPU()-1)
	}
	var errs []error
	for _, c := range o.ScalingOnly {
		if !slices.Contains(ScaleCurves, c) {
			errs = append(errs, fmt.Errorf("unknown scaling curve %q (want some of %v)", c, ScaleCurves))
		}
	}
	if len(o.ScalingOnly) > 0 && o.NoScaling {
		errs = append(errs, errors.New("scaling curves asked for with the scaling phase skipped"))
	}
	if len(o.ScalingOnly) > 0 {
		o.NoOverload = true
	}
	if o.TCPOnly && len(o.ScalingOnly) > 0 {
		errs = append(errs, errors.New("--tcp-only with --scaling-only: pick one"))
	}
	if o.TCPOnly {
		o.NoOverload, o.NoScaling = true, true
	}
	if o.DuringWindow == "" {
		o.DuringWindow = duringTCP
	}
	if !slices.Contains([]string{duringTCP, duringSaturation, duringFixed}, o.DuringWindow) {
		errs = append(errs, fmt.Errorf("--during-window %q: want tcp, saturation or fixed", o.DuringWindow))
	} else if o.TCPOnly && o.DuringWindow != duringTCP {
		errs = append(errs, fmt.Errorf("--during-window %s with --tcp-only, which runs no UDP window", o.DuringWindow))
	}
	for _, c := range o.Contenders {
		if !slices.Contains(AllContenders, c) {
			errs = append(errs, fmt.Errorf("unknown contender %q (want some of %v)", c, AllContenders))
		}
	}
	switch {
	case o.StealRetries < 0 || o.StealRetries > 10:
		errs = append(errs, fmt.Errorf("steal retries %d: want 0–10", o.StealRetries))
	case o.Reps < 1 || o.Reps > 50:
		errs = append(errs, fmt.Errorf("repetitions %d: want 1–50", o.Reps))
	case o.ScaleReps < 1 || o.ScaleReps > 20:
		errs = append(errs, fmt.Errorf("scaling repetitions %d: want 1–20", o.ScaleReps))
	case o.Servers < 1 || o.Servers > 200:
		errs = append(errs, fmt.Errorf("real servers %d: want 1–200", o.Servers))
	case o.Flows < 1 || o.Flows > floodMaxFlows:
		errs = append(errs, fmt.Errorf("flows %d: want 1–%d", o.Flows, floodMaxFlows))
	case o.Window > 60*time.Second || o.Warmup > 60*time.Second || o.Baseline > 60*time.Second:
		errs = append(errs, errors.New("windows are at most 60 s"))
	case o.GenCPU >= runtime.NumCPU() || o.DirCPU >= runtime.NumCPU():
		errs = append(errs, fmt.Errorf("CPUs %d and %d: this machine has %d", o.GenCPU, o.DirCPU, runtime.NumCPU()))
	case o.LoadPPS < 1 || o.ProbeRate < 1 || o.TCPWorkers < 1 || o.TCPWorkers > 256:
		errs = append(errs, errors.New("load, probe rate and TCP workers must be positive (workers ≤ 256)"))
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o, errors.Join(errs...)
}

// tcpClose names how the TCP window's connections end, for the report.
func (o Options) tcpClose() string {
	if o.TCPFin {
		return "fin"
	}
	return "rst"
}

// mode names the run's mode for the report.
func (o Options) mode() string {
	if o.Quick {
		return "quick"
	}
	return "full"
}
