package sched

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"lvs/ipvs"
)

// benchService builds a service of n destinations (weights 1..4, a spread
// of connection counts) with scheduler name, through ipvs.Table edits.
func benchService(tb testing.TB, name string, n int) *ipvs.Service {
	tb.Helper()
	f := newFixture(tb, name, ipvs.SchedOptions{Seed: 1}, nil...)
	for i := range n {
		f.must(f.tab.AddDest(vipKey, ipvs.DestSpec{Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}),
			Port: 80, Weight: int32(1 + i%4)}))
	}
	s := f.svc()
	for i, d := range s.Dests {
		for range (i * 7) % 13 {
			d.C.Bind(true, d.C.Epoch())
		}
		for range i % 5 {
			d.C.Bind(false, d.C.Epoch())
		}
	}
	return s
}

func BenchmarkPick(b *testing.B) {
	fl := clientFlows(1024)
	for _, name := range Names() {
		for _, n := range []int{2, 16, 256, 4096} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				s := benchService(b, name, n)
				for i := range fl {
					s.Sched.Pick(s, &fl[i])
				}
				b.ReportAllocs()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				t0 := threadCPU(b)
				for i := 0; b.Loop(); i++ {
					s.Sched.Pick(s, &fl[i&1023])
				}
				b.ReportMetric(float64(threadCPU(b)-t0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkPickParallel measures the schedulers with shared per-pick state
// (a cursor, a random counter, a cache chain) under contention.
func BenchmarkPickParallel(b *testing.B) {
	fl := clientFlows(1024)
	for _, name := range []string{"rr", "wrr", "twos", "lblc", "mh", "wlc"} {
		b.Run(name+"/16", func(b *testing.B) {
			s := benchService(b, name, 16)
			for i := range fl {
				s.Sched.Pick(s, &fl[i])
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					s.Sched.Pick(s, &fl[i&1023])
				}
			})
		})
	}
}

// BenchmarkMHRebuild is the cost of one mh Update (a new lookup table) for
// 1,000 destinations at the default table size.
func BenchmarkMHRebuild(b *testing.B) {
	s := benchService(b, "mh", 1000)
	m := s.Sched.(*MH)
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU(b)
	for b.Loop() {
		m.prev = nil
		m.Update(s)
	}
	b.ReportMetric(float64(threadCPU(b)-t0)/float64(b.N), "cpu-ns/op")
}
