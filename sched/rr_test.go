package sched

import (
	"testing"

	"lvs/ipvs"
)

// Expected sequences follow ip_vs_rr_schedule and ip_vs_rr_del_dest
// (net/netfilter/ipvs/ip_vs_rr.c).
func TestRRSequences(t *testing.T) {
	fl := flowFrom("172.16.0.1", 1)
	tests := []struct {
		name    string
		weights []int32
		setup   func(f *fixture)
		want    string
	}{
		{"plain", []int32{1, 1, 1}, nil, "ABCABC"},
		{"weights ignored", []int32{5, 1, 3}, nil, "ABCABC"},
		{"weight 0 skipped", []int32{1, 0, 1}, nil, "ACACAC"},
		{"overloaded skipped", []int32{1, 1, 1}, func(f *fixture) { f.overload("B") }, "ACACAC"},
		{"none available", []int32{0, 0}, nil, "---"},
		{"empty", nil, nil, "--"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "rr", ipvs.SchedOptions{}, tt.weights...)
			if tt.setup != nil {
				tt.setup(f)
			}
			expectSeq(t, tt.name, f.picks(len(tt.want), fl), tt.want)
		})
	}
}

func TestRREdits(t *testing.T) {
	fl := flowFrom("172.16.0.1", 1)
	f := newFixture(t, "rr", ipvs.SchedOptions{}, 1, 1, 1)
	expectSeq(t, "start", f.picks(2, fl), "AB")
	// ip_vs_rr_del_dest: the cursor (B) moves back to A, so C is next.
	f.del("B")
	expectSeq(t, "after deleting the cursor", f.picks(3, fl), "CAC")
	// Adding appends after C; the cursor (C) stays, so D is next.
	f.add("D", 1, 0)
	expectSeq(t, "after adding", f.picks(3, fl), "DAC")
	// Deleting the first destination while the cursor is on C keeps it on C.
	f.del("A")
	expectSeq(t, "after deleting another", f.picks(3, fl), "DCD")
	// Deleting the cursor at the head of the list returns it to the head.
	f.add("A", 1, 0) // list C D A, cursor on D
	expectSeq(t, "re-added", f.picks(1, fl), "A")
	f.del("C")
	f.del("A") // cursor A (last) → previous D
	expectSeq(t, "cursor walked back", f.picks(2, fl), "DD")
	// An edit keeps the cursor; a dest whose weight goes to 0 is skipped.
	f.add("E", 1, 0)
	f.edit("D", 0, 0)
	expectSeq(t, "after quiescing", f.picks(2, fl), "EE")
	f.edit("D", 1, 0)
	expectSeq(t, "after restoring", f.picks(3, fl), "DED")
}
