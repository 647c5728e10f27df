package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

const procStatText = `cpu  240162 0 47070 273706 462 0 3131 260 0 0
cpu0 119311 0 23472 137826 70 0 1631 120 0 0
cpu1 120850 0 23597 135879 391 5 1499 139 0 0
intr 13569226 0 0
ctxt 1
`

func TestParseProcStat(t *testing.T) {
	got, err := ParseProcStat(strings.NewReader(procStatText))
	if err != nil {
		t.Fatalf("ParseProcStat: %v", err)
	}
	want := []CPUTimes{
		{User: 119311, System: 23472, Idle: 137826, IOWait: 70, SoftIRQ: 1631, Steal: 120},
		{User: 120850, System: 23597, Idle: 135879, IOWait: 391, IRQ: 5, SoftIRQ: 1499, Steal: 139},
	}
	if len(got) != len(want) {
		t.Fatalf("ParseProcStat = %d CPUs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cpu%d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if b := got[1].Busy(); b != 120850+23597+5+1499 {
		t.Errorf("Busy() = %d, want user+nice+system+irq+softirq", b)
	}
	for _, bad := range []string{"", "cpu0 1 2 3\n", "cpux 1 2 3 4 5 6 7 8\n", "cpu0 1 2 3 4 5 6 7 z\n"} {
		if _, err := ParseProcStat(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseProcStat(%q) = nil error, want one", bad)
		}
	}
}

func TestCostOf(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// Over 2 s, 1,000,000 packets; cpu0 (generator) is busy 200 ticks, the
	// director cpu1 150. The idle baseline had cpu0 busy 10 ticks/s (user)
	// and cpu1 5 ticks/s (softirq).
	a := Usage{CPU: CPUSample{At: t0, CPUs: []CPUTimes{{User: 100}, {User: 100}}}}
	b := Usage{CPU: CPUSample{At: t0.Add(2 * time.Second), CPUs: []CPUTimes{
		{User: 150, System: 140, SoftIRQ: 10},                    // +50 user, +140 system, +10 softirq
		{User: 120, System: 20, SoftIRQ: 100, IRQ: 10, Idle: 50}, // +20 user, +30 system+irq, +100 softirq
	}}}
	bl := Baseline{Busy: []float64{10, 5}, User: []float64{10, 0}, System: []float64{0, 0}, SoftIRQ: []float64{0, 5}}
	got := CostOf(a, b, bl, 1, 1_000_000)
	tick := 1e9 / userHZ / 1e6 // ns per packet of one tick
	want := CPUCost{
		Valid:      true,
		DirectorNs: (150 - 10) * tick,
		MachineNs:  (200 - 20 + 150 - 10) * tick,
		UserNs:     (50 - 20 + 20) * tick, SystemNs: (140 + 30) * tick, SoftIRQNs: (10 + 100 - 10) * tick,
		DirectorBusy:  150 / (2.0 * userHZ),
		BaselineCores: (20 + 10) / (2.0 * userHZ),
	}
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-6 }
	if !got.Valid || !near(got.DirectorNs, want.DirectorNs) || !near(got.MachineNs, want.MachineNs) ||
		!near(got.UserNs, want.UserNs) || !near(got.SystemNs, want.SystemNs) || !near(got.SoftIRQNs, want.SoftIRQNs) ||
		!near(got.DirectorBusy, want.DirectorBusy) || !near(got.BaselineCores, want.BaselineCores) {
		t.Errorf("CostOf = %+v\nwant     %+v", got, want)
	}
	if got.Steal != 0 {
		t.Errorf("CostOf.Steal = %v with no steal ticks, want 0", got.Steal)
	}
	// The hypervisor took 4 ticks of cpu0 and 10 of cpu1 in the 2 s.
	b.CPU.CPUs[0].Steal, b.CPU.CPUs[1].Steal = 4, 10
	if st := CostOf(a, b, bl, 1, 1_000_000).Steal; !near(st, 10/(2.0*userHZ)) {
		t.Errorf("CostOf.Steal = %v, want the core that lost most: %v", st, 10/(2.0*userHZ))
	}
	if c := CostOf(a, b, bl, 1, 0); c.Valid {
		t.Errorf("CostOf(0 packets) = %+v, want not valid", c)
	}
	// A baseline larger than the window's work clamps to 0, never negative.
	big := Baseline{Busy: []float64{1000, 1000}}
	if c := CostOf(a, b, big, 1, 1000); c.DirectorNs != 0 || c.MachineNs != 0 {
		t.Errorf("CostOf(huge baseline) = %+v, want 0 ns", c)
	}
}

func TestBaselineOf(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := CPUSample{At: t0, CPUs: []CPUTimes{{SoftIRQ: 10}}}
	b := CPUSample{At: t0.Add(500 * time.Millisecond), CPUs: []CPUTimes{{SoftIRQ: 13, IRQ: 1, User: 50}}}
	got := BaselineOf(a, b)
	if len(got.Busy) != 1 || got.Busy[0] != 108 || got.SoftIRQ[0] != 6 || got.System[0] != 2 || got.User[0] != 100 {
		t.Errorf("BaselineOf = %+v, want busy 108, user 100, system+irq 2, softirq 6 ticks/s", got)
	}
}

func TestMinBaseline(t *testing.T) {
	a := Baseline{Busy: []float64{10, 50}, User: []float64{8, 40}, System: []float64{1, 5}, SoftIRQ: []float64{1, 5}}
	b := Baseline{Busy: []float64{90, 20}, User: []float64{85, 10}, System: []float64{3, 5}, SoftIRQ: []float64{2, 5}}
	got := MinBaseline(a, b)
	want := Baseline{Busy: []float64{10, 20}, User: []float64{8, 10}, System: []float64{1, 5}, SoftIRQ: []float64{1, 5}}
	for i := range 2 {
		if got.Busy[i] != want.Busy[i] || got.User[i] != want.User[i] || got.System[i] != want.System[i] || got.SoftIRQ[i] != want.SoftIRQ[i] {
			t.Errorf("MinBaseline cpu%d = %+v, want %+v", i, got, want)
		}
	}
	if got := MinBaseline(a, Baseline{}); len(got.Busy) != 0 {
		t.Errorf("MinBaseline with an empty baseline = %+v, want empty", got)
	}
}
