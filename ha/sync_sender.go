package ha

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

// syncKey is the identity of a record on the backup: Import replaces the
// entry of the same protocol, client, virtual and kind.
type syncKey struct {
	proto    ipvs.Proto
	template bool
	client   netip.AddrPort
	virtual  netip.AddrPort
}

func keyOf(r conntrack.Record) syncKey {
	return syncKey{proto: r.Proto, template: r.Template, client: r.Client, virtual: r.Virtual}
}

// SyncSenderStats are the sender's counters.
type SyncSenderStats struct {
	Queued      uint64 // records given to Add
	Coalesced   uint64 // of those, replacing a queued record of the same flow
	Dropped     uint64 // queued records dropped, oldest first, when the queue was full
	Bulks       uint64 // bulk dumps started
	BulkRecords uint64 // bulk records sent
	Superseded  uint64 // bulk records not sent because Add gave a newer one
	Datagrams   uint64 // datagrams sent
	Records     uint64 // records sent, bulk included
	Errors      uint64 // failed sends
	Pending     int    // records queued now, bulk remainder included
	LastError   error  // the latest send error
}

// SyncSender streams connection records to the standby router. The
// management side of the active router owns it: Add and Bulk may be called
// from any goroutine and never block on I/O; Run does the sending.
type SyncSender struct {
	cfg    SyncConfig
	conn   SyncPacketConn
	room   int // bytes of records one datagram holds (syncRoom)
	boot   uint64
	wake   chan struct{}
	seq    uint64             // Run's goroutine only
	buf    []byte             // Run's goroutine only
	out    []conntrack.Record // Run's goroutine only (filled under mu)
	mu     sync.Mutex         // guards the fields below
	order  []syncKey          // FIFO of queued keys from head: exactly the keys of pend
	head   int
	pend   map[syncKey]conntrack.Record
	bytes  int                // wire length of the records in pend
	bulk   []conntrack.Record // remainder of the dump being sent
	newer  map[syncKey]struct{}
	bulkOn bool // a dump is being sent (bulk may be empty before its end)

	queued, coalesced, dropped, bulks, bulkRecs, superseded atomic.Uint64
	dgrams, records, errs                                   atomic.Uint64
	lastErr                                                 atomic.Pointer[error]
}

// NewSyncSender returns a sender writing to c.PeerAddr over conn. It does
// not close conn. Each sender has its own boot id and sequence numbers, so
// the daemon may make a new one on every StartSync{SyncMaster}.
func NewSyncSender(c SyncConfig, conn SyncPacketConn) (*SyncSender, error) {
	if !c.PeerAddr.IsValid() {
		return nil, errSyncNoPeerAddr
	}
	c = c.normalize()
	return &SyncSender{cfg: c, conn: conn, boot: newSyncBoot(), room: syncRoom(len(c.Key) > 0), wake: make(chan struct{}, 1),
		pend: map[syncKey]conntrack.Record{}}, nil
}

// Boot returns the boot id the sender writes: its start time in Unix ns,
// above that of any earlier sender of this process.
func (s *SyncSender) Boot() uint64 { return s.boot }

// Add queues r for the peer. A queued record of the same flow is replaced
// by r (the newer state wins) and keeps its place; when the queue is full
// the oldest record is dropped and counted. Add never blocks.
func (s *SyncSender) Add(r conntrack.Record) {
	k := keyOf(r)
	s.queued.Add(1)
	s.mu.Lock()
	if s.bulkOn {
		s.newer[k] = struct{}{}
	}
	n := recordLen(r)
	if old, ok := s.pend[k]; ok {
		s.bytes += n - recordLen(old)
		s.pend[k] = r
		s.mu.Unlock()
		s.coalesced.Add(1)
		return
	}
	if len(s.pend) >= s.cfg.QueueLen {
		old := s.order[s.head]
		s.head++
		s.bytes -= recordLen(s.pend[old])
		delete(s.pend, old)
		s.dropped.Add(1)
		s.compactLocked()
	}
	s.pend[k] = r
	s.bytes += n
	s.order = append(s.order, k)
	full := s.fullLocked()
	s.mu.Unlock()
	if full {
		s.kick()
	}
}

// Bulk starts a full-table dump of recs (conntrack.Table.Records), for a
// peer that joins or rejoins; it replaces a dump still in progress. The
// sender keeps recs: the caller must not change it afterwards. The dump is
// sent in order, BulkBurst datagrams per Interval, flagged SyncBulk, the
// last one SyncBulkEnd; a record Add gives meanwhile for the same flow is
// newer, so the dump's copy is skipped.
func (s *SyncSender) Bulk(recs []conntrack.Record) {
	s.bulks.Add(1)
	s.mu.Lock()
	s.bulk, s.bulkOn, s.newer = recs, true, map[syncKey]struct{}{}
	s.mu.Unlock()
	s.kick()
}

func (s *SyncSender) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns the sender's counters.
func (s *SyncSender) Stats() SyncSenderStats {
	st := SyncSenderStats{Queued: s.queued.Load(), Coalesced: s.coalesced.Load(), Dropped: s.dropped.Load(),
		Bulks: s.bulks.Load(), BulkRecords: s.bulkRecs.Load(), Superseded: s.superseded.Load(),
		Datagrams: s.dgrams.Load(), Records: s.records.Load(), Errors: s.errs.Load()}
	if e := s.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	s.mu.Lock()
	st.Pending = len(s.pend) + len(s.bulk)
	s.mu.Unlock()
	return st
}

// Run sends until ctx is done: everything queued every Interval, at once
// when a datagram is full, and BulkBurst datagrams of a dump per Interval.
// Before returning it sends what is queued (not the rest of a dump). It
// returns ctx's error.
func (s *SyncSender) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush(false)
			return ctx.Err()
		case <-t.C:
			s.flush(true)
		case <-s.wake:
			s.flushFull()
		}
	}
}

// fullLocked reports whether the queued records fill a datagram: not
// even an IPv4 record more would fit. Caller holds s.mu.
func (s *SyncSender) fullLocked() bool { return s.bytes+conntrack.RecordLen > s.room }

// flushFull sends full datagrams of queued records only.
func (s *SyncSender) flushFull() {
	for {
		s.mu.Lock()
		if !s.fullLocked() {
			s.mu.Unlock()
			break
		}
		s.takeLocked()
		s.mu.Unlock()
		s.send(0)
	}
}

// flush sends everything queued and, with bulk, one burst of the dump.
func (s *SyncSender) flush(bulk bool) {
	for {
		s.mu.Lock()
		if len(s.pend) == 0 {
			s.mu.Unlock()
			break
		}
		s.takeLocked()
		s.mu.Unlock()
		s.send(0)
	}
	if !bulk {
		return
	}
	for range s.cfg.BulkBurst {
		s.mu.Lock()
		if !s.bulkOn {
			s.mu.Unlock()
			return
		}
		s.out = s.out[:0]
		n, used := 0, 0
		for n < len(s.bulk) {
			r := s.bulk[n]
			if _, ok := s.newer[keyOf(r)]; ok {
				s.superseded.Add(1)
				n++
				continue
			}
			l := recordLen(r)
			if used+l > s.room {
				break
			}
			s.out = append(s.out, r)
			used += l
			n++
		}
		s.bulk = s.bulk[n:]
		fl := SyncBulk
		if len(s.bulk) == 0 {
			fl |= SyncBulkEnd
			s.bulk, s.bulkOn, s.newer = nil, false, nil
		}
		s.mu.Unlock()
		s.bulkRecs.Add(uint64(len(s.out)))
		s.send(fl)
	}
}

// takeLocked moves up to one datagram of queued records, oldest first, to
// s.out: as many as fit in s.room bytes. Caller holds s.mu.
func (s *SyncSender) takeLocked() {
	s.out = s.out[:0]
	used := 0
	for s.head < len(s.order) {
		k := s.order[s.head]
		r, ok := s.pend[k]
		if !ok {
			s.head++
			continue
		}
		l := recordLen(r)
		if used+l > s.room {
			break
		}
		s.out = append(s.out, r)
		used += l
		s.bytes -= l
		delete(s.pend, k)
		s.head++
	}
	s.compactLocked()
}

// compactLocked reclaims the consumed front of s.order. Caller holds s.mu.
func (s *SyncSender) compactLocked() {
	if s.head == len(s.order) {
		s.order, s.head = s.order[:0], 0
	} else if s.head > len(s.order)/2 && s.head > 1024 {
		n := copy(s.order, s.order[s.head:])
		s.order, s.head = s.order[:n], 0
	}
}

// send writes s.out as one datagram.
func (s *SyncSender) send(fl SyncFlags) {
	s.seq++
	h := SyncHeader{Flags: fl, SyncID: s.cfg.SyncID, Node: s.cfg.Node, Boot: s.boot, Seq: s.seq}
	s.buf = EncodeSync(s.buf[:0], h, s.out, s.cfg.Key)
	if _, err := s.conn.WriteToUDPAddrPort(s.buf, s.cfg.PeerAddr); err != nil {
		s.errs.Add(1)
		s.lastErr.Store(&err)
		return
	}
	s.dgrams.Add(1)
	s.records.Add(uint64(len(s.out)))
}
