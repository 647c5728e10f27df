package conntrack

import (
	"sync/atomic"

	"lvs/ipvs"
)

// An Offload forwards some directions of established flows outside the
// packet path that calls In and Out (lvsd's eBPF fast path), so the table
// does not see their packets. The table asks it when such a flow was last
// seen before expiring it, and tells it when the flow goes for any reason
// (expiry, eviction, a removed destination, a new SYN reusing the tuple,
// Delete), so it never forwards a flow the table no longer has.
//
// The table calls Seen from its expiry sweep without locks held, and
// Withdraw with the flow's shard locked: neither may call back into the
// table.
type Offload interface {
	// Seen returns the tick at which the offload last forwarded a packet of
	// c, ok false when it never did; acked reports that the client sent a
	// segment after its SYN (a connection the offload scheduled itself and
	// the table adopted in SYN_RECV: Adopt), so the table steps it to
	// ESTABLISHED as that segment would have.
	Seen(c Conn) (at ipvs.Tick, acked, ok bool)
	// Withdraw stops forwarding c in both directions.
	Withdraw(c Conn)
}

// Offload directions, marked on an entry by SetOffloaded.
const (
	flagOffIn  uint32 = 1 << 14 // the client direction is offloaded
	flagOffOut uint32 = 1 << 15 // the reply direction is offloaded
	// flagAsked: the sweep asked the offload about the entry and found no
	// packet newer than its timer; it asks again only when the timer runs
	// out (Expire), not at every pass (behind).
	flagAsked uint32 = 1 << 12
)

func offFlag(dir Dir) uint32 {
	if dir == DirOutput {
		return flagOffOut
	}
	return flagOffIn
}

// SetOffload makes o the table's offload; nil (the default) has none.
// Call it before the first SetOffloaded.
func (t *Table) SetOffload(o Offload) {
	if o == nil {
		t.off.Store(nil)
		return
	}
	t.off.Store(&o)
}

func (t *Table) offload() Offload {
	if p := t.off.Load(); p != nil {
		return *p
	}
	return nil
}

// SetOffloaded marks direction dir of entry h as forwarded by the offload
// (on) or not. It reports whether the mark changed, so that of several
// workers racing to offload a flow exactly one installs it.
func (t *Table) SetOffloaded(h Handle, dir Dir, on bool) bool {
	a, _, e, ok := t.lockHome(h)
	if !ok {
		return false
	}
	defer a.mu.Unlock()
	f := offFlag(dir)
	if (atomic.LoadUint32(&e.flags)&f != 0) == on {
		return false
	}
	e.setFlag(f, on)
	return true
}

// Offloaded reports which directions of c an offload forwards.
func (c Conn) Offloaded() (in, out bool) {
	return c.flags&flagOffIn != 0, c.flags&flagOffOut != 0
}

// Packets returns the client packets the table has seen of c, modulo 2^14.
func (c Conn) Packets() uint32 { return c.flags >> pktShift }

// offloaded reports whether any direction of e is offloaded.
func (e *entry) offloaded() bool { return atomic.LoadUint32(&e.flags)&(flagOffIn|flagOffOut) != 0 }

// withdraw tells the offload that e goes. Caller holds e's home lock.
func (t *Table) withdraw(ref uint32, e *entry) {
	if !e.offloaded() {
		return
	}
	if o := t.offload(); o != nil {
		o.Withdraw(e.load(ref))
	}
	e.setFlag(flagOffIn|flagOffOut, false)
}

// behind reports whether e is offloaded and its timer has run down past
// half its state's timeout: the sweep then brings it up to date from the
// offload (rearmSeen), so `lvsadm -L -c` and the sync daemon's refreshes
// show a flow the offload forwards with at least half its timeout left.
// Caller holds e's home lock.
//
// A SYN_RECV entry whose client direction is offloaded (the offload
// forwards the rest of the handshake) is looked at every synRecvLook
// instead, so its state catches up with the handshake soon when the
// offload's own report of it (the fast path's ackReport) was lost to a
// full ring.
//
// Any other entry is looked at once, not at every pass once it is behind:
// after a look that found no newer packet (flagAsked) the next one is at
// its timer's end. Each look is a system call or two of the fast path, and
// a flood leaves millions of such entries: a SYN flood's half-open
// connections, whose reply direction alone is offloaded (the real
// server's SYN-ACK, offered with the first SYN), and a UDP flood's flows.
func (t *Table) behind(e *entry, now ipvs.Tick) bool {
	if !e.offloaded() {
		return false
	}
	to := t.to.of(e.proto(), e.state())
	left := int64(int32(e.expires - uint32(now)))
	f := atomic.LoadUint32(&e.flags)
	if e.proto() == ipvs.TCP && e.state() == StateSynRecv && f&flagOffIn != 0 {
		return left < to-synRecvLook
	}
	return f&flagAsked == 0 && left < to/2
}

// synRecvLook is how often (ms) the sweep asks the offload whether an
// adopted connection's handshake completed.
const synRecvLook = 2000

// rearmSeen keeps an offloaded entry whose timer ran out (or runs low)
// when the offload forwarded one of its packets within the state's
// timeout, re-arming the timer from that packet as step would have. It
// reports whether the entry stays.
func (t *Table) rearmSeen(h Handle, now ipvs.Tick) bool {
	o := t.offload()
	if o == nil {
		return false
	}
	a, _, e, ok := t.lockHome(h)
	if !ok {
		return false
	}
	if !e.offloaded() {
		a.mu.Unlock()
		return false
	}
	c := e.load(h.ref())
	a.mu.Unlock()
	seen, acked, ok := o.Seen(c) // a system call: no lock held
	if ok && acked && c.Proto() == ipvs.TCP && c.State() == StateSynRecv {
		if nc, ok := t.Update(h, DirInput, ACK, seen); ok {
			c = nc // ESTABLISHED, counted active, sent to the backup
		}
	}
	exp := deadline(seen, t.to.of(c.Proto(), c.State()))
	keep := ok && !expired(exp, now)
	a, _, e, live := t.lockHome(h)
	if !live {
		return false
	}
	if keep && int32(exp-e.expires) > 0 {
		e.expires = exp // never earlier than a packet the table saw itself
		e.setFlag(flagAsked, false)
	} else {
		e.setFlag(flagAsked, true) // nothing newer: ask again when the timer runs out
	}
	a.mu.Unlock()
	return keep
}
