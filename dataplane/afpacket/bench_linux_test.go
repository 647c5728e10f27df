package afpacket

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/dataplane"
	"lvs/dataplane/internal/nstest"
	"lvs/dataplane/linktest"
	"lvs/internal/testutil"
)

// benchFrame is the frame of reference/performance.md: 64 bytes of UDP
// payload, 106 bytes on the wire.
func benchFrames(n int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i], _ = linktest.UDPFrame(uint32(i), 64)
		frames[i][41] = 0 // complete frame: no partial UDP checksum
		frames[i][40] = 0
	}
	return frames
}

// TestReadWriteNoAllocs: the per-frame path of both directions allocates
// nothing.
func TestReadWriteNoAllocs(t *testing.T) {
	forRings(t, testReadWriteNoAllocs)
}

func testReadWriteNoAllocs(t *testing.T, ring RingVersion) {
	ns, a, b := vethNS(t)
	la := openIn(t, ns, Config{Interface: a, Ring: ring})
	lb := openIn(t, ns, Config{Interface: b, Ring: ring})
	out := benchFrames(32)
	wmeta := make([]dataplane.Meta, len(out))
	in := make([][]byte, 64)
	rmeta := make([]dataplane.Meta, len(in))
	broken := false
	run := func() {
		if n, err := la.WriteBatchMeta(out, wmeta); n != len(out) || err != nil {
			broken = true
			return
		}
		for got := 0; got < len(out); {
			n, err := lb.ReadBatchMeta(in, rmeta)
			if err != nil {
				broken = true
				return
			}
			for _, f := range in[:n] {
				if len(f) == len(out[0]) {
					got++
				}
			}
		}
	}
	guard := time.AfterFunc(time.Minute, func() { lb.Close() })
	defer guard.Stop()
	allocs := testing.AllocsPerRun(50, run)
	if broken {
		t.Fatal("write or read failed during the run")
	}
	if allocs != 0 {
		t.Errorf("WriteBatchMeta + ReadBatchMeta of 32 frames: %v allocs per run, want 0", allocs)
	}
}

// benchVeth opens a Link on one end of a veth pair and, with peer, on the other.
func benchVeth(b *testing.B, peer bool, ring RingVersion) (*Link, *Link) {
	testutil.RequireRoot(b)
	testutil.RequireCommand(b, "ip", "sysctl")
	ns := nstest.New(b, "bench")
	u := nstest.Unique()
	an, bn := nstest.Prefix+u+"a", nstest.Prefix+u+"b"
	nstest.Veth(b, ns, an, ns, bn)
	open := func(name string) *Link {
		var l *Link
		if err := ns.Do(func() (err error) { l, err = Open(Config{Interface: name, Ring: ring}); return err }); err != nil {
			b.Fatalf("Open(%s): %v", name, err)
		}
		b.Cleanup(func() { l.Close() })
		return l
	}
	if !peer {
		return open(an), nil
	}
	return open(an), open(bn)
}

// BenchmarkTX: frames/s one Link writes into a veth whose peer drops them
// (wrong MAC, no socket on it).
func BenchmarkTX(b *testing.B) {
	for _, batch := range []int{1, 32, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			la, _ := benchVeth(b, false, RingV3)
			frames := benchFrames(batch)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += batch {
				if _, err := la.WriteBatch(frames); err != nil {
					b.Fatalf("WriteBatch: %v", err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
		})
	}
}

// BenchmarkRX: frames/s one Link reads while a second writes as fast as it
// can into the peer (both share this machine's two cores, so frames/s is
// bounded by the writer; reader-cpu-ns/frame is the reader's own cost, from
// the thread's CPU time, which this kernel accounts by tick), on each ring.
func BenchmarkRX(b *testing.B) {
	for _, rb := range []struct {
		ring  RingVersion
		batch int
	}{{RingV3, 1}, {RingV3, 32}, {RingV3, 64}, {RingV2, 1}, {RingV2, 32}, {RingV2, 64}} {
		name := map[RingVersion]string{RingV3: "v3", RingV2: "v2"}[rb.ring]
		batch := rb.batch
		b.Run(fmt.Sprintf("%s/batch=%d", name, batch), func(b *testing.B) {
			la, lb := benchVeth(b, true, rb.ring)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				frames := benchFrames(64)
				for {
					select {
					case <-stop:
						return
					default:
					}
					la.WriteBatch(frames)
				}
			}()
			frames := make([][]byte, batch)
			meta := make([]dataplane.Meta, batch)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), threadCPU()
			for got := 0; got < b.N; {
				n, err := lb.ReadBatchMeta(frames, meta)
				if err != nil {
					b.Fatalf("ReadBatchMeta: %v", err)
				}
				got += n
			}
			b.StopTimer()
			elapsed, cpu := time.Since(start), threadCPU()-cpu0
			close(stop)
			wg.Wait()
			st := lb.Stats()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "reader-cpu-ns/frame")
			b.ReportMetric(float64(st.Drops)/float64(st.Packets+1), "dropped/offered")
		})
	}
}

// threadCPU returns the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
