package sched

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"

	"lvs/ipvs"
)

// Over a million picks each wrr destination's share equals its weight
// share within 0.1%.
func TestWRRShares(t *testing.T) {
	picks := 1_000_000
	if testing.Short() || raceEnabled {
		picks = 100_000
	}
	weights := []int32{5, 3, 2, 7, 1, 0, 4}
	f := newFixture(t, "wrr", ipvs.SchedOptions{}, weights...)
	count := map[string]int{}
	fl := flowFrom("172.16.0.1", 1)
	for range picks {
		count[nameOf(f.pick(fl))]++
	}
	var sum int32
	for _, w := range weights {
		sum += w
	}
	for i, w := range weights {
		got, want := float64(count[destName(i)])/float64(picks), float64(w)/float64(sum)
		if math.Abs(got-want) > 0.001 {
			t.Errorf("%s (weight %d): share %.5f, want %.5f ± 0.001", destName(i), w, got, want)
		}
	}
}

// mhMoved returns the fraction of keys whose destination changes when the
// middle one of n weight-1 destinations is removed from a table of size m.
func mhMoved(t *testing.T, m, n, keys int) float64 {
	f := newFixture(t, "mh", ipvs.SchedOptions{MHTableSize: m}, nil...)
	for i := range n {
		f.must(f.tab.AddDest(vipKey, ipvs.DestSpec{Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Weight: 1}))
	}
	fl := clientFlows(keys)
	before := make([]netip.Addr, keys)
	for i := range fl {
		before[i] = f.pick(&fl[i]).Addr
	}
	f.must(f.tab.DeleteDest(vipKey, netip.AddrFrom4([4]byte{10, 1, byte(n / 2 >> 8), byte(n / 2)}), 80))
	moved := 0
	for i := range fl {
		if f.pick(&fl[i]).Addr != before[i] {
			moved++
		}
	}
	return float64(moved) / float64(keys)
}

// Maglev disruption: removing one of N destinations moves its own 1/N of
// the keys plus the cascade of the greedy population, which shrinks as the
// table grows relative to N. Measured (fraction of keys, times 1/N):
// M=4093 N=10 1.11, M=4093 N=100 4.4, M=65521 N=100 1.5. The bounds sit a
// little above those measurements.
func TestMHMinimalDisruption(t *testing.T) {
	for _, tt := range []struct {
		m, n  int
		bound float64 // in units of 1/N
	}{{4093, 10, 1.25}, {4093, 100, 5}, {65521, 100, 2}} {
		if tt.m > mhDefaultSize && (raceEnabled || testing.Short()) {
			continue // 100 rebuilds of a 65521-slot table are slow under -race
		}
		got := mhMoved(t, tt.m, tt.n, 50_000)
		t.Logf("mh M=%d: removing 1 of %d destinations moved %.4f of keys (%.2f/N)", tt.m, tt.n, got, got*float64(tt.n))
		if limit := tt.bound / float64(tt.n); got > limit {
			t.Errorf("M=%d: removing 1 of %d moved %.4f of keys, want <= %.4f", tt.m, tt.n, got, limit)
		}
		if got < 0.9/float64(tt.n) {
			t.Errorf("M=%d: removing 1 of %d moved only %.4f of keys: the removed one's keys must move", tt.m, tt.n, got)
		}
	}
}

// sh, dh and mh give the same key the same destination, and so do lblc and
// lblcr while nothing changes.
func TestHashStable(t *testing.T) {
	for _, name := range []string{"sh", "dh", "mh", "lblc", "lblcr"} {
		f := newFixture(t, name, ipvs.SchedOptions{}, 1, 2, 3, 4, 5)
		fl := clientFlows(500)
		first := make([]*ipvs.Dest, len(fl))
		for i := range fl {
			first[i] = f.pick(&fl[i])
		}
		f.edit("C", 3, 0) // an edit that changes nothing for the hash
		for round := range 3 {
			for i := range fl {
				if got := f.pick(&fl[i]); got == nil || first[i] == nil || got.ID != first[i].ID {
					t.Fatalf("%s round %d: key %d moved from %s to %s", name, round, i, nameOf(first[i]), nameOf(got))
				}
			}
		}
	}
}

// No scheduler ever returns a weight-0 or overloaded destination, or one
// that is not in the service, over random services and connection counts.
func TestNeverUnavailable(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	fl := clientFlows(64)
	for _, name := range Names() {
		for round := range 40 {
			n := 1 + rng.IntN(8)
			weights := make([]int32, n)
			for i := range weights {
				weights[i] = int32(rng.IntN(4))
			}
			f := newFixture(t, name, ipvs.SchedOptions{Seed: 3, Flags: ipvs.SchedFlags(rng.IntN(4))}, weights...)
			for i := range n {
				if rng.IntN(3) == 0 {
					f.overload(destName(i))
				}
				f.conns(destName(i), rng.IntN(4), rng.IntN(4))
			}
			if d := f.pick(&ipvs.Flow{}); d != nil && d.Weight <= 0 { // a zero Flow must not panic
				t.Fatalf("%s picked weight 0 for a zero flow", name)
			}
			for k := range 200 {
				fl := &fl[k%len(fl)]
				fl.Now = ipvs.Tick(k) * minute
				d := f.pick(fl)
				if d == nil {
					continue
				}
				if d.Weight <= 0 || d.C.Overloaded() || f.svc().Dest(d.Addr, d.Port) == nil {
					t.Fatalf("%s round %d (%v): picked %s weight %d overloaded %v", name, round, f, nameOf(d), d.Weight, d.C.Overloaded())
				}
			}
		}
	}
}
