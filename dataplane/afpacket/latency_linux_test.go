package afpacket

import (
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"lvs/dataplane/internal/nstest"
	"lvs/dataplane/linktest"
	"lvs/internal/testutil"
)

// echoPair opens Links on both ends of a veth pair in a new namespace: the
// returned one, and one whose reader writes every test frame it receives
// straight back (from the ring), until the test ends.
func echoPair(tb testing.TB, ring RingVersion) *Link {
	tb.Helper()
	testutil.RequireRoot(tb)
	testutil.RequireCommand(tb, "ip", "sysctl")
	ns := nstest.New(tb, "lat")
	u := nstest.Unique()
	an, bn := nstest.Prefix+u+"a", nstest.Prefix+u+"b"
	nstest.Veth(tb, ns, an, ns, bn)
	la := openIn(tb, ns, Config{Interface: an, Ring: ring, Promisc: true})
	lb := openIn(tb, ns, Config{Interface: bn, Ring: ring, Promisc: true})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frames := make([][]byte, lb.BatchSize())
		for {
			n, err := lb.ReadBatch(frames)
			if err != nil {
				return
			}
			k := 0
			for _, f := range frames[:n] {
				if len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == linktest.EtherTypeTest {
					frames[k] = f
					k++
				}
			}
			lb.WriteBatch(frames[:k])
		}
	}()
	tb.Cleanup(func() { lb.Close(); wg.Wait() })
	return la
}

// roundTrip writes one test frame tagged seq to l and reads l until it comes
// back. It reports false if a read or write failed (Close by the guard).
func roundTrip(l *Link, out []byte, in [][]byte, seq uint32) bool {
	binary.BigEndian.PutUint32(out[14:], seq)
	if n, err := l.WriteBatch([][]byte{out}); n != 1 || err != nil {
		return false
	}
	for {
		n, err := l.ReadBatch(in)
		if err != nil {
			return false
		}
		for _, f := range in[:n] {
			if len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == linktest.EtherTypeTest &&
				binary.BigEndian.Uint32(f[14:]) == seq {
				return true
			}
		}
	}
}

// roundTrips measures n one-frame round trips through an echo pair of the
// given ring version, and returns them sorted.
func roundTrips(tb testing.TB, ring RingVersion, n int) []time.Duration {
	tb.Helper()
	l := echoPair(tb, ring)
	guard := time.AfterFunc(time.Minute, func() { l.Close() })
	defer guard.Stop()
	out := linktest.TestFrame(0, 106)
	in := make([][]byte, l.BatchSize())
	rtt := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		if !roundTrip(l, out, in, uint32(i)) {
			tb.Fatalf("round trip %d of %d failed (within the %v guard)", i, n, time.Minute)
		}
		rtt = append(rtt, time.Since(start))
	}
	slices.Sort(rtt)
	return rtt
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// TestRoundTripLatency: one frame at a time goes through a Link pair and
// back, on each ring version. Every frame must come back; the times are
// logged for comparison (TPACKET_V3 waits for the block timeout at each end,
// TPACKET_V2 for a wake-up only) and do not decide the outcome.
func TestRoundTripLatency(t *testing.T) {
	for _, ring := range []RingVersion{RingV3, RingV2} {
		rtt := roundTrips(t, ring, 200)
		t.Logf("TPACKET_V%d round trip of one frame: p50 %v, p90 %v, p99 %v, max %v",
			map[RingVersion]int{RingV3: 3, RingV2: 2}[ring],
			quantile(rtt, 0.5), quantile(rtt, 0.9), quantile(rtt, 0.99), rtt[len(rtt)-1])
	}
}

// BenchmarkRoundTrip: ns/op is one frame's round trip through a Link pair
// and back (two ring deliveries, two sendmmsg), one frame in flight.
func BenchmarkRoundTrip(b *testing.B) {
	for _, ring := range []RingVersion{RingV3, RingV2} {
		b.Run(map[RingVersion]string{RingV3: "v3", RingV2: "v2"}[ring], func(b *testing.B) {
			l := echoPair(b, ring)
			out := linktest.TestFrame(0, 106)
			in := make([][]byte, l.BatchSize())
			rtt := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if !roundTrip(l, out, in, uint32(i)) {
					b.Fatalf("round trip %d failed", i)
				}
				rtt = append(rtt, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(rtt)
			b.ReportMetric(float64(quantile(rtt, 0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(quantile(rtt, 0.99).Microseconds()), "p99-µs")
		})
	}
}
