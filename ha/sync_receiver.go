package ha

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"lvs/conntrack"
)

// SyncBatch is what one accepted sync datagram carries.
type SyncBatch struct {
	Header SyncHeader
	// Records are the datagram's records, freshly allocated: the handler
	// may keep them or pass them to another goroutine.
	Records []conntrack.Record
}

// SyncRefusal is why the receiver refused a datagram.
type SyncRefusal uint8

// Refusal reasons, counted by SyncReceiver.
const (
	RefusedMalformed SyncRefusal = iota // truncated, unknown magic, version or layout
	RefusedAuth                         // HMAC mismatch (forged, or another key)
	RefusedAuthMode                     // signed when we have no key, or unsigned when we do
	RefusedReplay                       // sequence seen, or older than the window
	RefusedOldBoot                      // from an earlier boot of the peer
	RefusedWrongPeer                    // another node id or source address
	RefusedSyncID                       // another syncd_id

	// NumSyncRefusals is the number of reasons (the length of
	// SyncReceiverStats.Refused).
	NumSyncRefusals
)

var refusalNames = [NumSyncRefusals]string{"malformed", "auth", "auth_mode", "replay", "old_boot", "wrong_peer", "sync_id"}

func (r SyncRefusal) String() string {
	if r < NumSyncRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

// SyncReceiverStats are the receiver's counters.
type SyncReceiverStats struct {
	Accepted       uint64 // datagrams accepted
	Records        uint64 // records handed to the handler
	SkippedRecords uint64 // records of accepted datagrams that could not be parsed
	Bulks          uint64 // bulk dumps whose last datagram arrived
	// Refused counts refused datagrams by reason, indexed by SyncRefusal.
	Refused [NumSyncRefusals]uint64
	// LastPeerSeq is the sequence number of the newest accepted datagram.
	LastPeerSeq uint64
}

// SyncReceiver validates sync datagrams from the peer and hands their
// records to a handler. Run reads the socket; Handle takes one datagram and
// may be used instead (it is safe for concurrent use).
type SyncReceiver struct {
	cfg    SyncConfig
	conn   SyncPacketConn
	handle func(SyncBatch)

	mu    sync.Mutex // guards guard
	guard replayGuard

	accepted, records, skipped, bulks, lastSeq atomic.Uint64
	refused                                    [NumSyncRefusals]atomic.Uint64
}

// NewSyncReceiver returns a receiver reading conn (nil if only Handle is
// used) that passes every accepted datagram to handle, on the receiving
// goroutine. The daemon's handler forwards the records to its management
// goroutine, which calls conntrack.Table.Import for each; it must not
// block for long, or the socket buffer overflows. Keep one receiver for the
// life of the sync socket: its replay window is what refuses datagrams
// played back.
func NewSyncReceiver(c SyncConfig, conn SyncPacketConn, handle func(SyncBatch)) (*SyncReceiver, error) {
	if handle == nil {
		return nil, errSyncNoHandler
	}
	if !c.Peer.IsValid() {
		return nil, errSyncNoPeer
	}
	return &SyncReceiver{cfg: c.normalize(), conn: conn, handle: handle}, nil
}

// Run reads and handles datagrams until the socket is closed, then returns
// nil; another read error is returned.
func (r *SyncReceiver) Run() error {
	buf := make([]byte, SyncRecvBuffer)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		_ = r.Handle(buf[:n], from) // counted
	}
}

// Handle validates one datagram received from from and, if it is
// accepted, calls the handler. It returns why it refused the datagram.
func (r *SyncReceiver) Handle(b []byte, from netip.AddrPort) error {
	h, recs, err := DecodeSync(b, r.cfg.Key, nil)
	if err != nil {
		switch {
		case errors.Is(err, ErrSyncAuth):
			r.refuse(RefusedAuth)
		case errors.Is(err, ErrSyncNoAuth), errors.Is(err, ErrSyncAuthNoKey):
			r.refuse(RefusedAuthMode)
		default:
			r.refuse(RefusedMalformed)
		}
		return err
	}
	if r.cfg.SyncID != 0 && h.SyncID != r.cfg.SyncID {
		r.refuse(RefusedSyncID)
		return ErrSyncWrongID
	}
	if h.Node != r.cfg.Peer.Unmap() || r.cfg.PeerAddr.IsValid() && from.Addr().Unmap() != r.cfg.PeerAddr.Addr().Unmap() {
		r.refuse(RefusedWrongPeer)
		return ErrSyncWrongPeer
	}
	r.mu.Lock()
	err = r.guard.check(Message{Boot: h.Boot, Seq: h.Seq})
	r.mu.Unlock()
	switch {
	case errors.Is(err, ErrOldBoot):
		r.refuse(RefusedOldBoot)
		return ErrSyncOldBoot
	case err != nil:
		r.refuse(RefusedReplay)
		return ErrSyncReplay
	}
	r.accepted.Add(1)
	r.lastSeq.Store(h.Seq)
	r.records.Add(uint64(len(recs)))
	r.skipped.Add(uint64(h.Count - len(recs)))
	if h.Flags&SyncBulkEnd != 0 {
		r.bulks.Add(1)
	}
	r.handle(SyncBatch{Header: h, Records: recs})
	return nil
}

func (r *SyncReceiver) refuse(why SyncRefusal) { r.refused[why].Add(1) }

// Stats returns the receiver's counters.
func (r *SyncReceiver) Stats() SyncReceiverStats {
	st := SyncReceiverStats{Accepted: r.accepted.Load(), Records: r.records.Load(),
		SkippedRecords: r.skipped.Load(), Bulks: r.bulks.Load(), LastPeerSeq: r.lastSeq.Load()}
	for i := range st.Refused {
		st.Refused[i] = r.refused[i].Load()
	}
	return st
}
