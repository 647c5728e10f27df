package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestServerRuns(t *testing.T) {
	for _, x := range []struct {
		name   string
		points []int
		reps   int
		want   []int
	}{
		{"once", []int{2, 10, 100, 1000}, 1, []int{2, 10, 100, 1000}},
		{"ends three times", []int{2, 10, 100, 1000}, 3, []int{2, 10, 100, 1000, 2, 1000, 2, 1000}},
		{"quick", []int{2, 1000}, 2, []int{2, 1000, 2, 1000}},
		{"one point", []int{2}, 3, []int{2, 2, 2}},
		{"none", nil, 3, []int{}},
	} {
		if got := serverRuns(x.points, x.reps); !slices.Equal(got, x.want) {
			t.Errorf("%s: serverRuns(%v, %d) = %v, want %v", x.name, x.points, x.reps, got, x.want)
		}
	}
}

func TestMedianPoint(t *testing.T) {
	for _, x := range []struct {
		name string
		runs []CurvePoint
		want CurvePoint
	}{
		{"one run", []CurvePoint{{X: 2, PPS: 400, Sent: 600, DirNs: 900, DirSoftNs: 800, FixedPPS: 100}},
			CurvePoint{X: 2, PPS: 400, Sent: 600, DirNs: 900, DirSoftNs: 800, FixedPPS: 100, Runs: 1, PPSMin: 400, PPSMax: 400}},
		{"three runs: each figure its own median", []CurvePoint{
			{X: 1000, PPS: 235, Sent: 500, DirNs: 1200, DirSoftNs: 1000, ProcNs: 300, Mode: "tcx+afpacket"},
			{X: 1000, PPS: 420, Sent: 700, DirNs: 900, DirSoftNs: 2400, ProcNs: 100, Mode: "tcx+afpacket"},
			{X: 1000, PPS: 360, Sent: 600, DirNs: 1000, DirSoftNs: 1500, ProcNs: 200, Mode: "tcx+afpacket"},
		}, CurvePoint{X: 1000, PPS: 360, Sent: 600, DirNs: 1000, DirSoftNs: 1500, ProcNs: 200, Mode: "tcx+afpacket", Runs: 3, PPSMin: 235, PPSMax: 420}},
		{"a failed run counts for none", []CurvePoint{
			{X: 2, PPS: 300, DirNs: 1000},
			{X: 2, Err: "lvsd did not come up"},
			{X: 2, PPS: 500, DirNs: 2000},
		}, CurvePoint{X: 2, PPS: 400, DirNs: 1500, Runs: 3, PPSMin: 300, PPSMax: 500}},
		{"an unmeasured CPU figure (0, busy baseline) counts for none", []CurvePoint{
			{X: 2, PPS: 300, DirNs: 0, DirSoftNs: 1000},
			{X: 2, PPS: 300, DirNs: 800, DirSoftNs: 1200},
			{X: 2, PPS: 300, DirNs: 1000, DirSoftNs: 1400},
		}, CurvePoint{X: 2, PPS: 300, DirNs: 900, DirSoftNs: 1200, Runs: 3, PPSMin: 300, PPSMax: 300}},
		{"every run failed", []CurvePoint{{X: 2, Err: "first"}, {X: 2, Err: "second"}},
			CurvePoint{X: 2, Err: "first", Runs: 2}},
	} {
		if got := medianPoint(x.runs); got != x.want {
			t.Errorf("%s: medianPoint = %+v, want %+v", x.name, got, x.want)
		}
	}
}

func TestTCPOnly(t *testing.T) {
	o := DefaultOptions(false)
	o.TCPOnly, o.Contenders = true, []string{KernelLB, LVSD1, LVSD6}
	o, err := o.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if !o.NoOverload || !o.NoScaling {
		t.Errorf("--tcp-only: overload skipped %v, scaling skipped %v; want both", o.NoOverload, o.NoScaling)
	}
	// Each repetition of klb and lvsd-1w: two idle baselines, a set-up
	// and the TCP window alone; lvsd6 has no TCP window.
	per := 2*o.Baseline + o.Warmup + o.Window + 700*time.Millisecond
	if got, want := o.plan(), time.Duration(o.Reps)*2*per; got != want {
		t.Errorf("plan of --tcp-only = %v, want %v", got, want)
	}
	o.ScalingOnly = []string{"servers"}
	if _, err := o.withDefaults(); err == nil {
		t.Errorf("--tcp-only with --scaling-only accepted")
	}
}

func TestScalingOnly(t *testing.T) {
	full, err := DefaultOptions(false).withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if full.ScaleReps != 3 {
		t.Errorf("full mode: ScaleReps %d, want 3", full.ScaleReps)
	}
	o := full
	o.ScalingOnly = []string{"servers"}
	if o, err = o.withDefaults(); err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if !o.NoOverload || !o.scaleCurve("servers") || o.scaleCurve("flows") || o.scaleCurve("schedulers") {
		t.Errorf("--scaling-only servers: overload skipped %v, curves flows/servers/schedulers %v/%v/%v",
			o.NoOverload, o.scaleCurve("flows"), o.scaleCurve("servers"), o.scaleCurve("schedulers"))
	}
	// No repetitions and no overload: the plan is the baseline, two
	// contender set-ups and the real-server runs alone.
	sw, sd := o.scaleWindows()
	setup := 700 * time.Millisecond
	runs := len(serverRuns(serverPoints[false], o.ScaleReps))
	warm := warmSettle + 10*time.Millisecond
	if got, want := o.plan(), o.Baseline+2*setup+time.Duration(2*runs)*(setup+warm+2*(sw+sd)); got != want {
		t.Errorf("plan of --scaling-only servers = %v, want %v", got, want)
	}
	if !full.scaleCurve("flows") || !full.scaleCurve("servers") || !full.scaleCurve("schedulers") {
		t.Errorf("a full run skips a scaling curve")
	}
	for _, x := range []struct {
		o    Options
		want string
	}{
		{Options{ScalingOnly: []string{"servers", "memory"}}, `unknown scaling curve "memory"`},
		{Options{ScalingOnly: []string{"servers"}, NoScaling: true}, "scaling phase skipped"},
		{Options{ScaleReps: 21}, "scaling repetitions 21"},
	} {
		if _, err := x.o.withDefaults(); err == nil || !strings.Contains(err.Error(), x.want) {
			t.Errorf("withDefaults(%+v) = %v, want an error with %q", x.o, err, x.want)
		}
	}
}
