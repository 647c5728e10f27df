package nat

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

// The NAT table as the connection table shows it: in `lvsadm -L -c` (and
// /proc/net/ip_vs_conn) and in connection sync, a flow is an entry like the
// kernel's FTP data connections (ip_vs_ftp creates them with
// ip_vs_conn_new): the peer as the client, the public address as the
// virtual address, the real server's side as the destination, with a TCP
// state and the time left. A standby router installs the flows the active
// one sends, so masqueraded and FTP data connections survive a takeover
// like the virtual services' connections.

// Entry is one live flow as listed and synced.
type Entry struct {
	Flow
	State conntrack.State // the IPVS state name of its TCP state; StateNone for UDP
	Left  time.Duration   // time before it expires
}

// ipvsState maps a flow's TCP state to the IPVS state it is listed in.
var ipvsState = [...]conntrack.State{stSynSent: conntrack.StateSynSent, stEstablished: conntrack.StateEstablished,
	stClosing: conntrack.StateFinWait, stClosed: conntrack.StateClose}

func (f *flow) entry(now ipvs.Tick) Entry {
	e := Entry{Flow: f.Flow, Left: time.Duration(f.deadline.Load()-int64(now)) * time.Millisecond}
	if st := tcpState(f.state.Load()); f.Proto == protoTCP && int(st) < len(ipvsState) {
		e.State = ipvsState[st]
	}
	return e
}

// Entries calls fn with every live flow until it returns false.
func (t *Table) Entries(now ipvs.Tick, fn func(Entry) bool) {
	var es []Entry
	for i := range t.shards {
		s := &t.shards[i]
		es = es[:0]
		s.mu.RLock()
		for k, f := range s.m {
			if k == f.fwd && int64(now) <= f.deadline.Load() {
				es = append(es, f.entry(now))
			}
		}
		s.mu.RUnlock()
		for _, e := range es {
			if !fn(e) {
				return
			}
		}
	}
}

// Record returns the sync record of e.
func (e Entry) Record() conntrack.Record {
	return conntrack.Record{NAT: true, Proto: ipvs.Proto(e.Proto), State: e.State, Method: ipvs.Masq,
		Client: e.Peer, Virtual: e.Outer, Real: e.Inner, Timeout: max(e.Left, 0).Truncate(time.Millisecond)}
}

// Records calls fn with the sync record of every live flow (a full dump).
func (t *Table) Records(now ipvs.Tick, fn func(conntrack.Record) bool) {
	t.Entries(now, func(e Entry) bool { return fn(e.Record()) })
}

// tcpStateOf maps an IPVS state back to a flow's TCP state.
func tcpStateOf(s conntrack.State) tcpState {
	switch s {
	case conntrack.StateEstablished:
		return stEstablished
	case conntrack.StateFinWait, conntrack.StateTimeWait, conntrack.StateCloseWait, conntrack.StateLastAck:
		return stClosing
	case conntrack.StateClose:
		return stClosed
	}
	return stSynSent
}

// Import creates or refreshes the flow a sync record describes (NAT set),
// counted on st, in the record's state, expiring after its timeout. A flow
// whose public address is taken by another live flow is refused. IPv6 flows
// are imported like IPv4 ones (ip_vs_ftp's data connections are IPVS
// connections, synced in both families); a record whose three addresses are
// not all of one family is refused, as IPVS never translates NAT between
// families.
func (t *Table) Import(r conntrack.Record, st Stats, now ipvs.Tick) error {
	v4 := r.Real.Addr().Is4()
	if !r.NAT || r.Proto != ipvs.TCP && r.Proto != ipvs.UDP || !r.Real.Addr().IsValid() ||
		r.Client.Addr().Is4() != v4 || r.Virtual.Addr().Is4() != v4 ||
		!r.Client.Addr().IsValid() || !r.Virtual.Addr().IsValid() || r.Real.Addr().Is4In6() || r.Client.Addr().Is4In6() || r.Virtual.Addr().Is4In6() {
		return fmt.Errorf("importing NAT flow %v → %v: %w", r.Real, r.Client, conntrack.ErrBadRecord)
	}
	fl := Flow{Proto: uint8(r.Proto), Inner: r.Real, Peer: r.Client, Outer: r.Virtual, Stats: st}
	state, deadline := tcpStateOf(r.State), int64(now)+r.Timeout.Milliseconds()
	fwd := keyOf(fl.Proto, fl.Inner, fl.Peer)
	rev := keyOf(fl.Proto, fl.Peer, fl.Outer)
	a, b := t.shardOf(fwd), t.shardOf(rev)
	lock(a, b)
	defer unlock(a, b)
	if f := a.m[fwd]; f != nil && int64(now) <= f.deadline.Load() && f.Outer == fl.Outer {
		if old := tcpState(f.state.Load()); old != stDead && old != state && f.state.CompareAndSwap(uint32(old), uint32(state)) {
			f.moved(old, state) // bind.go
		}
		f.deadline.Store(deadline)
		return nil
	}
	if f := b.m[rev]; f != nil && int64(now) <= f.deadline.Load() && f.fwd != fwd {
		return fmt.Errorf("importing NAT flow %v → %v: public address %v in use", r.Real, r.Client, r.Virtual)
	}
	if t.count.Load() >= t.max {
		return fmt.Errorf("importing NAT flow %v → %v: %w", r.Real, r.Client, ErrTableFull)
	}
	for _, k := range [2]key{fwd, rev} {
		s := a
		if k == rev {
			s = b
		}
		if old := s.m[k]; old != nil {
			t.unlinkLocked(old)
		}
	}
	f := &flow{Flow: fl, fwd: fwd, rev: rev}
	f.state.Store(uint32(state))
	f.deadline.Store(deadline)
	a.m[fwd] = f
	b.m[rev] = f
	t.count.Add(1)
	return nil
}

// maxChanges bounds the change log between two drains; past it the log
// reports an overflow and the sync sends a full dump instead.
const maxChanges = 4096

// changeLog records flows that were created or changed TCP state, while
// LogChanges is on (the active router of a pair with connection sync).
type changeLog struct {
	on   atomic.Bool
	mu   sync.Mutex // guards the rest
	fs   []*flow
	lost bool
}

// add logs f. It takes a mutex only while logging is on, and only for a
// new flow or a state change, never for the other packets of a flow; it
// allocates only until the log has grown to maxChanges once.
func (l *changeLog) add(f *flow) {
	if !l.on.Load() {
		return
	}
	l.mu.Lock()
	if len(l.fs) < maxChanges {
		l.fs = append(l.fs, f)
	} else {
		l.lost = true
	}
	l.mu.Unlock()
}

// LogChanges turns the change log on (the sync master) or off, and empties it.
func (t *Table) LogChanges(on bool) {
	t.log.mu.Lock()
	t.log.on.Store(on)
	clear(t.log.fs)
	t.log.fs, t.log.lost = t.log.fs[:0], false
	t.log.mu.Unlock()
}

// DrainChanges appends the sync records of the flows created or changed
// since the last drain (those still live) to dst, and reports whether the
// log overflowed, in which case a full dump (Records) is due.
func (t *Table) DrainChanges(now ipvs.Tick, dst []conntrack.Record) ([]conntrack.Record, bool) {
	l := &t.log
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.fs {
		if int64(now) <= f.deadline.Load() && (i == 0 || l.fs[i-1] != f) {
			dst = append(dst, f.entry(now).Record())
		}
	}
	clear(l.fs)
	lost := l.lost
	l.fs, l.lost = l.fs[:0], false
	return dst, lost
}
