package dataplane

import (
	"net/netip"
	"sync"

	"lvs/conntrack"
	"lvs/dataplane/fastpath"
	"lvs/frame"
)

// IPv6 flows in the fast path. Workers offer an established IPv6 NAT66 or
// direct-routing flow as they offer an IPv4 one (offer6, offerSynAck6);
// the fast path keys it by its 16-byte addresses. A Conn does not carry
// those (conntrack keeps them beside the entry, Table.Addrs), and the
// table withdraws a flow with its shard locked, where Addrs cannot be
// read, so the keys of every offloaded IPv6 direction are kept here, by
// the entry's handle, from just before its install until its withdrawal.

// offloaded6 holds the fast-path keys of offloaded IPv6 flows. Its
// methods are safe for concurrent use and never call into the table (the
// table calls Withdraw with a shard locked).
type offloaded6 struct {
	mu sync.Mutex
	m  map[conntrack.Handle]keys6 // guarded by mu
}

// keys6 are the keys of a flow's directions, indexed by conntrack.Dir
// (DirInput, DirOutput), and which of them are set.
type keys6 struct {
	k  [2]fastpath.Key
	on [2]bool
}

// put records k as the key of direction dir of entry h.
func (o *offloaded6) put(h conntrack.Handle, dir conntrack.Dir, k fastpath.Key) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[conntrack.Handle]keys6{}
	}
	e := o.m[h]
	e.k[dir&1], e.on[dir&1] = k, true
	o.m[h] = e
}

// drop forgets direction dir of entry h.
func (o *offloaded6) drop(h conntrack.Handle, dir conntrack.Dir) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.m[h]
	if !ok {
		return
	}
	e.on[dir&1] = false
	if e.on == [2]bool{} {
		delete(o.m, h)
		return
	}
	o.m[h] = e
}

// get returns the keys of entry h, and which directions are both asked
// for (in, out: the entry's offloaded marks) and recorded.
func (o *offloaded6) get(h conntrack.Handle, in, out bool) ([2]fastpath.Key, bool, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.m[h]
	return e.k, in && e.on[conntrack.DirInput], out && e.on[conntrack.DirOutput]
}

// take is get, forgetting entry h.
func (o *offloaded6) take(h conntrack.Handle, in, out bool) ([2]fastpath.Key, bool, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.m[h]
	delete(o.m, h)
	return e.k, in && e.on[conntrack.DirInput], out && e.on[conntrack.DirOutput]
}

// Offloaded6 returns how many IPv6 connections have a direction in the
// fast path (lvsd sizes its IPv6 flow map by it).
func (d *Dataplane) Offloaded6() int {
	d.keys6.mu.Lock()
	defer d.keys6.mu.Unlock()
	return len(d.keys6.m)
}

// offer6 is offer for an IPv6 flow c, whose addresses are a: no extension
// header or fragment, a resolved neighbour, no FTP helper.
func (w *Worker) offer6(st *State, c conntrack.Conn, a conntrack.Addrs, dir conntrack.Dir, src, dst netip.AddrPort, out int, mac frame.MAC) {
	p := &w.p
	// As offer's: a UDP flow the Go path scheduled while the fast path
	// schedules UDP flows is claimed from its first datagram.
	k := w.offerKindOf(c, dir) // fast.go
	switch {
	case !w.offerable(c, dir, k):
		return
	case p.FragOffset != 0 || p.MoreFrags || p.L4-p.L3 != frame.IPv6Len:
		return
	case mac == pendingMAC6:
		return // waiting for its neighbour (neighqueue.go)
	case st.NAT != nil && st.NAT.helper(a.Virtual):
		return // the FTP helper reads every segment of a control connection
	}
	w.queueOffer(c, dir, k, src, dst, out, mac)
}

// offerSynAck6 is offerSynAck for an IPv6 NAT66 connection c, whose
// addresses are a, opened by the SYN being forwarded through port out.
func (w *Worker) offerSynAck6(st *State, c conntrack.Conn, a conntrack.Addrs, out int) {
	if !w.synAckOfferable(st, c, a.Virtual) {
		return
	}
	cout, cmac, ok := w.nextHop6(st, a.Client.Addr())
	if !ok || cmac == pendingMAC6 {
		return
	}
	w.queueSynAck(c, a, out, cout, cmac)
}

// leaveFast6 is leaveFast's withdrawal for an IPv6 flow c with the
// directions in, out offloaded.
func (d *Dataplane) leaveFast6(c conntrack.Conn, in, out bool) {
	ks, in, out := d.keys6.get(c.Handle, in, out)
	if in && d.CT.SetOffloaded(c.Handle, conntrack.DirInput, false) {
		d.fast.Withdraw(ks[conntrack.DirInput])
		d.keys6.drop(c.Handle, conntrack.DirInput)
	}
	if out && d.CT.SetOffloaded(c.Handle, conntrack.DirOutput, false) {
		d.fast.Withdraw(ks[conntrack.DirOutput])
		d.keys6.drop(c.Handle, conntrack.DirOutput)
	}
}
