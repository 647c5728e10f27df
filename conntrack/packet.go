package conntrack

import (
	"sync/atomic"

	"lvs/ipvs"
)

// Verdict is what In decided about a client packet.
type Verdict uint8

// The verdicts of In.
const (
	Miss Verdict = iota // no usable entry: schedule the packet (Schedule)
	Hit                 // forward by the returned Conn
	Drop                // the entry's destination left and expire_nodest_conn is off: drop silently
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Hit:
		return "hit"
	case Drop:
		return "drop"
	}
	return "miss"
}

// In handles a client packet of flow k, as the lookup half of ip_vs_in: it
// finds the entry, applies conn_reuse_mode to a new SYN (a SYN that hits a
// TIME_WAIT or CLOSE entry, or an entry whose destination was quiesced under
// expire_nodest_conn, expires it and returns Miss so the caller schedules
// afresh), applies expire_nodest_conn when the destination left, and
// otherwise steps the TCP state machine in the INPUT direction, re-arms the
// timer and returns Hit. It never allocates.
func (t *Table) In(k Key, fl TCPFlags, now ipvs.Tick) (Conn, Verdict) {
	k0, k1, ok := packKey(k, kindConn)
	if !ok {
		return t.in6(k, fl, now)
	}
	return t.in(k0, k1, t.hash(k0, k1&^kindMask), nil, fl, now)
}

// in is In on packed key words and their hash; a6 holds the client and
// virtual words of an IPv6 key, nil for IPv4.
func (t *Table) in(k0, k1, h uint64, a6 *addr6, fl TCPFlags, now ipvs.Tick) (Conn, Verdict) {
	a := t.shardOf(h)
	set := t.set.Load()
	a.mu.Lock()
	var ref uint32
	var e *entry
	if a6 == nil {
		ref, e = t.find(a, h, k0, k1)
	} else {
		ref, e = t.find6(a, h, k1, a6)
	}
	if e == nil {
		a.mu.Unlock()
		return Conn{}, Miss
	}
	if why, gone := t.stale(e, ipvs.Proto(k1>>24), fl, set); gone {
		gen := e.gen
		a.mu.Unlock()
		if why == removeNodest && !set.ExpireNodestConn {
			t.st.dropped.Add(1)
			return Conn{}, Drop
		}
		t.remove(mkHandle(ref, gen), why, now)
		return Conn{}, Miss
	}
	a.beginWrite()
	if t.step(e, DirInput, fl, now, set, true) {
		t.noteChange(a, ref, e.gen)
	}
	c := e.load(ref)
	a.endWrite()
	a.mu.Unlock()
	return c, Hit
}

// stale decides whether a client packet may not use entry e (caller holds
// its home lock): conn_reuse_mode for a new SYN (is_new_conn_expected in
// ip_vs_core.c; a connection controlled by a template is never
// rescheduled), then the destination's availability.
func (t *Table) stale(e *entry, p ipvs.Proto, fl TCPFlags, set *Settings) (removeWhy, bool) {
	c := t.reg.Dest(ipvs.DestID(e.dest))
	if set.ConnReuseMode != 0 && p == ipvs.TCP && fl&SYN != 0 {
		if set.ExpireNodestConn && c != nil && c.Weight() == 0 {
			return removeResched, true
		}
		st := e.state()
		if e.aux == 0 && (st == StateTimeWait || st == StateClose ||
			set.ConnReuseMode&2 != 0 && st == StateFinWait && e.flags&uint32(FlagNoOutput) != 0) {
			return removeResched, true
		}
	}
	if c == nil || !c.Available() {
		return removeNodest, true
	}
	return 0, false
}

// Out handles a NAT reply (real server → client): it finds the entry by the
// reply key, steps the state machine in the OUTPUT direction (clearing
// NOOUTPUT) and re-arms the timer. It never allocates.
func (t *Table) Out(k ReplyKey, fl TCPFlags, now ipvs.Tick) (Conn, bool) {
	h, ok := t.replyRef(k)
	if !ok {
		return Conn{}, false
	}
	return t.Update(h, DirOutput, fl, now)
}

// Update steps entry h by one packet in direction dir with TCP flags fl at
// time now, and returns the entry after it. It reports false for a stale
// handle.
func (t *Table) Update(h Handle, dir Dir, fl TCPFlags, now ipvs.Tick) (Conn, bool) {
	ref := h.ref()
	if ref&localMask == 0 {
		return Conn{}, false
	}
	a := &t.shards[ref>>localBits]
	set := t.set.Load()
	a.mu.Lock()
	e := t.at(ref)
	if e == nil || e.gen != h.gen() || !e.live() || e.flags&uint32(FlagTemplate) != 0 {
		a.mu.Unlock()
		return Conn{}, false
	}
	a.beginWrite()
	if t.step(e, dir, fl, now, set, true) {
		t.noteChange(a, ref, e.gen)
	}
	c := e.load(ref)
	a.endWrite()
	a.mu.Unlock()
	return c, true
}

// step applies one packet to e and reports whether its TCP state changed
// (what connection sync sends): the TCP transition (set_tcp_state),
// moving the destination's count between active and inactive when the
// state's class changes, and re-arming the timer with the new state's
// timeout; UDP and ICMP only re-arm. Caller holds e's home lock in a write
// section.
//
// An entry being created is stepped before it is bound (bound false): the
// count moves are skipped and the caller binds it in its final class, which
// leaves the counters as ip_vs_bind_dest then set_tcp_state would.
func (t *Table) step(e *entry, dir Dir, fl TCPFlags, now ipvs.Tick, set *Settings, bound bool) (changed bool) {
	p := e.proto()
	var to int64
	if p == ipvs.TCP {
		st := e.state()
		secure := t.secure(set)
		noOut := e.flags&uint32(FlagNoOutput) != 0
		nst, nowNoOut := NextTCP(st, noOut, dir, fl, secure)
		if nowNoOut != noOut {
			e.setFlag(uint32(FlagNoOutput), nowNoOut)
		}
		if nst != st {
			wasActive := e.flags&uint32(FlagInactive) == 0
			if act := nst.active(); act != wasActive {
				if c := t.reg.Dest(ipvs.DestID(e.dest)); c != nil && bound {
					c.Move(act, e.epoch)
				}
				e.setFlag(uint32(FlagInactive), !act)
			}
			switch {
			case nst.halfOpen() && !st.halfOpen():
				t.halfOpen.Add(1)
			case !nst.halfOpen() && st.halfOpen():
				t.halfOpen.Add(-1)
			}
			e.setState(nst)
			changed = true
		}
		to = t.to.of(p, nst)
		if secure && nst.halfOpen() {
			to = min(to, set.HalfOpenTimeout.Milliseconds())
		}
	} else {
		to = t.to.of(p, StateNone)
	}
	e.expires = deadline(now, to)
	if dir != DirOutput {
		atomic.StoreUint32(&e.flags, atomic.LoadUint32(&e.flags)+pktOne)
	}
	return changed
}

// InPkts returns the client packets seen on entry h, modulo 2^14 (the
// count the sync daemon's in_pkts % sync_period rule needs).
func (t *Table) InPkts(h Handle) (uint32, bool) {
	a, _, e, ok := t.lockHome(h)
	if !ok {
		return 0, false
	}
	n := e.flags >> pktShift
	a.mu.Unlock()
	return n, true
}

// lockHome locks the home shard of h; ok is false for a stale handle.
func (t *Table) lockHome(h Handle) (*shard, uint32, *entry, bool) {
	ref := h.ref()
	if ref&localMask == 0 {
		return nil, 0, nil, false
	}
	a := &t.shards[ref>>localBits]
	a.mu.Lock()
	e := t.at(ref)
	if e == nil || atomic.LoadUint32(&e.gen) != h.gen() || !e.live() {
		a.mu.Unlock()
		return nil, 0, nil, false
	}
	return a, ref, e, true
}
