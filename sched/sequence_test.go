package sched

import (
	"math/rand/v2"
	"strings"
	"testing"

	"lvs/ipvs"
)

// TestSequenceIsPickCycle checks the cycle a Sequencer lists against the
// scheduler's own picks: a fresh scheduler (the state after Update) picks
// the sequence, then the same sequence again, for random weights.
func TestSequenceIsPickCycle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	fl := flowFrom("172.16.0.1", 1)
	for _, name := range []string{"rr", "wrr"} {
		for trial := range 200 {
			n := 1 + rng.IntN(6)
			weights := make([]int32, n)
			for i := range weights {
				weights[i] = int32(rng.IntN(7)) * int32(1+rng.IntN(3)) // zeros and shared factors
			}
			f := newBoundFixture(t, name, ipvs.SchedOptions{}, weights...)
			seq := f.svc().Sched.(ipvs.Sequencer).Sequence(f.svc(), 1000)
			var want strings.Builder
			for _, d := range seq {
				want.WriteString(nameOf(d))
			}
			w := want.String()
			if len(seq) == 0 {
				if got := f.picks(3, fl); got != "---" {
					t.Fatalf("%s %v: empty sequence, but picks %q", name, weights, got)
				}
				continue
			}
			if got := f.picks(3*len(seq), fl); got != w+w+w {
				t.Fatalf("%s %v (trial %d): sequence %q, picks %q", name, weights, trial, w, got)
			}
		}
	}
}

func TestSequenceLimit(t *testing.T) {
	f := newBoundFixture(t, "wrr", ipvs.SchedOptions{}, 5, 3)
	if seq := f.svc().Sched.(ipvs.Sequencer).Sequence(f.svc(), 7); seq != nil {
		t.Errorf("a cycle of 8 under a limit of 7: got %d picks, want nil", len(seq))
	}
	if seq := f.svc().Sched.(ipvs.Sequencer).Sequence(f.svc(), 8); len(seq) != 8 {
		t.Errorf("a cycle of 8 under a limit of 8: got %d picks", len(seq))
	}
	r := newBoundFixture(t, "rr", ipvs.SchedOptions{}, 1, 0, 1)
	if seq := r.svc().Sched.(ipvs.Sequencer).Sequence(r.svc(), 1); seq != nil {
		t.Errorf("rr cycle of 2 under a limit of 1: got %d picks", len(seq))
	}
}
