package nstest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"lvs/dataplane"
)

// BridgeStats counts what a Bridge forwarded, for assertions on offloads.
type BridgeStats struct {
	Frames   atomic.Uint64
	GSO      atomic.Uint64 // frames with a GSO type and a segment size
	Partial  atomic.Uint64 // frames with NeedsCsum
	MaxLen   atomic.Int64  // longest frame seen
	Rejected atomic.Uint64 // frames WriteBatchMeta refused
	BadMeta  atomic.Uint64 // GSO frames whose Meta is inconsistent with the frame
	FirstErr atomic.Value  // first WriteBatchMeta error (error)
}

// Bridge forwards every frame read from a to b and from b to a, with its
// Meta, as a two-port userspace switch. It stops when the links are closed;
// t.Cleanup closes them and waits for its goroutines.
func Bridge(t testing.TB, a, b dataplane.MetaLink) *BridgeStats {
	s := &BridgeStats{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.forward(a, b) }()
	go func() { defer wg.Done(); s.forward(b, a) }()
	t.Cleanup(func() {
		a.Close()
		b.Close()
		wg.Wait()
	})
	return s
}

func (s *BridgeStats) forward(from, to dataplane.MetaLink) {
	frames := make([][]byte, from.BatchSize())
	meta := make([]dataplane.Meta, from.BatchSize())
	for {
		n, err := from.ReadBatchMeta(frames, meta)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.FirstErr.CompareAndSwap(nil, err)
			}
			return
		}
		for i, f := range frames[:n] {
			s.note(f, meta[i])
		}
		out, om := frames[:n], meta[:n]
		for len(out) > 0 {
			k, err := to.WriteBatchMeta(out, om)
			if err == nil {
				break
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.Rejected.Add(1)
			s.FirstErr.CompareAndSwap(nil, err)
			out, om = out[k+1:], om[k+1:]
		}
	}
}

func (s *BridgeStats) note(f []byte, m dataplane.Meta) {
	s.Frames.Add(1)
	for {
		cur := s.MaxLen.Load()
		if int64(len(f)) <= cur || s.MaxLen.CompareAndSwap(cur, int64(len(f))) {
			break
		}
	}
	if m.Flags&dataplane.NeedsCsum != 0 {
		s.Partial.Add(1)
	}
	if m.IsGSO() && m.GSOSize > 0 {
		s.GSO.Add(1)
		// A TCP/IPv4 super-frame: the checksum is partial at the TCP header.
		if m.GSOType&^dataplane.GSOECN == dataplane.GSOTCPv4 &&
			(m.Flags&dataplane.NeedsCsum == 0 || m.CsumOffset != 16 || int(m.CsumStart) >= len(f)) {
			s.BadMeta.Add(1)
		}
	}
}
