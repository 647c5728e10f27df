package linktest

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"

	"lvs/dataplane"
)

func TestPairContract(t *testing.T) {
	TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
		a, b := Pair(Config{})
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}, true)
}

func TestInjectAndSent(t *testing.T) {
	l := New(Config{BatchSize: 4})
	defer l.Close()
	for i := range 6 {
		l.InjectMeta(TestFrame(uint32(i), 64), dataplane.Meta{GSOSize: uint16(i)})
	}
	frames := make([][]byte, l.BatchSize())
	meta := make([]dataplane.Meta, l.BatchSize())
	var seqs []uint32
	for len(seqs) < 6 {
		n, err := l.ReadBatchMeta(frames, meta)
		if err != nil {
			t.Fatalf("ReadBatchMeta() = %d, %v", n, err)
		}
		if n > l.BatchSize() {
			t.Fatalf("ReadBatchMeta() = %d frames, more than len(frames) %d", n, len(frames))
		}
		for i := range n {
			seq, _ := testSeq(frames[i])
			if meta[i].GSOSize != uint16(seq) {
				t.Errorf("frame %d: Meta.GSOSize = %d, want %d", seq, meta[i].GSOSize, seq)
			}
			seqs = append(seqs, seq)
		}
		if _, err := l.WriteBatch(frames[:n]); err != nil {
			t.Fatalf("WriteBatch: %v", err)
		}
	}
	for i, s := range seqs {
		if s != uint32(i) {
			t.Fatalf("read order %v, want 0..5", seqs)
		}
	}
	sent := l.Sent()
	if len(sent) != 6 {
		t.Fatalf("Sent() returned %d frames, want 6", len(sent))
	}
	for i, f := range sent {
		if !bytes.Equal(f, TestFrame(uint32(i), 64)) {
			t.Errorf("Sent()[%d] differs from the frame written", i)
		}
	}
	if again := l.Sent(); len(again) != 0 {
		t.Errorf("second Sent() returned %d frames, want 0 (Sent drains)", len(again))
	}
}

func TestReadBatchPoisonsPreviousBatch(t *testing.T) {
	l := New(Config{})
	defer l.Close()
	l.Inject(TestFrame(1, 64))
	frames := make([][]byte, 4)
	if n, err := l.ReadBatch(frames); n != 1 || err != nil {
		t.Fatalf("ReadBatch() = %d, %v; want 1, nil", n, err)
	}
	old := frames[0]
	l.Inject(TestFrame(2, 64))
	if n, err := l.ReadBatch(frames); n != 1 || err != nil {
		t.Fatalf("ReadBatch() = %d, %v; want 1, nil", n, err)
	}
	if !bytes.Equal(old, bytes.Repeat([]byte{Poison}, len(old))) {
		t.Errorf("frame of the previous batch still readable after the next ReadBatch; want it poisoned")
	}
}

func TestWriteDropsWhenFull(t *testing.T) {
	l := New(Config{Capacity: 2})
	defer l.Close()
	frames := [][]byte{TestFrame(1, 60), TestFrame(2, 60), TestFrame(3, 60)}
	if n, err := l.WriteBatch(frames); n != 3 || err != nil {
		t.Fatalf("WriteBatch(3 frames) = %d, %v; want 3, nil", n, err)
	}
	if got := l.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d, want 1", got)
	}
	if got := len(l.Sent()); got != 2 {
		t.Errorf("len(Sent()) = %d, want 2", got)
	}
}

func TestCloseUnblocksInject(t *testing.T) {
	l := New(Config{Capacity: 1})
	l.Inject(TestFrame(1, 60))
	done := make(chan struct{})
	go func() { l.Inject(TestFrame(2, 60)); close(done) }()
	l.Close()
	<-done
	if _, err := l.ReadBatch(make([][]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadBatch after Close: %v, want net.ErrClosed", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	a, b := Pair(Config{BatchSize: 8, Capacity: 64})
	const total = 2000
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // writer
		defer wg.Done()
		for i := 0; i < total; i += 4 {
			batch := [][]byte{TestFrame(uint32(i), 60), TestFrame(uint32(i+1), 60), TestFrame(uint32(i+2), 60), TestFrame(uint32(i+3), 60)}
			if _, err := a.WriteBatch(batch); err != nil {
				t.Errorf("WriteBatch: %v", err)
				return
			}
		}
	}()
	go func() { // reader that echoes back
		defer wg.Done()
		frames := make([][]byte, b.BatchSize())
		for {
			n, err := b.ReadBatch(frames)
			if err != nil {
				return
			}
			b.WriteBatch(frames[:n])
		}
	}()
	go func() { // observer
		defer wg.Done()
		for range 100 {
			_ = a.Dropped() + b.Dropped()
			_ = b.BatchSize()
		}
	}()
	frames := make([][]byte, a.BatchSize())
	seen := 0
	for seen+int(a.Dropped()+b.Dropped()) < total {
		n, err := a.ReadBatch(frames)
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		seen += n
	}
	a.Close()
	b.Close()
	wg.Wait()
}

func TestReadWriteNoAllocs(t *testing.T) {
	a, b := Pair(Config{BatchSize: 32})
	defer a.Close()
	defer b.Close()
	out := make([][]byte, 32)
	for i := range out {
		out[i] = TestFrame(uint32(i), 1500)
	}
	in := make([][]byte, 32)
	meta := make([]dataplane.Meta, 32)
	run := func() {
		a.WriteBatchMeta(out, meta)
		for got := 0; got < len(out); {
			n, _ := b.ReadBatchMeta(in, meta)
			got += n
		}
	}
	run() // warm the buffer free list
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("WriteBatchMeta+ReadBatchMeta of 32 frames: %v allocs, want 0", allocs)
	}
}
