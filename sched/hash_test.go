package sched

import (
	"net/netip"
	"testing"

	"lvs/ipvs"
)

// The SipHash-2-4 reference vector (Aumasson and Bernstein, key 00..0f,
// empty message) checks sipRound and the finalisation hsiphash32 shares.
func TestSipRound(t *testing.T) {
	k0, k1 := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	v0, v1, v2, v3 := sipC0^k0, sipC1^k1, sipC2^k0, sipC3^k1
	b := uint64(0)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	if got, want := v0^v1^v2^v3, uint64(0x726fdb47dd0e0e31); got != want {
		t.Errorf("SipHash-2-4(empty) = %#x, want %#x", got, want)
	}
}

func TestHash32AndFold(t *testing.T) {
	// hash_32(v, 8) = (v * 0x61C88647) >> 24, worked by hand.
	for _, tt := range []struct{ v, want uint32 }{{1, 97}, {2, 195}, {6, 74}, {7, 172}} {
		if got := hash32(tt.v, 8); got != tt.want {
			t.Errorf("hash32(%d, 8) = %d, want %d", tt.v, got, tt.want)
		}
	}
	if got := fold(netip.MustParseAddr("1.2.3.4")); got != 0x01020304 {
		t.Errorf("fold(1.2.3.4) = %#x", got)
	}
	if got := fold(netip.MustParseAddr("1:2:3:4:5:6:7:8")); got != 0x00010002^0x00030004^0x00050006^0x00070008 {
		t.Errorf("fold(v6) = %#x", got)
	}
}

// ip_vs_dh_schedule: bucket hash_32(daddr, 8), bucket i holds dest i%N.
// 0.0.0.1 → 97 → B; 0.0.0.2 → 195 → A; 0.0.0.6 → 74 → C (N = 3).
func TestDH(t *testing.T) {
	f := newFixture(t, "dh", ipvs.SchedOptions{}, 1, 100, 1) // weights ignored
	for _, tt := range []struct{ dst, want string }{{"0.0.0.1", "B"}, {"0.0.0.2", "A"}, {"0.0.0.6", "C"}, {"0.0.0.7", "B"}} {
		if got := nameOf(f.pick(flowTo(tt.dst, 0))); got != tt.want {
			t.Errorf("dh Pick(dst %s) = %s, want %s", tt.dst, got, tt.want)
		}
	}
	f.edit("B", 0, 0) // quiesced: no fallback
	if got := f.pick(flowTo("0.0.0.1", 0)); got != nil {
		t.Errorf("dh Pick to a quiesced bucket = %s, want nil", nameOf(got))
	}
	f.edit("B", 1, 0)
	f.overload("C")
	if got := f.pick(flowTo("0.0.0.6", 0)); got != nil {
		t.Errorf("dh Pick to an overloaded bucket = %s, want nil", nameOf(got))
	}
}

// ip_vs_sh_reassign with A 2, B 1 fills A A B A A B ..., so bucket b is B
// iff b%3 == 2. 0.0.0.1 → 97 → A; 0.0.0.6 → 74 → B; with sh-port, 0.0.0.1
// port 5 hashes 1+5 = 6 → B.
func TestSH(t *testing.T) {
	tests := []struct {
		name  string
		flags ipvs.SchedFlags
		src   string
		port  uint16
		quiet bool // quiesce B first
		want  string
	}{
		{"addr A", 0, "0.0.0.1", 5, false, "A"},
		{"addr B", 0, "0.0.0.6", 0, false, "B"},
		{"port ignored", 0, "0.0.0.6", 999, false, "B"},
		{"sh-port", ipvs.SchedFlag2, "0.0.0.1", 5, false, "B"},
		{"quiesced", 0, "0.0.0.6", 0, true, "-"},
		// ip_vs_sh_get_fallback: first probe (0+74+74)&255 = 148 → A.
		{"sh-fallback", ipvs.SchedFlag1, "0.0.0.6", 0, true, "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "sh", ipvs.SchedOptions{Flags: tt.flags}, 2, 1)
			if tt.quiet {
				f.edit("B", 0, 0) // weight 0 still keeps its one bucket
			}
			expectSeq(t, tt.name, f.picks(3, flowFrom(tt.src, tt.port)), tt.want+tt.want+tt.want)
		})
	}
}

func TestSHFill(t *testing.T) {
	f := newFixture(t, "sh", ipvs.SchedOptions{}, 3, 0, 1)
	tab := f.svc().Sched.(*SH).table.Load()
	got := ""
	for _, d := range tab[:10] {
		got += nameOf(d)
	}
	expectSeq(t, "buckets", got, "AAABCAAABC")
}

// slotCounts counts the mh lookup slots of each destination.
func slotCounts(f *fixture) map[string]int {
	n := map[string]int{}
	for _, d := range f.svc().Sched.(*MH).table.Load().slots {
		n[nameOf(d)]++
	}
	return n
}

// ip_vs_mh_populate gives turns = (last_weight/gcd) >> rshift slots per
// round in list order until the table is full.
func TestMHTurns(t *testing.T) {
	tests := []struct {
		name    string
		weights []int32
		want    map[string]int
	}{
		// 4093 = 1023 rounds of 1+3, then A's turn: A 1024, B 3069.
		{"1:3", []int32{1, 3}, map[string]int{"A": 1024, "B": 3069}},
		// gcd 2 → turns 1 and 3 again.
		{"2:6", []int32{2, 6}, map[string]int{"A": 1024, "B": 3069}},
		// max/gcd 256 → rshift fls(256)-6 = 3: turns 1 (0, but weight != 0) and 32;
		// 4093 = 124 rounds of 33, then A: A 125, B 3968.
		{"1:256", []int32{1, 256}, map[string]int{"A": 125, "B": 3968}},
		// Added with weight 0: last_weight 0, no turns.
		{"zero", []int32{1, 0}, map[string]int{"A": 4093}},
		{"none", []int32{0}, map[string]int{"-": 4093}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slotCounts(newFixture(t, "mh", ipvs.SchedOptions{}, tt.weights...))
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("slots = %v, want %v", got, tt.want)
					break
				}
			}
		})
	}
}

func TestMHQuiesceKeepsSlots(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		var opts ipvs.SchedOptions
		if fallback {
			opts.Flags = ipvs.SchedFlag1
		}
		f := newFixture(t, "mh", opts, 1, 1, 1)
		before := slices2names(f.svc().Sched.(*MH).table.Load().slots)
		// Find a client that maps to B.
		var fl *ipvs.Flow
		for i := range 1000 {
			c := flowFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}).String(), 1)
			if nameOf(f.pick(c)) == "B" {
				fl = c
				break
			}
		}
		f.edit("B", 0, 0) // quiesce: LastWeight stays 1
		if after := slices2names(f.svc().Sched.(*MH).table.Load().slots); after != before {
			t.Fatalf("quiescing B changed the lookup table")
		}
		got := f.pick(fl)
		switch {
		case !fallback && got != nil:
			t.Errorf("mh Pick for a quiesced slot = %s, want nil", nameOf(got))
		case fallback && (got == nil || nameOf(got) == "B"):
			t.Errorf("mh-fallback Pick for a quiesced slot = %s, want A or C", nameOf(got))
		}
	}
}

func slices2names(ds []*ipvs.Dest) string {
	b := make([]byte, len(ds))
	for i, d := range ds {
		b[i] = nameOf(d)[0]
	}
	return string(b)
}

func TestMHPortAndSize(t *testing.T) {
	f := newFixture(t, "mh", ipvs.SchedOptions{MHTableSize: 251}, 1, 1, 1, 1)
	if n := len(f.svc().Sched.(*MH).table.Load().slots); n != 251 {
		t.Errorf("table size = %d, want 251", n)
	}
	seen := map[string]bool{}
	for p := range 64 {
		seen[nameOf(f.pick(flowFrom("172.16.0.9", uint16(p))))] = true
	}
	if len(seen) != 1 {
		t.Errorf("without mh-port one client reached %d destinations", len(seen))
	}
	g := newFixture(t, "mh", ipvs.SchedOptions{Flags: ipvs.SchedFlag2}, 1, 1, 1, 1)
	clear(seen)
	for p := range 64 {
		seen[nameOf(g.pick(flowFrom("172.16.0.9", uint16(p))))] = true
	}
	if len(seen) < 2 {
		t.Errorf("with mh-port one client reached only %v", seen)
	}
	for _, size := range []int{250, 1, 131072, 200003} {
		if _, err := New("mh", ipvs.SchedOptions{MHTableSize: size}); err == nil {
			t.Errorf("New(mh, size %d) succeeded", size)
		}
	}
}

func TestRegistry(t *testing.T) {
	if got := len(Names()); got != 14 {
		t.Errorf("Names() has %d schedulers, want 14", got)
	}
	for _, n := range Names() {
		s, err := New(n, ipvs.SchedOptions{})
		if err != nil || s.Name() != n {
			t.Errorf("New(%q) = %v, %v", n, s, err)
		}
	}
	if s, err := New("", ipvs.SchedOptions{}); err != nil || s.Name() != "wlc" {
		t.Errorf(`New("") = %v, %v; want wlc`, s, err)
	}
	if _, err := New("bogus", ipvs.SchedOptions{}); err == nil {
		t.Errorf("New(bogus) succeeded")
	}
}

// ip_vs_mh_populate by hand, table size 7: A (offset 3, skip 2, 1 turn),
// B (offset 3, skip 3, 2 turns).
// Round 1: A takes 3; B 3 is taken → 6; B again 6 → 2.
// Round 2: A 3 → 5; B 2 → 5 → 1; B again 1 → 4.
// Round 3: A 5 → 0, and the table is full.
func TestMHFill(t *testing.T) {
	f := newFixture(t, "rr", ipvs.SchedOptions{}, 1, 2)
	slots := make([]*ipvs.Dest, 7)
	mhFill(slots, f.svc().Dests, []mhSetup{{perm: 3, skip: 2, turns: 1}, {perm: 3, skip: 3, turns: 2}})
	expectSeq(t, "slots", slices2names(slots), "ABBABAB")
}

// TestMHHashTable: the table mh lists for the kernel fast path
// (ipvs.Hasher) is its lookup table, with mh-port saying the port is
// hashed; none while a slot's destination has weight 0 (Pick would refuse
// or probe) or when longer than asked.
func TestMHHashTable(t *testing.T) {
	f := newFixture(t, "mh", ipvs.SchedOptions{Flags: ipvs.SchedFlag2}, 1, 2)
	s := f.svc()
	slots, fn, port := s.Sched.(ipvs.Hasher).HashTable(s, 1<<14)
	if len(slots) != mhDefaultSize || !port || fn != ipvs.HashMH || slices2names(slots) != slices2names(s.Sched.(*MH).table.Load().slots) {
		t.Fatalf("HashTable = %d slots (port %v), want mh's %d-slot table with the port", len(slots), port, mhDefaultSize)
	}
	if short, _, _ := s.Sched.(ipvs.Hasher).HashTable(s, mhDefaultSize-1); short != nil {
		t.Error("HashTable gave a table longer than max")
	}
	f.edit("B", 0, 0)
	s = f.svc()
	if q, _, _ := s.Sched.(ipvs.Hasher).HashTable(s, 1<<14); q != nil {
		t.Error("HashTable gave a table with a quiesced destination's slots")
	}
}

// TestSHHashTable: sh lists its 256 buckets with sh's hash, the port
// when sh-port; none while a bucket's destination has weight 0.
func TestSHHashTable(t *testing.T) {
	f := newFixture(t, "sh", ipvs.SchedOptions{}, 1, 3)
	s := f.svc()
	slots, fn, port := s.Sched.(ipvs.Hasher).HashTable(s, 1<<14)
	if len(slots) != dhSize || port || fn != ipvs.HashSH {
		t.Fatalf("HashTable = %d slots, %v, port %v; want sh's 256 buckets, no port", len(slots), fn, port)
	}
	for i := range 50 {
		fl := flowFrom(netip.AddrFrom4([4]byte{172, 16, 0, byte(i)}).String(), 1)
		if got, want := slots[hash32(fold(fl.Src.Addr()), dhBits)], f.pick(fl); got != want {
			t.Errorf("client %v: bucket holds %s, Pick gives %s", fl.Src, nameOf(got), nameOf(want))
		}
	}
	f.edit("B", 0, 0)
	s = f.svc()
	if q, _, _ := s.Sched.(ipvs.Hasher).HashTable(s, 1<<14); q != nil {
		t.Error("HashTable gave buckets of a destination at weight 0")
	}
}
