package linktest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"lvs/dataplane"
)

// PairFunc returns two Links where frames written to a are read from b. It
// registers their cleanup with t.
type PairFunc func(t *testing.T) (a, b dataplane.Link)

// Timeout bounds every wait of TestPair. It is a generous bound for a busy
// machine, not an expectation.
const Timeout = 10 * time.Second

// EtherTypeTest is the IEEE local experimental EtherType carried by the test
// frames of TestPair; kernels on the path ignore it.
const EtherTypeTest = 0x88b5

// TestPair checks a pair of Links against the dataplane.Link contract:
// frames arrive in order and intact, reads come in batches, WriteBatch does
// not retain its frames, Meta survives the trip when both ends are MetaLinks
// (set withMeta), and Close unblocks a blocked ReadBatch. Frames that are not
// the test's own (a kernel's neighbour discovery, say) are skipped.
func TestPair(t *testing.T, newPair PairFunc, withMeta bool) {
	t.Run("order", func(t *testing.T) { testOrder(t, newPair) })
	t.Run("no-retain", func(t *testing.T) { testNoRetain(t, newPair) })
	if withMeta {
		t.Run("meta", func(t *testing.T) { testMeta(t, newPair) })
	}
	t.Run("close", func(t *testing.T) { testClose(t, newPair) })
}

// TestFrame returns an Ethernet frame of n bytes (at least 60) with
// EtherTypeTest, a sequence number and a payload derived from it.
func TestFrame(seq uint32, n int) []byte {
	f := make([]byte, max(n, 60))
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 0x0b})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0x0a})
	binary.BigEndian.PutUint16(f[12:], EtherTypeTest)
	binary.BigEndian.PutUint32(f[14:], seq)
	for i := 18; i < len(f); i++ {
		f[i] = byte(seq) + byte(i)
	}
	return f
}

// testSeq returns the sequence number of a TestFrame, or false.
func testSeq(f []byte) (uint32, bool) {
	if len(f) < 18 || binary.BigEndian.Uint16(f[12:]) != EtherTypeTest {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[14:]), true
}

// Collect reads from l until want test frames (by EtherTypeTest) arrived or
// Timeout passed, and returns copies of them and the largest number of
// frames one ReadBatch returned. On timeout it closes l to stop the read.
func Collect(t *testing.T, l dataplane.Link, want int) (got [][]byte, maxBatch int) {
	t.Helper()
	type result struct {
		got      [][]byte
		maxBatch int
		err      error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		frames := make([][]byte, l.BatchSize())
		for len(r.got) < want {
			n, err := l.ReadBatch(frames)
			if err != nil {
				r.err = err
				break
			}
			r.maxBatch = max(r.maxBatch, n)
			for _, f := range frames[:n] {
				if _, ok := testSeq(f); ok {
					r.got = append(r.got, bytes.Clone(f))
				}
			}
		}
		done <- r
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("ReadBatch after %d of %d frames: %v", len(r.got), want, r.err)
		}
		return r.got, r.maxBatch
	case <-time.After(Timeout):
		l.Close()
		r := <-done
		t.Fatalf("ReadBatch: %d of %d frames after %v", len(r.got), want, Timeout)
		return nil, 0
	}
}

// WriteAll writes frames in batches of l.BatchSize() and fails t on error.
// ENOBUFS is the kernel refusing a frame for a full receive backlog (a
// veth's peer enqueues on the sending CPU's, which every namespace on the
// machine shares: other tests' traffic fills it), not the link's fault:
// the frames not taken are written again, for up to a second (sendmmsg
// reports a partial batch without its error).
func WriteAll(t *testing.T, l dataplane.Link, frames [][]byte) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for len(frames) > 0 {
		b := frames[:min(len(frames), l.BatchSize())]
		n, err := l.WriteBatch(b)
		if (err == nil || errors.Is(err, syscall.ENOBUFS)) && n < len(b) && time.Now().Before(deadline) {
			frames = frames[n:]
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil || n != len(b) {
			t.Fatalf("WriteBatch(%d frames) = %d, %v", len(b), n, err)
		}
		frames = frames[len(b):]
	}
}

func testOrder(t *testing.T, newPair PairFunc) {
	a, b := newPair(t)
	const total = 256
	sent := make([][]byte, total)
	for i := range sent {
		sent[i] = TestFrame(uint32(i), 60+i*5) // 60..1335 bytes
	}
	WriteAll(t, a, sent)
	got, maxBatch := Collect(t, b, total)
	for i := range got {
		if !bytes.Equal(got[i], sent[i]) {
			seq, _ := testSeq(got[i])
			t.Fatalf("frame %d: got seq %d len %d, want seq %d len %d (reordered or damaged)",
				i, seq, len(got[i]), i, len(sent[i]))
		}
	}
	if b.BatchSize() > 1 && maxBatch < 2 {
		t.Errorf("ReadBatch returned at most %d frame per call for %d queued frames; want batches", maxBatch, total)
	}
}

func testNoRetain(t *testing.T, newPair PairFunc) {
	a, b := newPair(t)
	const total = 8
	var want [][]byte
	bufs := make([][]byte, total)
	for i := range bufs {
		bufs[i] = TestFrame(uint32(i), 200)
		want = append(want, bytes.Clone(bufs[i]))
	}
	WriteAll(t, a, bufs)
	for _, f := range bufs {
		for j := range f {
			f[j] = 0xee
		}
	}
	got, _ := Collect(t, b, total)
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d changed after WriteBatch returned: WriteBatch retained its input", i)
		}
	}
}

// UDPFrame returns an Ethernet/IPv4/UDP frame from 192.0.2.1 to 192.0.2.2
// (TEST-NET-1) whose payload starts with tag, and the Meta of a partial
// checksum: the UDP checksum field holds the pseudo-header sum, as a sender
// with TX checksum offload leaves it.
func UDPFrame(tag uint32, payload int) ([]byte, dataplane.Meta) {
	const eth, ip, udp = 14, 20, 8
	f := make([]byte, eth+ip+udp+max(payload, 4))
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 0x0b})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0x0a})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	h := f[eth:]
	h[0], h[8], h[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)))
	copy(h[12:16], []byte{192, 0, 2, 1})
	copy(h[16:20], []byte{192, 0, 2, 2})
	binary.BigEndian.PutUint16(h[10:], ^fold(sum(h[:ip])))
	u := h[ip:]
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], 9)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	binary.BigEndian.PutUint32(u[udp:], tag)
	pseudo := sum(h[12:20]) + 17 + uint32(len(u))
	binary.BigEndian.PutUint16(u[6:], fold(pseudo))
	return f, dataplane.Meta{Flags: dataplane.NeedsCsum, CsumStart: eth + ip, CsumOffset: 6}
}

func sum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// udpTag returns the tag of a UDPFrame, or false.
func udpTag(f []byte) (uint32, bool) {
	if len(f) < 46 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 17 ||
		!bytes.Equal(f[26:34], []byte{192, 0, 2, 1, 192, 0, 2, 2}) {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[42:]), true
}

func testMeta(t *testing.T, newPair PairFunc) {
	a, b := newPair(t)
	ma, okA := a.(dataplane.MetaLink)
	mb, okB := b.(dataplane.MetaLink)
	if !okA || !okB {
		t.Fatalf("links %T, %T do not implement dataplane.MetaLink", a, b)
	}
	partial, pm := UDPFrame(1, 100)
	whole, _ := UDPFrame(2, 100)
	n, err := ma.WriteBatchMeta([][]byte{partial, whole}, []dataplane.Meta{pm, {}})
	if err != nil || n != 2 {
		t.Fatalf("WriteBatchMeta(2 frames) = %d, %v", n, err)
	}
	frames := make([][]byte, b.BatchSize())
	meta := make([]dataplane.Meta, b.BatchSize())
	got := map[uint32]dataplane.Meta{}
	deadline := time.AfterFunc(Timeout, func() { b.Close() })
	defer deadline.Stop()
	for len(got) < 2 {
		n, err := mb.ReadBatchMeta(frames, meta)
		if err != nil {
			t.Fatalf("ReadBatchMeta: %v after %d of 2 frames (timeout %v)", err, len(got), Timeout)
		}
		for i := range n {
			if tag, ok := udpTag(frames[i]); ok {
				if !bytes.Equal(frames[i], map[uint32][]byte{1: partial, 2: whole}[tag]) {
					t.Errorf("frame %d damaged on the way", tag)
				}
				got[tag] = meta[i]
			}
		}
	}
	if m := got[1]; m.Flags&dataplane.NeedsCsum == 0 || m.CsumStart != pm.CsumStart || m.CsumOffset != pm.CsumOffset || m.IsGSO() {
		t.Errorf("Meta of the partial-checksum frame = %+v, want NeedsCsum at %d+%d", m, pm.CsumStart, pm.CsumOffset)
	}
	if m := got[2]; m.Flags&dataplane.NeedsCsum != 0 || m.IsGSO() {
		t.Errorf("Meta of the complete frame = %+v, want no NeedsCsum, no GSO", m)
	}
}

func testClose(t *testing.T, newPair PairFunc) {
	a, b := newPair(t)
	defer a.Close()
	// Frames out at Close stay valid until the next ReadBatch.
	WriteAll(t, a, [][]byte{TestFrame(7, 100)})
	frames := make([][]byte, b.BatchSize())
	var held []byte
	deadline := time.AfterFunc(Timeout, func() { b.Close() })
	for held == nil {
		n, err := b.ReadBatch(frames)
		if err != nil {
			t.Fatalf("ReadBatch: %v (timeout %v)", err, Timeout)
		}
		for _, f := range frames[:n] {
			if seq, ok := testSeq(f); ok && seq == 7 {
				held = f
			}
		}
	}
	deadline.Stop()
	if err := b.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if !bytes.Equal(held, TestFrame(7, 100)) {
		t.Errorf("frame from the last ReadBatch changed by Close before the next ReadBatch")
	}
	if n, err := b.ReadBatch(frames); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadBatch after Close = %d, %v; want 0, net.ErrClosed", n, err)
	}
	if n, err := b.WriteBatch([][]byte{TestFrame(8, 100)}); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteBatch after Close = %d, %v; want 0, net.ErrClosed", n, err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}

	// A blocked ReadBatch returns net.ErrClosed. A fresh pair: closing one
	// end of a pair may take the other's interface away (a TAP device).
	_, c := newPair(t)
	errc := make(chan error, 1)
	var returned time.Time
	go func() {
		frames := make([][]byte, c.BatchSize())
		for {
			if _, err := c.ReadBatch(frames); err != nil {
				returned = time.Now()
				errc <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let it block; the check holds either way
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked ReadBatch returned %v after Close, want net.ErrClosed", err)
		}
	case <-time.After(Timeout):
		t.Fatalf("blocked ReadBatch still blocked %v after Close", Timeout)
	}
	t.Logf("blocked ReadBatch returned %v after Close was called", returned.Sub(start))
}
