package conntrack

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"lvs/ipvs"
)

// benchSizes are the table sizes of the benchmarks. 10M is opt-in (about
// 1.5 GB and a minute to fill): set CONNTRACK_BENCH_10M=1 or name it in
// -bench (e.g. -bench 'Lookup/10M').
func benchSizes() []int {
	sizes := []int{1_000, 100_000, 1_000_000}
	if os.Getenv("CONNTRACK_BENCH_10M") != "" {
		return append(sizes, 10_000_000)
	}
	if f := flag.Lookup("test.bench"); f != nil && strings.Contains(f.Value.String(), "10M") {
		return append(sizes, 10_000_000)
	}
	return sizes
}

func sizeName(n int) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}

// flowKey is flow i: 16 client ports per client address.
func flowKey(i int) Key {
	a := uint32(0x0a000000 + i/16)
	return Key{Proto: ipvs.TCP, Client: netip.AddrPortFrom(unpack4(a), 1024+uint16(i%16)), Virtual: ap(vip, 80)}
}

// flowKey6 is flow i over IPv6: 16 client ports per client address.
func flowKey6(i int) Key {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xc1}
	a[12], a[13], a[14], a[15] = byte(i>>28), byte(i>>20), byte(i>>12), byte(i>>4)
	return Key{Proto: ipvs.TCP, Client: netip.AddrPortFrom(netip.AddrFrom16(a), 1024+uint16(i%16)), Virtual: ap(vip6, 80)}
}

// keyOf returns flow i of the family.
func keyOf(six bool, i int) Key {
	if six {
		return flowKey6(i)
	}
	return flowKey(i)
}

// spread maps i to a scattered index in [0, n) (a multiplicative hash and
// a multiply-shift range reduction, no division), so lookups do not walk
// the slabs in insertion order.
func spread(i, n int) int { return int(uint64(uint32(i)*2654435761) * uint64(n) >> 32) }

// filled returns a table holding n established NAT flows, alternating
// between two real servers, and their handles.
func filled(b testing.TB, n int) (*env, *ipvs.Service, []Handle) { return filledFamily(b, n, false) }

// filledFamily is filled with IPv6 flows (flowKey6, to rip61 and rip62)
// when six is set.
func filledFamily(b testing.TB, n int, six bool) (*env, *ipvs.Service, []Handle) {
	v := newEnv(b, Config{MaxEntries: 2*n + 1<<16})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1, rip2)
	if six {
		s = v.service(ipvs.ServiceSpec{Key: web6}, ipvs.Masq, rip61, rip62)
	}
	hs := make([]Handle, n)
	for i := range n {
		c, st := v.ct.Schedule(s, keyOf(six, i), 0, SYN, start)
		if st != Scheduled {
			b.Fatalf("fill %d: %v", i, st)
		}
		hs[i] = c.Handle
	}
	return v, s, hs
}

func forSizes(b *testing.B, f func(b *testing.B, n int)) {
	for _, n := range benchSizes() {
		b.Run(sizeName(n), func(b *testing.B) { f(b, n) })
	}
}

// cpuNow is the process's CPU time. The machine the benchmarks run on is
// shared, so next to wall-clock ns/op they report cpu-ns/op (CPU time of
// the process per op, GC included), which other tenants do not inflate.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed resets the timer and returns a func that reports cpu-ns/op: CPU
// time while the benchmark timer ran (b.StopTimer/StartTimer pairs in the
// loop are honoured), per op.
func timed(b *testing.B) func() {
	b.ReportAllocs()
	b.ResetTimer()
	t0, w0 := cpuNow(), time.Now()
	return func() {
		b.StopTimer()
		cpu := cpuNow() - t0
		// Approximate the untimed share by the wall-clock ratio.
		if wall := time.Since(w0); wall > 0 && b.Elapsed() < wall {
			cpu = time.Duration(float64(cpu) * float64(b.Elapsed()) / float64(wall))
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkLookupHit(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filled(b, n)
		defer timed(b)()
		for i := range b.N {
			if _, ok := v.ct.Lookup(flowKey(spread(i, n))); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkInHit is the per-packet cost of a client packet: lookup, state
// step, timer re-arm, under the shard lock.
func BenchmarkInHit(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filled(b, n)
		defer timed(b)()
		for i := range b.N {
			if _, vd := v.ct.In(flowKey(spread(i, n)), ACK, start); vd != Hit {
				b.Fatal(vd)
			}
		}
	})
}

func BenchmarkReplyLookup(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filled(b, n)
		rips := [2]netip.Addr{rip1, rip2}
		defer timed(b)()
		for i := range b.N {
			j := spread(i, n)
			if _, ok := v.ct.LookupReply(ReplyKey{Proto: ipvs.TCP, Real: ap(rips[j%2], 80), Client: flowKey(j).Client}); !ok {
				b.Fatal("reply miss")
			}
		}
	})
}

// BenchmarkMissInsert is a new flow's cost at table size n: the failed
// lookup, the scheduler pick and the insert. To hold the size, every 1024
// inserts the 1024 oldest flows are deleted with the timer stopped.
func BenchmarkMissInsert(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, s, hs := filled(b, n)
		const batch = 1024
		done := timed(b)
		for i := 0; i < b.N; i += batch {
			m := min(batch, b.N-i)
			b.StopTimer()
			for j := range m {
				v.ct.Delete(hs[(i+j)%n])
			}
			b.StartTimer()
			for j := range m {
				k := flowKey(n + i + j)
				if _, ok := v.ct.Lookup(k); ok {
					b.Fatal("hit")
				}
				c, st := v.ct.Schedule(s, k, 0, SYN, start)
				if st != Scheduled {
					b.Fatal(st)
				}
				hs[(i+j)%n] = c.Handle
			}
		}
		done()
	})
}

// BenchmarkChurn is the steady state: each op deletes the oldest flow and
// inserts a new one into the freed slot (0 allocs).
func BenchmarkChurn(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, s, hs := filled(b, n)
		defer timed(b)()
		for i := range b.N {
			v.ct.Delete(hs[i%n])
			c, st := v.ct.Schedule(s, flowKey(n+i), 0, SYN, start)
			if st != Scheduled {
				b.Fatal(st)
			}
			hs[i%n] = c.Handle
		}
	})
}

// BenchmarkExpire removes n expired flows with budgeted sweeps; ns/flow is
// the cost per removed entry.
func BenchmarkExpire(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, s, _ := filled(b, n)
		b.ReportAllocs()
		b.ResetTimer()
		var total time.Duration
		for i := range b.N {
			if i > 0 {
				b.StopTimer()
				for j := range n {
					v.ct.Schedule(s, flowKey(j), 0, SYN, start)
				}
				b.StartTimer()
			}
			t0 := time.Now()
			for v.ct.Len() > 0 {
				v.ct.Expire(start+61*sec, 1<<16)
			}
			total += time.Since(t0)
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*n), "ns/flow")
	})
}

// BenchmarkSweepIdle is the cost of the sweep over live flows none of
// which is due: what a periodic Expire costs in steady state.
func BenchmarkSweepIdle(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filled(b, n)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			v.ct.Expire(start, 4096)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/slot")
	})
}

// BenchmarkMemory reports heap bytes per flow from runtime.MemStats and the
// longest stop-the-world GC pause with the table live.
func BenchmarkMemory(b *testing.B) { benchMemory(b, false) }

// BenchmarkMemoryIPv6 is BenchmarkMemory with IPv6 flows.
func BenchmarkMemoryIPv6(b *testing.B) { benchMemory(b, true) }

func benchMemory(b *testing.B, six bool) {
	forSizes(b, func(b *testing.B, n int) {
		for range b.N {
			perFlow, pause, gc := measureMemory(b, n, six)
			b.ReportMetric(perFlow, "B/flow")
			b.ReportMetric(float64(pause.Microseconds()), "µs-max-gc-pause")
			b.ReportMetric(float64(gc.Milliseconds()), "ms-full-gc")
		}
	})
}

// measureMemory fills a table with n flows and returns the heap bytes per
// flow, the longest GC pause of three forced collections, and the longest
// wall time of one whole collection, with the table live.
func measureMemory(tb testing.TB, n int, six bool) (float64, time.Duration, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v, _, hs := filledFamily(tb, n, six)
	hs = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	perFlow := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	var pause, full time.Duration
	for range 3 {
		t0 := time.Now()
		runtime.GC()
		full = max(full, time.Since(t0))
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		pause = max(pause, time.Duration(m.PauseNs[(m.NumGC+255)%256]))
	}
	runtime.KeepAlive(v)
	runtime.KeepAlive(hs)
	return perFlow, pause, full
}

func TestMemoryPerFlow(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("fills a million flows")
	}
	for _, six := range []bool{false, true} {
		const n = 1_000_000
		perFlow, pause, _ := measureMemory(t, n, six)
		t.Logf("IPv6=%v: %d flows: %.1f B/flow, max GC pause %v", six, n, perFlow, pause)
		if perFlow > BytesPerEntry {
			t.Errorf("IPv6=%v: %.1f bytes per flow, budget %d", six, perFlow, BytesPerEntry)
		}
	}
}

const benchBatch = 64

// BenchmarkLookupHitBatch is LookupHit through LookupBatch, 64 keys a call
// (the dataplane's batch); ns/op is per key.
func BenchmarkLookupHitBatch(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filled(b, n)
		keys, out, found := make([]Key, benchBatch), make([]Conn, benchBatch), make([]bool, benchBatch)
		defer timed(b)()
		for i := 0; i < b.N; i += benchBatch {
			m := min(benchBatch, b.N-i)
			for j := range m {
				keys[j] = flowKey(spread(i+j, n))
			}
			v.ct.LookupBatch(keys[:m], out, found)
			if !found[0] {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkInHitBatch is InHit through InBatch; ns/op is per packet.
func BenchmarkInHitBatch(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filled(b, n)
		keys, fl := make([]Key, benchBatch), make([]TCPFlags, benchBatch)
		out, vd := make([]Conn, benchBatch), make([]Verdict, benchBatch)
		for j := range fl {
			fl[j] = ACK
		}
		defer timed(b)()
		for i := 0; i < b.N; i += benchBatch {
			m := min(benchBatch, b.N-i)
			for j := range m {
				keys[j] = flowKey(spread(i+j, n))
			}
			v.ct.InBatch(keys[:m], fl, start, out, vd)
			if vd[0] != Hit {
				b.Fatal(vd[0])
			}
		}
	})
}

// BenchmarkReplyLookupBatch is ReplyLookup through LookupReplyBatch.
func BenchmarkReplyLookupBatch(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filled(b, n)
		rips := [2]netip.Addr{rip1, rip2}
		keys, out, found := make([]ReplyKey, benchBatch), make([]Conn, benchBatch), make([]bool, benchBatch)
		defer timed(b)()
		for i := 0; i < b.N; i += benchBatch {
			m := min(benchBatch, b.N-i)
			for j := range m {
				x := spread(i+j, n)
				keys[j] = ReplyKey{Proto: ipvs.TCP, Real: ap(rips[x%2], 80), Client: flowKey(x).Client}
			}
			v.ct.LookupReplyBatch(keys[:m], out, found)
			if !found[0] {
				b.Fatal("reply miss")
			}
		}
	})
}

// BenchmarkLookupHitIPv6 is BenchmarkLookupHit with IPv6 flows.
func BenchmarkLookupHitIPv6(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filledFamily(b, n, true)
		defer timed(b)()
		for i := range b.N {
			if _, ok := v.ct.Lookup(flowKey6(spread(i, n))); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkInHitIPv6 is BenchmarkInHit with IPv6 flows.
func BenchmarkInHitIPv6(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filledFamily(b, n, true)
		defer timed(b)()
		for i := range b.N {
			if _, vd := v.ct.In(flowKey6(spread(i, n)), ACK, start); vd != Hit {
				b.Fatal(vd)
			}
		}
	})
}

// BenchmarkReplyLookupIPv6 is BenchmarkReplyLookup with IPv6 flows.
func BenchmarkReplyLookupIPv6(b *testing.B) {
	forSizes(b, func(b *testing.B, n int) {
		v, _, _ := filledFamily(b, n, true)
		rips := [2]netip.Addr{rip61, rip62}
		defer timed(b)()
		for i := range b.N {
			j := spread(i, n)
			if _, ok := v.ct.LookupReply(ReplyKey{Proto: ipvs.TCP, Real: ap(rips[j%2], 80), Client: flowKey6(j).Client}); !ok {
				b.Fatal("reply miss")
			}
		}
	})
}
