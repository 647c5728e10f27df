package sched

import (
	"math/rand/v2"
	"testing"

	"lvs/ipvs"
)

// Expected sequences are worked by hand from ip_vs_wrr_schedule and
// ip_vs_wrr_dest_changed (net/netfilter/ipvs/ip_vs_wrr.c).
func TestWRRSequences(t *testing.T) {
	fl := flowFrom("172.16.0.1", 1)
	tests := []struct {
		name    string
		weights []int32
		setup   func(f *fixture)
		want    string
	}{
		// di=1, mw=4: cw 4: A; cw 3: A B; cw 2: A B C; cw 1: A B C.
		{"4,3,2", []int32{4, 3, 2}, nil, "AABABCABC" + "AABABCABC"},
		// di=2, mw=3: cw 3: A; cw 1: A B.
		{"4,2 gcd", []int32{4, 2}, nil, "AABAABAAB"},
		{"equal", []int32{2, 2, 2}, nil, "ABCABC"},
		{"weight 0 never", []int32{0, 3, 0, 1}, nil, "BBBDBBBD"},
		// B overloaded: cw 4: A; 3: A; 2: A C; 1: A C.
		{"overloaded", []int32{4, 3, 2}, func(f *fixture) { f.overload("B") }, "AAACAC" + "AAACAC"},
		{"all zero", []int32{0, 0}, nil, "---"},
		{"all overloaded", []int32{1, 2}, func(f *fixture) { f.overload("A"); f.overload("B") }, "---"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBoundFixture(t, "wrr", ipvs.SchedOptions{}, tt.weights...)
			if tt.setup != nil {
				tt.setup(f)
			}
			expectSeq(t, tt.name, f.picks(len(tt.want), fl), tt.want)
		})
	}
}

// Built with ipvsadm -a one destination at a time, the kernel's cw is
// left at 1 by ip_vs_wrr_dest_changed (0 → mw of the first dest = 1, then
// kept), so the first pass is the weight >= 1 pass before the cycle.
func TestWRRIncrementalStart(t *testing.T) {
	fl := flowFrom("172.16.0.1", 1)
	f := newFixture(t, "wrr", ipvs.SchedOptions{}, 4, 3, 2)
	expectSeq(t, "4,3,2 added one by one", f.picks(12, fl), "ABC"+"AABABCABC")
	g := newFixture(t, "wrr", ipvs.SchedOptions{}, 4, 2) // cw 1 → (1/2)*2+1 = 1
	expectSeq(t, "4,2 added one by one", g.picks(5, fl), "AB"+"AAB")
}

func TestWRRUpdateRules(t *testing.T) {
	fl := flowFrom("172.16.0.1", 1)
	f := newBoundFixture(t, "wrr", ipvs.SchedOptions{}, 4, 2)
	// After A A the mark is (cursor A, cw 1).
	expectSeq(t, "start", f.picks(2, fl), "AA")
	// Adding C (6): di 2, mw 5, cw (1/2)*2+1 = 1, cursor to the head.
	// cw 1: A B C; cw 5: C; cw 3: A C; cw 1: A B C; cw 5: C; cw 3: A C.
	f.add("C", 6, 0)
	expectSeq(t, "after add", f.picks(12, fl), "ABCCACABCCAC")
	// A service edit that leaves the destinations alone calls no hook.
	s := f.svc()
	spec := s.SchedSpec
	tab, err := f.tab.EditService(vipKey, spec, "renamed")
	f.must(tab, err)
	expectSeq(t, "after service edit", f.picks(4, fl), "ABCC")

	// A lower max weight: cw above mw becomes mw, cursor to the head.
	g := newBoundFixture(t, "wrr", ipvs.SchedOptions{}, 5, 1) // mw 5
	expectSeq(t, "5,1", g.picks(1, fl), "A")                  // mark (A, 5)
	g.edit("A", 2, 0)                                         // mw 2: cw 5 → 2
	expectSeq(t, "2,1", g.picks(6, fl), "AABAAB")
}

// wrrReference is ip_vs_wrr_schedule transcribed literally (no pass
// skipping), to check the optimised walk against.
func wrrReference(dests []*ipvs.Dest, c int, cw, di, mw int32) (*ipvs.Dest, int, int32) {
	if mw == 0 {
		return nil, c, cw
	}
	last, stop := c, -2
	lastPass, restarted := false, false
	i := c
	for {
		for i++; i < len(dests); i++ {
			if !dests[i].C.Overloaded() && dests[i].Weight >= cw {
				return dests[i], i, cw
			}
			if i == stop {
				return nil, i, cw
			}
		}
		i = -1
		cw -= di
		if cw <= 0 {
			cw = mw
			if lastPass || last == -1 {
				return nil, -1, cw
			}
			restarted = true
		}
		lastPass = cw <= di
		if lastPass && restarted && last != -1 {
			stop = last
		}
	}
}

func TestWRRMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fl := flowFrom("172.16.0.1", 1)
	for round := range 300 {
		n := 1 + rng.IntN(6)
		weights := make([]int32, n)
		mult := int32(1 + rng.IntN(3))
		for i := range weights {
			weights[i] = int32(rng.IntN(12)) * mult
		}
		f := newFixture(t, "wrr", ipvs.SchedOptions{}, weights...)
		w := f.svc().Sched.(*WRR)
		for range 60 {
			if rng.IntN(8) == 0 { // toggle an overload
				name := destName(rng.IntN(n))
				if f.dest(name).C.Overloaded() {
					f.dest(name).C.Unbind(true, f.dest(name).C.Epoch())
				} else {
					f.overload(name)
				}
				continue
			}
			st, p := w.state.Load(), w.params.Load()
			c, cw := int(int32(uint32(st)))-1, int32(st>>32)
			di, mw := int32(uint32(p)), int32(p>>32)
			wantD, wantC, wantCW := wrrReference(f.svc().Dests, c, cw, di, mw)
			got := f.pick(fl)
			st = w.state.Load()
			gotC, gotCW := int(int32(uint32(st)))-1, int32(st>>32)
			if got != wantD || gotC != wantC || gotCW != wantCW {
				t.Fatalf("round %d, %v: Pick = %s (cursor %d cw %d), reference %s (cursor %d cw %d)",
					round, f, nameOf(got), gotC, gotCW, nameOf(wantD), wantC, wantCW)
			}
		}
	}
}

// With a huge weight on an overloaded destination the kernel walks
// max/gcd passes per pick; the skip makes it immediate.
func TestWRRHugeOverloadedWeight(t *testing.T) {
	f := newFixture(t, "wrr", ipvs.SchedOptions{}, 2_000_000_000, 1)
	f.overload("A")
	expectSeq(t, "huge", f.picks(3, flowFrom("172.16.0.1", 1)), "BBB")
}
