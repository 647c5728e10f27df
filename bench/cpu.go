package bench

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat and /proc/PID/stat times (USER_HZ,
// 100 on every Linux architecture Go supports).
const userHZ = 100

// CPUTimes is one CPU's line of /proc/stat, in ticks of 1/userHZ s.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Busy is the time the CPU did work: user + nice + system + irq + softirq.
// Guest time is already inside user; iowait counts as idle, steal as
// neither (the hypervisor ran someone else).
func (c CPUTimes) Busy() uint64 { return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ }

func (c CPUTimes) sub(o CPUTimes) CPUTimes {
	return CPUTimes{
		User: c.User - o.User, Nice: c.Nice - o.Nice, System: c.System - o.System,
		Idle: c.Idle - o.Idle, IOWait: c.IOWait - o.IOWait, IRQ: c.IRQ - o.IRQ,
		SoftIRQ: c.SoftIRQ - o.SoftIRQ, Steal: c.Steal - o.Steal,
	}
}

// CPUSample is /proc/stat at one moment: one entry per CPU, by number.
type CPUSample struct {
	At   time.Time
	CPUs []CPUTimes
}

// ParseProcStat reads the per-CPU lines ("cpuN …") of /proc/stat.
func ParseProcStat(r io.Reader) ([]CPUTimes, error) {
	var out []CPUTimes
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil || n < 0 || n > 4096 {
			return nil, fmt.Errorf("/proc/stat: bad cpu line %q", sc.Text())
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/stat: bad field in %q: %w", sc.Text(), err)
			}
		}
		for len(out) <= n {
			out = append(out, CPUTimes{})
		}
		out[n] = CPUTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/proc/stat: no per-CPU lines")
	}
	return out, nil
}

// ProcTimes is the CPU time of some processes, in ticks.
type ProcTimes struct{ User, System uint64 }

func (p ProcTimes) sub(o ProcTimes) ProcTimes {
	return ProcTimes{User: p.User - o.User, System: p.System - o.System}
}

// Usage is what CPU accounting reads at one edge of a window: the
// per-CPU counters, and the times of the contender's own process (lvsd;
// zero for the kernel), shown beside them.
type Usage struct {
	CPU       CPUSample
	Contender ProcTimes
}

// CPUCost is the CPU time a window spent per delivered packet (or
// connection), from /proc/stat: busy time (user + nice + system + irq +
// softirq) over the window minus what the same CPUs were busy with during
// the idle baseline window (same duration scale), divided by the packets.
// (Per-process times cannot be added to softirq time instead: the tick
// that finds a task serving softirqs counts in both.)
type CPUCost struct {
	// Valid is false when the window delivered nothing to divide by.
	Valid bool `json:"valid"`
	// DirectorNs is the director's core only, in ns per packet.
	DirectorNs float64 `json:"director_ns"`
	// MachineNs is every core: the generator and clients, the director,
	// the responders, in ns per packet.
	MachineNs float64 `json:"machine_ns"`
	// UserNs, SystemNs and SoftIRQNs split MachineNs by /proc/stat state
	// (user + nice; system + irq; softirq), each after its own baseline.
	UserNs    float64 `json:"user_ns"`
	SystemNs  float64 `json:"system_ns"`
	SoftIRQNs float64 `json:"softirq_ns"`
	// DirectorSoftNs is the director core's softirq time alone, in ns
	// per packet, after its baseline: the kernel's forwarding and lvsd's
	// fast path, without the processes (lvsd's own, and anyone else's
	// that the scheduler put on the core).
	DirectorSoftNs float64 `json:"director_softirq_ns"`
	// DirectorBusy is the director core's busy share over the window
	// (0–1, baseline included), to show whether it was saturated.
	DirectorBusy float64 `json:"director_busy"`
	// BaselineCores is how busy the machine was in the idle baseline, in
	// cores: other people's work the figures assume went on unchanged.
	BaselineCores float64 `json:"baseline_cores"`
	// Steal is the share of the window (0–1) the hypervisor ran someone
	// else on the core that lost most (/proc/stat's steal), any of the
	// machine's: on the two-core machine the bench is sized for, the
	// generator's or the director's (on a larger one an idle core's steal
	// only costs a retry). A virtual machine's cores are not always its
	// own, and a window that lost them measured the host as much as the
	// contender.
	Steal float64 `json:"steal"`
}

// Baseline is the rate, in ticks per second, at which each CPU was busy
// (in total and per state) over an idle window: no traffic, no contender.
type Baseline struct {
	Busy, User, System, SoftIRQ []float64
}

// BaselineOf turns two samples around an idle window into rates.
func BaselineOf(a, b CPUSample) Baseline {
	d := b.At.Sub(a.At).Seconds()
	var bl Baseline
	rate := func(t uint64) float64 {
		if d <= 0 {
			return 0
		}
		return float64(t) / d
	}
	for i := range min(len(a.CPUs), len(b.CPUs)) {
		x := b.CPUs[i].sub(a.CPUs[i])
		bl.Busy = append(bl.Busy, rate(x.Busy()))
		bl.User = append(bl.User, rate(x.User+x.Nice))
		bl.System = append(bl.System, rate(x.System+x.IRQ))
		bl.SoftIRQ = append(bl.SoftIRQ, rate(x.SoftIRQ))
	}
	return bl
}

// MinBaseline is, per CPU and state, the smaller of two baselines (one
// before the contender ran, one after): other people's work on a shared
// machine comes in bursts, and a burst in one baseline window would
// otherwise be subtracted from a window it did not share.
func MinBaseline(a, b Baseline) Baseline {
	m := func(x, y []float64) []float64 {
		out := make([]float64, min(len(x), len(y)))
		for i := range out {
			out[i] = min(x[i], y[i])
		}
		return out
	}
	return Baseline{Busy: m(a.Busy, b.Busy), User: m(a.User, b.User), System: m(a.System, b.System), SoftIRQ: m(a.SoftIRQ, b.SoftIRQ)}
}

// busyShare is how busy CPU cpu was between samples a and b (0–1),
// baseline included; 0 when the samples do not cover it.
func busyShare(a, b CPUSample, cpu int) float64 {
	d := b.At.Sub(a.At).Seconds()
	if d <= 0 || cpu < 0 || cpu >= min(len(a.CPUs), len(b.CPUs)) {
		return 0
	}
	return float64(b.CPUs[cpu].sub(a.CPUs[cpu]).Busy()) / (d * userHZ)
}

// stealShare is the share of the time between a and b (0–1) the
// hypervisor took from CPU cpu; 0 when the samples do not cover it.
func stealShare(a, b CPUSample, cpu int) float64 {
	d := b.At.Sub(a.At).Seconds()
	if d <= 0 || cpu < 0 || cpu >= min(len(a.CPUs), len(b.CPUs)) {
		return 0
	}
	return float64(b.CPUs[cpu].sub(a.CPUs[cpu]).Steal) / (d * userHZ)
}

// CostOf computes the cost of the window from a to b that delivered pkts,
// with director the director's CPU number. A figure the baseline pushes
// below zero is clamped to 0 (tick sampling noise).
func CostOf(a, b Usage, bl Baseline, director int, pkts uint64) CPUCost {
	d := b.CPU.At.Sub(a.CPU.At).Seconds()
	if pkts == 0 || d <= 0 {
		return CPUCost{} // not Valid: nothing to divide by
	}
	perPkt := func(ticks float64) float64 { return max(ticks, 0) / userHZ * 1e9 / float64(pkts) }
	base := func(r []float64, i int) float64 {
		if i < len(r) {
			return r[i] * d
		}
		return 0
	}
	c := CPUCost{Valid: true}
	var busy, user, sys, soft, baseBusy float64
	for i := range min(len(a.CPU.CPUs), len(b.CPU.CPUs)) {
		x := b.CPU.CPUs[i].sub(a.CPU.CPUs[i])
		cb := float64(x.Busy()) - base(bl.Busy, i)
		busy += cb
		user += float64(x.User+x.Nice) - base(bl.User, i)
		sys += float64(x.System+x.IRQ) - base(bl.System, i)
		soft += float64(x.SoftIRQ) - base(bl.SoftIRQ, i)
		baseBusy += base(bl.Busy, i)
		c.Steal = max(c.Steal, stealShare(a.CPU, b.CPU, i))
		if i == director {
			c.DirectorNs = perPkt(cb)
			c.DirectorSoftNs = perPkt(float64(x.SoftIRQ) - base(bl.SoftIRQ, i))
			c.DirectorBusy = busyShare(a.CPU, b.CPU, i)
		}
	}
	c.MachineNs, c.UserNs, c.SystemNs, c.SoftIRQNs = perPkt(busy), perPkt(user), perPkt(sys), perPkt(soft)
	c.BaselineCores = baseBusy / (d * userHZ)
	return c
}
