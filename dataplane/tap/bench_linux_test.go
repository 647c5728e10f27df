package tap

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/dataplane/linktest"
)

func benchFrames(n int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = linktest.TestFrame(uint32(i), 106)
	}
	return frames
}

// TestReadWriteNoAllocs: the per-frame path of both directions allocates
// nothing (the AF_PACKET Link on the device is the other end).
func TestReadWriteNoAllocs(t *testing.T) {
	tl, pl := tapNS(t, Config{VNetHdr: true, BatchSize: 32})
	out := benchFrames(32)
	wmeta := make([]dataplane.Meta, len(out))
	in := make([][]byte, 32)
	rmeta := make([]dataplane.Meta, len(in))
	broken := false
	pass := func(w, r dataplane.MetaLink) {
		if n, err := w.WriteBatchMeta(out, wmeta); n != len(out) || err != nil {
			broken = true
			return
		}
		for got := 0; got < len(out); {
			n, err := r.ReadBatchMeta(in, rmeta)
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
	guard := time.AfterFunc(time.Minute, func() { tl.Close(); pl.Close() })
	defer guard.Stop()
	allocs := testing.AllocsPerRun(50, func() { pass(tl, pl); pass(pl, tl) })
	if broken {
		t.Fatal("write or read failed during the run")
	}
	if allocs != 0 {
		t.Errorf("32 frames each way through the TAP: %v allocs per run, want 0", allocs)
	}
}

// BenchmarkTX: frames/s written into the kernel through the TAP (which drops
// them: unknown EtherType).
func BenchmarkTX(b *testing.B) {
	for _, batch := range []int{1, 32, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tl, _ := tapNS(b, Config{BatchSize: batch})
			frames := benchFrames(batch)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += batch {
				if _, err := tl.WriteBatch(frames); err != nil {
					b.Fatalf("WriteBatch: %v", err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
		})
	}
}

// BenchmarkRX: frames/s read from the TAP while an AF_PACKET Link transmits
// into the device as fast as it can.
func BenchmarkRX(b *testing.B) {
	for _, batch := range []int{1, 32, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tl, pl := tapNS(b, Config{BatchSize: batch})
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
					pl.WriteBatch(frames)
				}
			}()
			frames := make([][]byte, batch)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for got := 0; got < b.N; {
				n, err := tl.ReadBatch(frames)
				if err != nil {
					b.Fatalf("ReadBatch: %v", err)
				}
				got += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
			close(stop)
			wg.Wait()
		})
	}
}
