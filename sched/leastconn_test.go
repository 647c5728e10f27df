package sched

import (
	"testing"

	"lvs/ipvs"
)

// conn is a connection count to bind before a pick.
type conn struct {
	dest             string
	active, inactive int
}

// Each case is worked from the kernel function named in its comment.
func TestLeastConnPicks(t *testing.T) {
	fl := flowFrom("172.16.0.1", 1)
	tests := []struct {
		name    string
		sched   string
		weights []int32
		conns   []conn
		over    string // destination to overload first
		want    string
	}{
		// ip_vs_wlc_schedule: loads A 256/1, B 257/2, C 512/3 → B.
		{"wlc least ratio", "wlc", []int32{1, 2, 3}, []conn{{"A", 1, 0}, {"B", 1, 1}, {"C", 2, 0}}, "", "B"},
		// 512*1 > 256*2 is false: a tie keeps the earlier A.
		{"wlc cross-multiplied tie", "wlc", []int32{2, 1}, []conn{{"A", 2, 0}, {"B", 1, 0}}, "", "A"},
		{"wlc weight 0 skipped", "wlc", []int32{0, 1}, []conn{{"B", 3, 0}}, "", "B"},
		{"wlc overloaded skipped", "wlc", []int32{1, 1}, nil, "A", "B"},
		{"wlc active weighs 256", "wlc", []int32{1, 1}, []conn{{"A", 1, 0}, {"B", 0, 255}}, "", "B"},
		{"wlc none", "wlc", []int32{0, 0}, nil, "", "-"},
		// ip_vs_lc_schedule: overheads A 257, B 256, C 0 but weight 0 → B.
		{"lc least overhead", "lc", []int32{1, 9, 0}, []conn{{"A", 1, 1}, {"B", 1, 0}}, "", "B"},
		{"lc ignores weight", "lc", []int32{1, 100}, []conn{{"B", 0, 1}}, "", "A"},
		{"lc tie to earlier", "lc", []int32{1, 1}, []conn{{"A", 0, 1}, {"B", 0, 1}}, "", "A"},
		// ip_vs_sed_schedule: (0+1)/1 vs (1+1)/3 → B.
		{"sed expected delay", "sed", []int32{1, 3}, []conn{{"B", 1, 0}}, "", "B"},
		{"sed ignores inactive", "sed", []int32{1, 1}, []conn{{"A", 0, 100}, {"B", 1, 0}}, "", "A"},
		{"sed tie to earlier", "sed", []int32{1, 2}, []conn{{"B", 1, 0}}, "", "A"},
		// ip_vs_nq_schedule: first idle wins even over a heavier idle one.
		{"nq first idle", "nq", []int32{1, 1, 10}, []conn{{"A", 1, 0}}, "", "B"},
		{"nq idle overloaded skipped", "nq", []int32{1, 1}, []conn{{"B", 1, 0}}, "A", "B"},
		// No idle one: SED rule, 2/1 vs 3/4 → B.
		{"nq sed fallback", "nq", []int32{1, 4}, []conn{{"A", 1, 0}, {"B", 2, 0}}, "", "B"},
		// ip_vs_fo_schedule: highest weight, first of equals.
		{"fo highest", "fo", []int32{2, 5, 5}, nil, "", "B"},
		{"fo overloaded", "fo", []int32{2, 5, 5}, nil, "B", "C"},
		{"fo zero", "fo", []int32{0, 0}, nil, "", "-"},
		// ip_vs_ovf_schedule: highest weight until active > weight.
		{"ovf highest", "ovf", []int32{3, 5}, []conn{{"B", 5, 0}}, "", "B"},
		{"ovf overflow", "ovf", []int32{3, 5}, []conn{{"B", 6, 0}}, "", "A"},
		{"ovf all full", "ovf", []int32{3, 5}, []conn{{"A", 4, 0}, {"B", 6, 9}}, "", "-"},
		{"ovf inactive ignored", "ovf", []int32{3, 5}, []conn{{"B", 0, 50}}, "", "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.sched, ipvs.SchedOptions{}, tt.weights...)
			if tt.over != "" {
				f.overload(tt.over)
			}
			for _, c := range tt.conns {
				f.conns(c.dest, c.active, c.inactive)
			}
			expectSeq(t, tt.name, f.picks(1, fl), tt.want)
		})
	}
}

// The guide's quiesce_server reset (ipvs.Table.ResetSched) makes a
// returning server look empty to wlc again.
func TestWLCAfterResetSched(t *testing.T) {
	f := newFixture(t, "wlc", ipvs.SchedOptions{}, 1, 1)
	f.conns("A", 3, 0)
	f.conns("B", 1, 0)
	fl := flowFrom("172.16.0.1", 1)
	expectSeq(t, "before reset", f.picks(1, fl), "B")
	if err := f.tab.ResetSched(vipKey); err != nil {
		t.Fatal(err)
	}
	f.conns("B", 1, 0)
	expectSeq(t, "after reset", f.picks(1, fl), "A")
}

// ip_vs_twos_schedule with the random draws fixed: weights 1,2,1 make
// total 5; r1 0 lands on A, r2 2 on B (2-1=1, 1-2=-1).
func TestTwoSPick(t *testing.T) {
	f := newFixture(t, "twos", ipvs.SchedOptions{Seed: 1}, 1, 2, 1)
	ds := f.svc().Dests
	if got := nameOf(twosPick(ds, 0, 2)); got != "A" { // equal overheads: choice1
		t.Errorf("twosPick(0, 2) = %s, want A", got)
	}
	if got := nameOf(twosPick(ds, 5, 4)); got != "A" { // 5%5 = 0 → A; 4 → C; tie
		t.Errorf("twosPick(5, 4) = %s, want A", got)
	}
	f.conns("A", 1, 0) // oh1 256: w2*oh1 = 512 > w1*oh2 = 0 → B
	if got := nameOf(twosPick(ds, 0, 2)); got != "B" {
		t.Errorf("twosPick(0, 2) with A loaded = %s, want B", got)
	}
	f.overload("B") // skipped: total 3, r2 2 → A (1), C (-0)... 2-1=1, 1-1=0 → C
	ds = f.svc().Dests
	if got := nameOf(twosPick(ds, 0, 2)); got != "C" {
		t.Errorf("twosPick(0, 2) with B overloaded = %s, want C", got)
	}
	// The same seed gives the same draws.
	g := newFixture(t, "twos", ipvs.SchedOptions{Seed: 1}, 1, 2, 1)
	h := newFixture(t, "twos", ipvs.SchedOptions{Seed: 1}, 1, 2, 1)
	if a, b := g.picks(50, flowFrom("172.16.0.1", 1)), h.picks(50, flowFrom("172.16.0.1", 1)); a != b {
		t.Errorf("seeded twos differ: %s vs %s", a, b)
	}
}
