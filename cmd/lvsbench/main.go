// Command lvsbench benchmarks lvsd against the Linux kernel doing the same
// job on the same namespaces in the same run. See `lvsbench --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"lvs/bench"
)

const usage = `Usage: lvsbench [--quick] [--out DIR] [flags]

lvsbench builds a topology in fresh network namespaces (client/generator —
director — N real servers, veths only, nothing connected to the host) and
runs, on it and in one run, each contender doing the director's job:

  kfwd       the kernel forwarding (ip_forward, plain L3 to one real server)
  klb        the kernel load balancing (nftables DNAT, numgen inc mod N, conntrack)
  klb-jhash  the same with jhash ip saddr . sport mod N
  lvsd-1w    lvsd NAT from an lvs.cf written with config.Format, --workers 1,
             its default dataplane mode
  lvsd-tc    the same with --dataplane tc: the eBPF fast path on the legacy
             tc hook (a cls_bpf filter), what a kernel before 6.6 runs;
             only when --contenders names it
  lvsd-afp   the same with --dataplane afpacket: the Go worker on AF_PACKET
             alone
  lvsd-2w    the same as lvsd-1w with --workers 2
  kfwd-dr    the kernel forwarding on the direct-routing segment (the VIP
             routed over the real servers, which hold it on lo, by a
             multipath route hashing the ports): the reference for
             lvsd-dr, since this kernel has no IPVS
  lvsd-dr    lvsd direct routing (network = direct), --workers 1; the real
             servers answer the client straight back
  lvsd-ecmp  two lvsd directors in the ECMP mode (redundancy = ecmp, mh,
             sync mesh) on the DR segment, both on the director's core, the
             flows spread over them by the client's multipath route and the
             generator's hash: its director-core CPU per packet beside
             lvsd-dr's says whether the ECMP mode costs per packet
  klb6       IPv6: the kernel load balancing (nftables ip6 DNAT, numgen inc
             mod N, conntrack, IPv6 forwarding)
  lvsd6      IPv6: lvsd NAT66 (an IPv6 VIP, nat_router6), --workers 1, its
             default dataplane mode (IPv6 flows scheduled and forwarded in
             the kernel, as IPv4's);
             both IPv6 contenders run the saturation and fixed-load windows
             only, and the report sets them beside klb and lvsd-1w

It measures, each repeated and reported as min/median/max: small-UDP packets
per second delivered at saturation, CPU time per packet (/proc/stat, minus an
idle baseline), TCP connections per second, and request latency p50/p99 at a
fixed offered load; every lvsd figure names the dataplane mode lvsd reported
in its /metrics. Then, unless --no-overload, the overload curves: delivered
against offered pps from 50k up to the generator's maximum (6 points quick,
8 full) for the kernel's DNAT, lvsd (both modes) and direct routing, on the
fair placement (the director's receive work and lvsd on one core) and, for
klb and lvsd-1w, with no RPS (receive work on the generator's core), with an
SVG plot and a no-collapse check (lvsd never below 90% of its own peak);
during the curves the switch's port to the director (the bridge, the real
servers' receive, the delivered counter) has its receive work steered to
the generator's core for every contender, so forwarded frames are not
dropped in the director core's backlog the flood fills (each point reports
both cores' backlog drops). Then, unless --no-scaling: the director's memory at 10k,
100k and 1M concurrent flows (lvsd's VmRSS, the kernel's nf_conntrack slab)
and pps against the number of flows, of real servers (2 to 1,000) and the
scheduler, with SVG plots. It writes report.md, report.json and the plots
into --out, and needs root. A contender that cannot run is reported "not
available" with the error.

Flags:
  --quick            the short mode (under 3 minutes); default is full (about 16 minutes,
                     more when the host takes cores: --steal-retries)
  --out DIR          report directory (default ./lvsbench-out)
  --reps N           repetitions (default 2 quick, 5 full: the median of
                     five stands two bad windows of a noisy machine)
  --window D         each measured window (default 700ms quick, 2s full)
  --steal-retries N  measure a window again, up to N times, when the
                     hypervisor took the generator's or the director's core
                     during it (/proc/stat steal: the VM's cores ran
                     someone else, and a 20 ms stall moves a p99); 0 keeps
                     every window (default 2). A window kept with steal is
                     left out of the figures when its contender has two
                     windows of that kind without; the report counts both
  --warmup D         traffic before each window (default 200ms quick, 1s full)
  --baseline D       idle windows before and after each contender (default
                     300ms quick, 1s full)
  --servers N        real servers (default 2)
  --flows N          UDP flows (source address and port pairs) of the flood
                     (default 1024; up to 6,000,000)
  --load PPS         offered rate of the fixed-load window (default 100000)
  --probe-rate N     latency probes per second (default 1000 quick, 2000 full)
  --tcp-workers N    TCP connection workers (default 8)
  --tcp-close HOW    how each connection of the TCP window ends: rst (the
                     default: SO_LINGER 0, no TIME_WAIT) or fin (the client
                     closes first, as most do; its TIME_WAIT ports are reused
                     after a second, tcp_tw_reuse, in the client namespace)
  --contenders LIST  comma-separated subset of kfwd,klb,klb-jhash,lvsd-1w,lvsd-tc,
                     lvsd-afp,lvsd-2w,kfwd-dr,lvsd-dr,lvsd-ecmp,klb6,lvsd6
                     (the overload curves run klb, lvsd-1w, lvsd-afp, kfwd-dr
                     and lvsd-dr among them, the scaling phase lvsd-1w, klb
                     and klb-jhash)
  --no-overload      skip the overload curves
  --no-scaling       skip the memory and scaling-curve phase
  --scaling-only C   only these curves of the scaling phase (comma-separated
                     subset of flows,servers,schedulers), with no repetitions
                     and no overload curves: say --scaling-only servers
                     --contenders lvsd-1w,klb for the real-server curve alone
  --scale-reps N     runs of the real-server curve's ends (2 and 1,000
                     servers), taking turns, each reported as the median
                     with its range (default 3 full, 1 quick)
  --tcp-only         only the TCP connection-rate window of each repetition,
                     for every contender alike (no UDP windows, no
                     overload curves, no scaling phase)
  --during "CMD"     a shell command run over each TCP window, from its
                     warm-up to its end, then interrupted (SIGINT); its
                     environment has LVSBENCH_WINDOW, LVSBENCH_CONTENDER, LVSBENCH_DIR_CPU,
                     LVSBENCH_PID (lvsd's), LVSBENCH_LOGS, LVSBENCH_SEQ and
                     LVSBENCH_WARMUP_NS, its output goes to
                     logs/during-CONTENDER-SEQ.log: say
                     --during 'perf record -C $LVSBENCH_DIR_CPU -g -o
                     $LVSBENCH_LOGS/perf-$LVSBENCH_CONTENDER-$LVSBENCH_SEQ.data'
  --during-window W  the windows --during runs over: tcp (the default),
                     saturation (the flat-out UDP window) or fixed (the
                     fixed-load window)
  --prog-stats       measure lvsd's eBPF program over each UDP window with
                     the kernel's BPF run-time statistics: its run time
                     per frame it saw ("lvsd's eBPF program per run" in
                     the report). Off by default: the statistics cost
                     every run two clock reads
  --lvsd-flags "F"   more flags for every lvsd contender, e.g.
                     "--busy-poll 50us" (shown in their labels)
  --gen-cpu N        core of the generator and clients (default 0)
  --dir-cpu N        core of the director (default 1)
  --bin DIR          prebuilt lvssim and lvsd instead of go build
  --micro FILE       go test -bench output to append to the report
  -h, --help         show this help

Examples:
  sudo lvsbench --quick
  sudo lvsbench --out /tmp/b --contenders klb,lvsd-1w --reps 3
  sudo lvsbench --quick --no-overload --no-scaling --contenders klb6,lvsd6
  sudo lvsbench --quick --scaling-only servers --contenders klb,lvsd-1w
  make bench        # full run plus the go test -bench micro-benchmarks
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "lvsbench: interrupted; everything it built is removed")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "lvsbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == bench.DREchoCommand {
		return bench.DREcho(ctx, args[1:], stderr) // the harness's DR echo on a real server
	}
	o, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		// The headline and the overload curves: the report up to the
		// contenders.
		md := bench.Markdown(rep)
		if i := strings.Index(md, "## Results"); i >= 0 {
			if j := strings.Index(md[i:], "## Contenders"); j > 0 {
				fmt.Fprint(stdout, md[i:i+j])
			}
		}
		fmt.Fprintf(stdout, "full report: %s\n", filepath.Join(o.Out, bench.ReportMarkdown))
	}
	return err
}

// parseFlags turns the command line into bench.Options.
func parseFlags(args []string, stdout, stderr io.Writer) (bench.Options, error) {
	var o bench.Options
	var contenders string
	fs := flags(&o, &contenders)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stdout, usage) }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (see lvsbench --help)", fs.Arg(0))
	}
	if contenders != "" {
		o.Contenders = strings.Split(contenders, ",")
	}
	o.Log = os.Stderr
	return o, nil
}

// flags defines lvsbench's flags into o (and contenders, the raw list).
func flags(o *bench.Options, contenders *string) *flag.FlagSet {
	fs := flag.NewFlagSet("lvsbench", flag.ContinueOnError)
	fs.BoolVar(&o.Quick, "quick", false, "")
	fs.StringVar(&o.Out, "out", "lvsbench-out", "")
	fs.IntVar(&o.Reps, "reps", 0, "")
	fs.DurationVar(&o.Window, "window", 0, "")
	fs.IntVar(&o.StealRetries, "steal-retries", 2, "")
	fs.DurationVar(&o.Warmup, "warmup", 0, "")
	fs.DurationVar(&o.Baseline, "baseline", 0, "")
	fs.IntVar(&o.Servers, "servers", 0, "")
	fs.IntVar(&o.Flows, "flows", 0, "")
	fs.Float64Var(&o.LoadPPS, "load", 0, "")
	fs.IntVar(&o.ProbeRate, "probe-rate", 0, "")
	fs.IntVar(&o.TCPWorkers, "tcp-workers", 0, "")
	fs.Func("tcp-close", "", func(s string) error {
		switch s {
		case "rst", "fin":
			o.TCPFin = s == "fin"
			return nil
		}
		return fmt.Errorf("%q: want rst or fin", s)
	})
	fs.StringVar(contenders, "contenders", "", "")
	fs.IntVar(&o.GenCPU, "gen-cpu", -1, "")
	fs.IntVar(&o.DirCPU, "dir-cpu", -1, "")
	fs.StringVar(&o.BinDir, "bin", "", "")
	fs.StringVar(&o.Micro, "micro", "", "")
	fs.BoolVar(&o.NoScaling, "no-scaling", false, "")
	fs.BoolVar(&o.NoOverload, "no-overload", false, "")
	fs.IntVar(&o.ScaleReps, "scale-reps", 0, "")
	fs.BoolVar(&o.TCPOnly, "tcp-only", false, "")
	fs.StringVar(&o.During, "during", "", "")
	fs.StringVar(&o.DuringWindow, "during-window", "", "")
	fs.BoolVar(&o.ProgStats, "prog-stats", false, "")
	fs.Func("scaling-only", "", func(s string) error { o.ScalingOnly = append(o.ScalingOnly, strings.Split(s, ",")...); return nil })
	fs.Func("lvsd-flags", "", func(s string) error { o.LVSDFlags = append(o.LVSDFlags, strings.Fields(s)...); return nil })
	return fs
}
