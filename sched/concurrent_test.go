package sched

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"lvs/ipvs"
)

// Workers pick from whatever table is current while the single writer
// edits it, as the daemon runs them. Under -race this checks that Pick and
// Update share state only through atomics and locks; everywhere it checks
// that no pick returns a destination unusable in the snapshot it came from
// or a newer one.
func TestConcurrentPickAndUpdate(t *testing.T) {
	edits := 300
	if raceEnabled || testing.Short() {
		edits = 100
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, name, ipvs.SchedOptions{Seed: 2, MHTableSize: 251}, 1, 2, 3)
			var cur atomic.Pointer[ipvs.Table]
			cur.Store(f.tab)
			var stop atomic.Bool
			var wg sync.WaitGroup
			fl := clientFlows(64)
			for w := range 3 {
				wg.Go(func() {
					for i := w; !stop.Load(); i++ {
						s := cur.Load().Service(vipKey)
						fl := fl[i%len(fl)]
						fl.Now = ipvs.Tick(i) * 1000
						d := s.Sched.Pick(s, &fl)
						if d != nil && d.Weight <= 0 {
							t.Errorf("%s picked %v with weight 0", name, d.AddrPort())
							return
						}
					}
				})
			}
			for i := range edits {
				addr := netip.AddrFrom4([4]byte{10, 0, 0, byte(i%6 + 1)})
				spec := ipvs.DestSpec{Addr: addr, Port: 80, Weight: int32(i % 4)}
				tab, err := f.tab.EditDest(vipKey, spec)
				if err != nil {
					tab, err = f.tab.AddDest(vipKey, spec)
				}
				if err == nil && i%5 == 0 {
					tab, err = tab.DeleteDest(vipKey, addr, 80)
				}
				if err == nil {
					f.tab = tab
					cur.Store(tab)
				}
			}
			stop.Store(true)
			wg.Wait()
		})
	}
}

// Concurrent picks advance rr's and wrr's mark one step each, as under the
// kernel's sched_lock: whole cycles give every destination exactly its share.
func TestConcurrentPicksSerialise(t *testing.T) {
	for _, tt := range []struct {
		name    string
		weights []int32
		want    []int
	}{{"rr", []int32{1, 1, 1, 1}, []int{1000, 1000, 1000, 1000}}, {"wrr", []int32{4, 3, 2}, []int{1600, 1200, 800}}} {
		f := newBoundFixture(t, tt.name, ipvs.SchedOptions{}, tt.weights...)
		s := f.svc()
		total := 0
		for _, w := range tt.want {
			total += w
		}
		var counts [4]atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range total / 4 {
					d := s.Sched.Pick(s, flowFrom("172.16.0.1", 1))
					counts[nameOf(d)[0]-'A'].Add(1)
				}
			})
		}
		wg.Wait()
		for i, w := range tt.want {
			if got := counts[i].Load(); got != int64(w) {
				t.Errorf("%s: %s picked %d times, want %d", tt.name, destName(i), got, w)
			}
		}
	}
}
