package sched

import (
	"math"
	"math/rand/v2"
	"sync/atomic"

	"lvs/ipvs"
)

// TwoS is power-of-two-choices scheduling (ip_vs_twos.c): two destinations
// drawn at random in proportion to their weights, and the one with the
// lower overhead/weight wins (the first on a tie).
//
// Randomness is SplitMix64 over one atomic counter seeded from
// SchedOptions.Seed: every Pick takes its own counter value with one atomic
// add, so it is safe for concurrent use, lock-free and allocation-free, and
// a fixed seed gives a reproducible sequence of draws.
type TwoS struct {
	rng atomic.Uint64
}

// NewTwoS returns a twos scheduler seeded by opts.Seed (0: a random seed).
func NewTwoS(opts ipvs.SchedOptions) *TwoS {
	t := &TwoS{}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.rng.Store(seed)
	return t
}

// Name returns "twos".
func (t *TwoS) Name() string { return "twos" }

// Update does nothing: twos keeps no per-service state.
func (t *TwoS) Update(*ipvs.Service) {}

// splitmix64 is SplitMix64's output function for the state x.
func splitmix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Pick draws two destinations and returns the less loaded, as
// ip_vs_twos_schedule; the two 32-bit draws (prandom_u32 in the kernel) are
// the halves of one SplitMix64 output.
func (t *TwoS) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	r := splitmix64(t.rng.Add(0x9e3779b97f4a7c15))
	return twosPick(s.Dests, uint32(r), uint32(r>>32))
}

// twosPick is ip_vs_twos_schedule with the random draws given: r1 and r2
// are reduced modulo total weight + 1, then the list is walked subtracting
// weights and the first destination that brings each to <= 0 is chosen.
// choice2 wins only when w2*oh1 > w1*oh2. Sums and products are 64-bit where
// the kernel's int could overflow.
func twosPick(dests []*ipvs.Dest, rand1, rand2 uint32) *ipvs.Dest {
	var total int64
	var choice1, choice2 *ipvs.Dest
	for _, d := range dests {
		if d.Weight > 0 && !d.C.Overloaded() {
			total += int64(d.Weight)
			choice1 = d
		}
	}
	if choice1 == nil {
		return nil
	}
	total++
	var r1, r2 int64
	if total <= math.MaxUint32 { // a 32-bit division, as the kernel's
		r1, r2 = int64(rand1%uint32(total)), int64(rand2%uint32(total))
	} else {
		r1, r2 = int64(rand1)%total, int64(rand2)%total
	}
	w1, w2 := int64(-1), int64(-1)
	var oh1, oh2 int64
	for _, d := range dests {
		w := int64(d.Weight)
		if w <= 0 || d.C.Overloaded() {
			continue
		}
		r1 -= w
		r2 -= w
		if r1 <= 0 && w1 == -1 {
			choice1, w1, oh1 = d, w, d.C.SchedOverhead()
		}
		if r2 <= 0 && w2 == -1 {
			choice2, w2, oh2 = d, w, d.C.SchedOverhead()
		}
		if w1 != -1 && w2 != -1 {
			break
		}
	}
	if choice2 != nil && w2*oh1 > w1*oh2 {
		return choice2
	}
	return choice1
}
