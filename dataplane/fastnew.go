package dataplane

import (
	"errors"
	"net/netip"
	"sync"

	"lvs/conntrack"
	"lvs/dataplane/fastpath"
	"lvs/ipvs"
)

// NewFlowScheduler is a FastPath that also schedules the new TCP
// connections of some virtual services itself, in the kernel, in the
// order of the services' own schedulers (*fastpath.FastPath; see
// fastpath/newflow.go). A connection through such a service reaches the Go
// path first with its FIN or RST; the workers adopt every flow it
// scheduled into the connection table before they look at a frame.
type NewFlowScheduler interface {
	FastPath
	// InstallNew is Install for a flow's client direction that nobody
	// may have scheduled yet: false, nil when the fast path already holds
	// an entry for k (it scheduled the flow itself meanwhile).
	InstallNew(k fastpath.Key, a fastpath.Action) (bool, error)
	SetServices(svcs []fastpath.Service) error
	PendingNewFlows() bool
	NewFlows(fn func(fastpath.NewFlow)) int
	Acked(k fastpath.Key) (acked, ok bool)
	WithdrawAll(keys []fastpath.Key) error
	SetFinReuse(id uint32, on bool) error
}

// ScheduleInKernel lets the fast path, if it can (NewFlowScheduler),
// schedule the new flows of the protocols given itself from the next
// SyncNewFlows on: UDP flows from their first datagram, TCP connections
// from their SYN. Call it after SetFastPath and before the workers run.
// Whatever it schedules, such a fast path reports the FIN and RST segments
// it forwards through the same ring (SetFastPath), which lvsd drains.
func (d *Dataplane) ScheduleInKernel(udp, tcp bool) {
	d.nfUDP, d.nfTCP = udp && d.nf != nil, tcp && d.nf != nil
}

// KernelScheduled reports which protocols' new flows the fast path may
// schedule (ScheduleInKernel).
func (d *Dataplane) KernelScheduled() (udp, tcp bool) { return d.nfUDP, d.nfTCP }

// maxCycle bounds a service's scheduling cycle in the fast path (wrr's is
// the sum of the weights over their gcd); a longer one stays in Go.
const maxCycle = 4096

// maxHashTable bounds an mh service's lookup table in the fast path (the
// kernel's default size is 4093, the largest 131071); a longer one, or
// more tables than the fast path's cycle map holds, stays in Go.
const maxHashTable = 1 << 14

// newFlowState is the Dataplane's part of the new-flow path.
type newFlowState struct {
	nf           NewFlowScheduler // nil: no fast path, or one without a ring
	nfUDP, nfTCP bool             // the protocols it schedules
	syncMu       sync.Mutex       // serialises SyncNewFlows
	adoptMu      sync.Mutex       // serialises AdoptNewFlows
	// The flows a drain withdraws (closed, refused), in one batch at its
	// end (withdrawLater); under adoptMu.
	gone    []fastpath.Key
	goneSet map[fastpath.Key]struct{}
	// The destinations whose half-closed direct-routing flows the fast
	// path lets a SYN reuse (syncReuse); under syncMu.
	reuseOn map[ipvs.DestID]bool
}

// maxGone bounds a drain's batch of withdrawals: beyond it they go at once.
const maxGone = 1024

// withdrawLater queues k's withdrawal for the end of the drain, one
// system call for all (fastpath.FastPath.WithdrawAll) where each costs one
// alone: at thousands of connections a second, closing them in the
// kernel was most of lvsd's own CPU. The caller holds adoptMu.
func (d *Dataplane) withdrawLater(k fastpath.Key) error {
	if d.goneSet == nil {
		d.goneSet = map[fastpath.Key]struct{}{}
	}
	d.gone = append(d.gone, k)
	d.goneSet[k] = struct{}{}
	if len(d.gone) >= maxGone {
		d.withdrawGone()
	}
	return nil
}

// withdrawGone withdraws the queued flows. The caller holds adoptMu.
func (d *Dataplane) withdrawGone() {
	if len(d.gone) == 0 {
		return
	}
	d.nf.WithdrawAll(d.gone)
	d.gone = d.gone[:0]
	clear(d.goneSet)
}

// SyncNewFlows hands the fast path the services of the published state
// whose new connections it can schedule exactly as the Go path would, and
// takes back the others. The daemon calls it on every change it publishes
// and a few times a second (next hops resolve, the table's pressure
// changes). Which services qualify: a protocol ScheduleInKernel named
// (TCP, UDP), IPv4 or IPv6 (real servers of the VIP's family), not a
// firewall mark, not persistent, not one-packet scheduling, a scheduler
// that is a fixed cycle (rr, wrr: ipvs.Sequencer) or a lookup table the
// client's hash indexes, every slot's destination with a weight (mh, sh:
// ipvs.Hasher),
// NAT or direct routing, no connection thresholds, no FTP helper, owned
// here, every real server of the cycle with a resolved next hop; and none
// while the connection table is under pressure (secure_tcp and the drop
// strategies act in Go).
func (d *Dataplane) SyncNewFlows() error {
	if d.nf == nil {
		return nil
	}
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	st := d.State()
	var svcs []fastpath.Service
	if st != nil && st.Table != nil && !d.CT.Pressure() {
		for _, s := range st.Table.Services() {
			if fs, ok := d.newFlowService(st, s); ok {
				svcs = append(svcs, fs)
			}
		}
	}
	return errors.Join(d.nf.SetServices(svcs), d.syncReuse(st))
}

// syncReuse tells the fast path the destinations to which a SYN from the
// port of a half-closed direct-routing flow (FIN_WAIT, no reply seen) may
// go again, as conntrack's In would send it: conn_reuse_mode's bit 1
// off, the destination still in its service, and not quiesced where
// conn_reuse_mode and expire_nodest_conn would reschedule the SYN
// (fastpath's reuse.go). Only the switches that change are written.
// The caller holds syncMu.
func (d *Dataplane) syncReuse(st *State) error {
	set := d.CT.Settings()
	want := map[ipvs.DestID]bool{}
	if set.ConnReuseMode&2 == 0 && st != nil && st.Table != nil {
		for _, s := range st.Table.Services() {
			for _, dst := range s.Dests {
				if dst.Method != ipvs.Route || int(dst.ID)*2 >= d.fast.Slots() || !dst.C.Available() ||
					set.ConnReuseMode != 0 && set.ExpireNodestConn && dst.C.Weight() == 0 {
					continue
				}
				want[dst.ID] = true
			}
		}
	}
	if d.reuseOn == nil {
		d.reuseOn = map[ipvs.DestID]bool{}
	}
	var errs []error
	for id := range d.reuseOn {
		if want[id] {
			continue
		}
		if err := d.nf.SetFinReuse(uint32(id), false); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(d.reuseOn, id)
	}
	for id := range want {
		if d.reuseOn[id] {
			continue
		}
		if err := d.nf.SetFinReuse(uint32(id), true); err != nil {
			errs = append(errs, err)
			continue
		}
		d.reuseOn[id] = true
	}
	return errors.Join(errs...)
}

// newFlowService describes s for the fast path, false when it does not
// qualify (SyncNewFlows).
func (d *Dataplane) newFlowService(st *State, s *ipvs.Service) (fastpath.Service, bool) {
	k := s.Key
	if !(k.Proto == ipvs.TCP && d.nfTCP || k.Proto == ipvs.UDP && d.nfUDP) ||
		k.FWMark != 0 || !k.Addr.Is4() && !k.Addr.Is6() || k.Addr.Is4In6() || s.Persistent() || s.OnePacket {
		return fastpath.Service{}, false
	}
	vip := netip.AddrPortFrom(k.Addr, k.Port)
	pi, owned := ownedPort(st, k.Addr) // fastnew6.go
	if !owned || st.NAT.helper(vip) {
		return fastpath.Service{}, false
	}
	var seq []*ipvs.Dest
	hash := fastpath.HashNone
	switch sc := s.Sched.(type) {
	case ipvs.Sequencer: // rr, wrr: a cycle
		seq = sc.Sequence(s, maxCycle)
	case ipvs.Hasher: // mh, sh: a table the client's hash indexes
		var fn ipvs.HashFunc
		var port bool
		seq, fn, port = sc.HashTable(s, maxHashTable)
		var ok bool
		if hash, ok = hashOf(fn, port); !ok {
			return fastpath.Service{}, false
		}
	}
	if seq == nil {
		return fastpath.Service{}, false
	}
	in := d.Ports[pi]
	fs := fastpath.Service{VIP: vip, Proto: uint8(k.Proto), In: in.Ifindex, Seq: make([]int, 0, len(seq)), Hash: hash}
	index := make(map[ipvs.DestID]int, len(seq))
	for _, dst := range seq {
		i, seen := index[dst.ID]
		if !seen {
			t, ok := d.newFlowTarget(st, s, dst, in)
			if !ok {
				return fastpath.Service{}, false
			}
			i = len(fs.Targets)
			index[dst.ID] = i
			fs.Targets = append(fs.Targets, t)
		}
		fs.Seq = append(fs.Seq, i)
	}
	for _, dst := range s.Dests {
		if dst.UThreshold != 0 || dst.LThreshold != 0 {
			return fastpath.Service{}, false // overload comes and goes with the counts
		}
	}
	return fs, true
}

// hashOf is the fast path's Hash for a table indexed by fn, with the
// client's port or not; false for a hash the program does not compute.
func hashOf(fn ipvs.HashFunc, port bool) (fastpath.Hash, bool) {
	switch {
	case fn == ipvs.HashMH && port:
		return fastpath.HashMHPort, true
	case fn == ipvs.HashMH:
		return fastpath.HashMH, true
	case fn == ipvs.HashSH && port:
		return fastpath.HashSHPort, true
	case fn == ipvs.HashSH:
		return fastpath.HashSH, true
	}
	return fastpath.HashNone, false
}

// newFlowTarget is destination dst of s as the fast path forwards to it:
// the client direction through the real server's port, and for NAT the
// reply direction back out of in, the VIP's port.
func (d *Dataplane) newFlowTarget(st *State, s *ipvs.Service, dst *ipvs.Dest, in *Port) (fastpath.Target, bool) {
	if dst.Addr.Is4() != s.Key.Addr.Is4() || dst.Addr.Is4In6() || dst.Method != ipvs.Masq && dst.Method != ipvs.Route {
		return fastpath.Target{}, false
	}
	slot := uint32(dst.ID) * 2
	if int(slot)+1 >= d.fast.Slots() {
		return fastpath.Target{}, false
	}
	out, mac, ok := d.resolved(st, dst.Addr) // fastnew6.go
	if !ok {
		return fastpath.Target{}, false // resolved by the Go path's first frame; the next sync takes it
	}
	port := d.Ports[out]
	vip := netip.AddrPortFrom(s.Key.Addr, s.Key.Port)
	real := netip.AddrPortFrom(dst.Addr, dst.Port)
	if dst.Port == 0 {
		real = netip.AddrPortFrom(dst.Addr, s.Key.Port) // connPort: the client's virtual port
	}
	t := fastpath.Target{Real: real,
		Fwd: fastpath.Action{DstMAC: mac, SrcMAC: port.MAC, Dst: vip, In: in.Ifindex, Out: port.Ifindex,
			MTU: port.MTU, Slot: slot}}
	if dst.Method == ipvs.Masq {
		t.Fwd.Dst, t.Fwd.DecTTL = real, true
		t.Rev = fastpath.Action{SrcMAC: in.MAC, Src: vip, In: port.Ifindex, DecTTL: true, MTU: in.MTU, Slot: slot + 1}
		t.HasRev = true
	}
	return t, true
}

// AdoptNewFlows enters every flow the fast path scheduled since the last
// call into the connection table (conntrack.Table.Adopt), marked
// offloaded, so the Go path finds them when their FIN or RST comes. A flow
// whose service or real server went meanwhile, or that the full table
// refuses, is withdrawn: its next frame finds no connection, as in the
// kernel when ip_vs_conn_new fails. Workers call it before each batch when
// flows are pending, the daemon a few times a second; calls are serialised,
// so a worker returns only when every flow reported
// before it was adopted. It returns the flows adopted and refused.
func (d *Dataplane) AdoptNewFlows(now ipvs.Tick) (adopted, refused int) {
	if d.nf == nil {
		return 0, 0
	}
	// Under adoptMu, not only in NewFlows: a drain takes records off the
	// ring before it enters them, and a worker that found the ring empty
	// meanwhile would look up a FIN's connection before it is there.
	d.adoptMu.Lock()
	defer d.adoptMu.Unlock()
	if !d.nf.PendingNewFlows() {
		return 0, 0
	}
	st := d.State()
	d.nf.NewFlows(func(f fastpath.NewFlow) {
		switch {
		case f.Closed:
			d.closed(f, now)
			return
		case f.Established:
			d.established(f, now)
			return
		}
		// A flow opened again under a key still queued to go (its
		// closing entry left the full LRU map early): withdraw the
		// queue first, not the new flow's entries after it.
		if _, ok := d.goneSet[fastpath.Key{Src: f.Client, Dst: f.Virtual, Proto: f.Proto}]; ok {
			d.withdrawGone()
		}
		if d.adopt(st, f, now) {
			adopted++
		} else {
			refused++
		}
	})
	d.withdrawGone()
	return adopted, refused
}

func (d *Dataplane) adopt(st *State, f fastpath.NewFlow, now ipvs.Tick) bool {
	proto := ipvs.Proto(f.Proto)
	k := conntrack.Key{Proto: proto, Client: f.Client, Virtual: f.Virtual}
	s := st.Table.Lookup(proto, f.Virtual.Addr(), f.Virtual.Port())
	var dst *ipvs.Dest
	if s != nil {
		for _, x := range s.Dests {
			if x.Addr == f.Real.Addr() && (x.Port == f.Real.Port() || x.Port == 0 && f.Virtual.Port() == f.Real.Port()) {
				dst = x
				break
			}
		}
	}
	if dst != nil && proto == ipvs.UDP {
		if old, ok := d.CT.Lookup(k); ok && d.keepServer(st, s, old, f) {
			return true
		}
	}
	if dst != nil {
		if c, status := d.CT.Adopt(s, dst, k, now); status == conntrack.Scheduled {
			d.markOffloaded(c, conntrack.DirInput, fastpath.Key{Src: f.Client, Dst: f.Virtual, Proto: f.Proto})
			if c.Method() == ipvs.Masq {
				d.markOffloaded(c, conntrack.DirOutput, fastpath.Key{Src: f.Real, Dst: f.Client, Proto: f.Proto})
			}
			return true
		}
	}
	d.withdrawLater(fastpath.Key{Src: f.Client, Dst: f.Virtual, Proto: f.Proto})
	d.withdrawLater(fastpath.Key{Src: f.Real, Dst: f.Client, Proto: f.Proto})
	return false
}

// closed takes a FIN or RST the fast path forwarded and reported
// (fastpath's close.go) as the Go path takes one it forwards itself: the
// connection steps by the segment's flags in the direction it came
// (client or, for NAT, real server). A SYN reported so is one that reused
// a half-closed direct-routing flow (fastpath's reuse.go), already sent
// to the flow's real server: it steps the entry as conntrack's In does
// one it lets through (FIN_WAIT → SYN_RECV), even where a switch changed
// meanwhile and In would now reschedule it, so the table follows where
// the flow's frames go. A connection a segment closes (RST:
// CLOSE; the second FIN: TIME_WAIT) leaves the fast path, its last ACK
// left to the Go path; a half-closed one (the first FIN: CLOSE_WAIT or
// FIN_WAIT, where data may still flow the other way) stays in it, the ACKs
// changing no state in IPVS's table and the fast path's last-seen time
// renewing the timeout as they pass, so closed connections do not fill the
// flow map. A segment of no connection the table holds only has its entry
// withdrawn.
func (d *Dataplane) closed(f fastpath.NewFlow, now ipvs.Tick) {
	dir := conntrack.DirInput
	c, ok := d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: f.Client, Virtual: f.Virtual})
	if !ok {
		dir = conntrack.DirOutput
		c, ok = d.CT.LookupReply(conntrack.ReplyKey{Proto: ipvs.TCP, Real: f.Client, Client: f.Virtual})
	}
	rst := f.TCPFlags&uint8(conntrack.RST) != 0
	if !ok {
		if !rst { // an RST's entry the program deleted itself (fastpath's close.go)
			d.withdrawLater(fastpath.Key{Src: f.Client, Dst: f.Virtual, Proto: f.Proto})
		}
		return
	}
	// A connection the fast path scheduled is still SYN_RECV in the table
	// until the sweep learns its handshake completed: learn it first, or
	// the segment would step it from there (IPVS's table keeps SYN_RECV on
	// an RST). The client's segment brings its entry's mark in the report;
	// the real server's entry has none, so its segment asks the client's.
	// A reusing SYN's mark is the old connection's: not this handshake's.
	syn := f.TCPFlags&uint8(conntrack.SYN) != 0
	if c.State() == conntrack.StateSynRecv && !syn && (dir == conntrack.DirInput && f.Acked ||
		dir == conntrack.DirOutput && (offload{d: d, fp: d.fast}).acked(c)) {
		if nc, ok := d.CT.Update(c.Handle, conntrack.DirInput, conntrack.ACK, now); ok {
			c = nc
		}
	}
	nc, ok := d.CT.Update(c.Handle, dir, conntrack.TCPFlags(f.TCPFlags), now)
	if ok && rst {
		d.deletedByRST(nc, dir)
	}
	if ok && (nc.State() == conntrack.StateTimeWait || nc.State() == conntrack.StateClose) {
		d.leaveFastBy(nc, d.withdrawLater) // fast.go
	}
}

// established takes the report of a handshake the fast path saw complete
// (fastpath's ackReport): the client's first segment after its SYN steps
// the connection from SYN_RECV to ESTABLISHED, as that segment steps it in
// IPVS, with ESTABLISHED's timeout, what `lvsadm -L -c` shows and the sync
// daemon's message to the backup; without the report it waited for the
// sweep (conntrack's synRecvLook). Both states count active, as in IPVS.
func (d *Dataplane) established(f fastpath.NewFlow, now ipvs.Tick) {
	c, ok := d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: f.Client, Virtual: f.Virtual})
	if ok && c.State() == conntrack.StateSynRecv {
		d.CT.Update(c.Handle, conntrack.DirInput, conntrack.ACK, now)
	}
}

// deletedByRST records that the fast path deleted direction dir of c, the
// one an RST it forwarded came through (fastpath's close.go), whatever
// state the RST leaves c in: leaveFastBy then withdraws only the other
// direction, and the sweep no longer asks for the deleted one.
func (d *Dataplane) deletedByRST(c conntrack.Conn, dir conntrack.Dir) {
	if d.CT.SetOffloaded(c.Handle, dir, false) && c.IPv6() {
		d.keys6.drop(c.Handle, dir) // fast6.go
	}
}

// keepServer handles a UDP flow the kernel scheduled although the table
// still holds it: its entries had left the fast path's full flow map (LRU)
// or the Go path scheduled it and lost the race to install it. As in IPVS,
// the flow keeps the real server of the entry it has: the kernel's entries
// are replaced by that server's, its reply direction withdrawn. Frames the
// kernel forwarded meanwhile went to its pick. False when the entry's
// server cannot be put back (then the kernel's pick stands: Adopt).
func (d *Dataplane) keepServer(st *State, s *ipvs.Service, old conntrack.Conn, f fastpath.NewFlow) bool {
	fwdKey := fastpath.Key{Src: f.Client, Dst: f.Virtual, Proto: f.Proto}
	a, ok := d.CT.Addrs(old) // an IPv6 entry's addresses live in the table
	if !ok {
		return false
	}
	if a.Real == f.Real { // the same server again: the kernel's entries are right
		d.markOffloaded(old, conntrack.DirInput, fwdKey)
		if old.Method() == ipvs.Masq {
			d.markOffloaded(old, conntrack.DirOutput, fastpath.Key{Src: f.Real, Dst: f.Client, Proto: f.Proto})
		} else {
			d.CT.SetOffloaded(old.Handle, conntrack.DirOutput, false)
		}
		return true
	}
	var od *ipvs.Dest
	for _, x := range s.Dests {
		if x.ID == old.Dest() {
			od = x
		}
	}
	pi, owned := ownedPort(st, f.Virtual.Addr())
	if od == nil || !owned {
		return false
	}
	in := d.Ports[pi]
	t, ok := d.newFlowTarget(st, s, od, in)
	if !ok {
		return false
	}
	fwd := t.Fwd
	fwd.Src = f.Client
	if d.fast.Install(fwdKey, fwd) != nil {
		return false
	}
	d.fast.Withdraw(fastpath.Key{Src: f.Real, Dst: f.Client, Proto: f.Proto})
	d.markOffloaded(old, conntrack.DirInput, fwdKey)
	d.CT.SetOffloaded(old.Handle, conntrack.DirOutput, false)
	if !t.HasRev {
		return true
	}
	// The reply direction, back out of the VIP's port to the client's
	// next hop; left to the Go path when that is not resolved.
	out, mac, ok := d.resolved(st, f.Client.Addr())
	if !ok || out != pi {
		return true
	}
	rev := t.Rev
	rev.Dst, rev.DstMAC, rev.Out = f.Client, mac, in.Ifindex
	revKey := fastpath.Key{Src: a.Real, Dst: f.Client, Proto: f.Proto}
	if d.fast.Install(revKey, rev) == nil {
		d.markOffloaded(old, conntrack.DirOutput, revKey)
	}
	return true
}

// acked reports whether the client of c, a connection the fast path
// scheduled, has sent a segment after its SYN.
func (o offload) acked(c conntrack.Conn) bool {
	if c.Proto() != ipvs.TCP || c.State() != conntrack.StateSynRecv || o.d.nf == nil {
		return false
	}
	k := inKey(c)
	if c.IPv6() {
		ks, in, _ := o.d.keys6.get(c.Handle, true, false) // fast6.go
		if !in {
			return false
		}
		k = ks[conntrack.DirInput]
	}
	acked, _ := o.d.nf.Acked(k)
	return acked
}

// adoptNew adopts the fast path's new flows before a batch, counting them
// as installs (a flow the kernel scheduled is offloaded from its SYN on).
func (w *Worker) adoptNew(now ipvs.Tick) {
	if w.d.nf == nil {
		return
	}
	if a, r := w.d.AdoptNewFlows(now); a+r > 0 {
		w.C.FastInstalls.Add(uint64(a))
		w.C.FastErrors.Add(uint64(r))
	}
}
