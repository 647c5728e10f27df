package bgp

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var (
	vipA = netip.MustParseAddr("192.0.2.10")
	vipB = netip.MustParseAddr("192.0.2.11")
)

// step is one call of Decider.Step in a scenario: the time since the start,
// the input, and what it must return.
type step struct {
	at   time.Duration
	in   Input
	want Step
}

func serving(can map[netip.Addr]bool) Input { return Input{CanServe: can, Forwarding: true} }

func ann(vip netip.Addr) Change { return Change{VIP: vip, Announce: true, Reason: ReasonServing} }

func wd(vip netip.Addr, r Reason) Change { return Change{VIP: vip, Reason: r} }

func TestDeciderStep(t *testing.T) {
	both := map[netip.Addr]bool{vipA: true, vipB: true}
	onlyB := map[netip.Addr]bool{vipA: false, vipB: true}
	drained := serving(both)
	drained.Draining = true
	down := serving(both)
	down.ShuttingDown = true
	notFwd := Input{CanServe: both}
	tests := []struct {
		name  string
		drain time.Duration
		steps []step
	}{
		{"announce what can serve", 5 * time.Second, []step{
			{0, serving(onlyB), Step{Changes: []Change{ann(vipB)}}},
			{time.Second, serving(onlyB), Step{}},
			{2 * time.Second, serving(both), Step{Changes: []Change{ann(vipA)}}},
		}},
		{"withdraw at once when no server is up", 5 * time.Second, []step{
			{0, serving(both), Step{Changes: []Change{ann(vipA), ann(vipB)}}},
			{time.Second, serving(onlyB), Step{Changes: []Change{wd(vipA, ReasonNoServer)}}},
			{2 * time.Second, serving(both), Step{Changes: []Change{ann(vipA)}}},
		}},
		{"nothing until forwarding", 5 * time.Second, []step{
			{0, notFwd, Step{}},
			{time.Second, serving(both), Step{Changes: []Change{ann(vipA), ann(vipB)}}},
			{2 * time.Second, notFwd, Step{Changes: []Change{wd(vipA, ReasonNotForwarding), wd(vipB, ReasonNotForwarding)}}},
		}},
		{"drain withdraws everything and undrain announces again", 5 * time.Second, []step{
			{0, serving(both), Step{Changes: []Change{ann(vipA), ann(vipB)}}},
			{time.Second, drained, Step{Changes: []Change{wd(vipA, ReasonDrained), wd(vipB, ReasonDrained)}}},
			{time.Hour, drained, Step{}},
			{2 * time.Hour, serving(both), Step{Changes: []Change{ann(vipA), ann(vipB)}}},
		}},
		{"shutdown: withdraw, wait the drain time, stop once", 5 * time.Second, []step{
			{0, serving(onlyB), Step{Changes: []Change{ann(vipB)}}},
			{10 * time.Second, down, Step{Changes: []Change{wd(vipB, ReasonShutdown)}}},
			{14 * time.Second, down, Step{}},
			{15 * time.Second, down, Step{Stop: true}},
			{16 * time.Second, down, Step{}},
			{17 * time.Second, serving(both), Step{}}, // stopped for good
		}},
		{"shutdown with nothing announced stops at once", 5 * time.Second, []step{
			{0, notFwd, Step{}},
			{time.Second, down, Step{Stop: true}},
		}},
		{"shutdown while drained stops at once", 5 * time.Second, []step{
			{0, serving(both), Step{Changes: []Change{ann(vipA), ann(vipB)}}},
			{time.Second, drained, Step{Changes: []Change{wd(vipA, ReasonDrained), wd(vipB, ReasonDrained)}}},
			{2 * time.Second, down, Step{Stop: true}},
		}},
		{"drain time 0 stops in the same step", 0, []step{
			{0, serving(both), Step{Changes: []Change{ann(vipA), ann(vipB)}}},
			{time.Second, down, Step{Changes: []Change{wd(vipA, ReasonShutdown), wd(vipB, ReasonShutdown)}, Stop: true}},
		}},
		{"a VIP that leaves lvs.cf is withdrawn", 5 * time.Second, []step{
			{0, serving(both), Step{Changes: []Change{ann(vipA), ann(vipB)}}},
			{time.Second, serving(map[netip.Addr]bool{vipB: true}), Step{Changes: []Change{wd(vipA, ReasonRemoved)}}},
			{2 * time.Second, serving(both), Step{Changes: []Change{ann(vipA)}}},
		}},
		{"a withdrawn VIP that leaves says nothing", 5 * time.Second, []step{
			{0, serving(onlyB), Step{Changes: []Change{ann(vipB)}}},
			{time.Second, serving(map[netip.Addr]bool{vipB: true}), Step{}},
		}},
	}
	start := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecider(tt.drain)
			for i, s := range tt.steps {
				if got := d.Step(start.Add(s.at), s.in); !reflect.DeepEqual(got, s.want) {
					t.Fatalf("step %d: Step(+%v, %+v) = %+v, want %+v", i, s.at, s.in, got, s.want)
				}
			}
		})
	}
}

func TestDeciderStatus(t *testing.T) {
	start := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	d := NewDecider(3 * time.Second)
	d.Step(start, serving(map[netip.Addr]bool{vipA: true, vipB: false}))
	drained := serving(map[netip.Addr]bool{vipA: true, vipB: false})
	drained.Draining = true
	d.Step(start.Add(time.Minute), drained)
	want := []VIPStatus{
		{VIP: vipA, Announced: false, Reason: ReasonDrained, Since: start.Add(time.Minute)},
		{VIP: vipB, Announced: false, Reason: ReasonDrained, Since: start},
	}
	if got := d.Status(); !reflect.DeepEqual(got, want) {
		t.Errorf("Status() = %+v, want %+v", got, want)
	}
	if _, ok := d.StopAt(); ok {
		t.Errorf("StopAt() ok before shutdown")
	}
	down := serving(map[netip.Addr]bool{vipA: true})
	down.ShuttingDown = true
	d = NewDecider(3 * time.Second)
	d.Step(start, serving(map[netip.Addr]bool{vipA: true}))
	d.Step(start.Add(time.Second), down)
	if at, ok := d.StopAt(); !ok || !at.Equal(start.Add(4*time.Second)) {
		t.Errorf("StopAt() = %v, %v; want %v, true", at, ok, start.Add(4*time.Second))
	}
}
