package dataplane

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"lvs/conntrack"
	"lvs/dataplane/fastpath"
	"lvs/frame"
	"lvs/ipvs"
)

// FastPath is a forwarder of established flows outside the workers: the
// eBPF fast path in the kernel (*fastpath.FastPath). Workers install a
// direction of a flow once they have forwarded one of its packets in an
// established state; the connection table withdraws it when the flow goes
// and asks how long it has been idle before expiring it. Its methods are
// safe for concurrent use and each costs a system call or two.
type FastPath interface {
	Install(k fastpath.Key, a fastpath.Action) error
	Withdraw(k fastpath.Key) error
	Idle(k fastpath.Key) (time.Duration, bool)
	Holds(k fastpath.Key) bool
	Counters(slot uint32) (packets, bytes uint64, err error)
	Slots() int
}

// SetFastPath makes the workers offload established flows to fp and the
// connection table consult it. Call it before the workers run.
func (d *Dataplane) SetFastPath(fp FastPath) {
	d.fast = fp
	d.CT.SetOffload(offload{d: d, fp: fp})
	// Its ring reports the FINs and RSTs it forwards even when it
	// schedules no new flow (ScheduleInKernel): the workers drain it.
	d.nf, _ = fp.(NewFlowScheduler)
}

// offload adapts a FastPath to the connection table's conntrack.Offload.
type offload struct {
	d  *Dataplane
	fp FastPath
}

func inKey(c conntrack.Conn) fastpath.Key {
	return fastpath.Key{Src: c.Client(), Dst: c.Virtual(), Proto: uint8(c.Proto())}
}

func outKey(c conntrack.Conn) fastpath.Key {
	return fastpath.Key{Src: c.Real(), Dst: c.Client(), Proto: uint8(c.Proto())}
}

// Seen is the tick of the latest frame the fast path forwarded for c, and
// whether the client completed the handshake of a connection the fast path
// scheduled (fastnew.go).
func (o offload) Seen(c conntrack.Conn) (ipvs.Tick, bool, bool) {
	in, out := c.Offloaded()
	ks := [2]fastpath.Key{inKey(c), outKey(c)}
	if c.IPv6() {
		ks, in, out = o.d.keys6.get(c.Handle, in, out) // fast6.go
	}
	idle, seen := time.Duration(1<<62), false
	for i, on := range [2]bool{in, out} {
		if !on {
			continue
		}
		if d, ok := o.fp.Idle(ks[i]); ok {
			idle, seen = min(idle, d), true
		}
	}
	if !seen {
		return 0, false, false
	}
	return o.d.Tick(time.Now().Add(-idle)), o.acked(c), true
}

// Withdraw stops the fast path forwarding either direction of c.
func (o offload) Withdraw(c conntrack.Conn) {
	in, out := c.Offloaded()
	if c.IPv6() {
		ks, in, out := o.d.keys6.take(c.Handle, in, out)
		if in {
			o.fp.Withdraw(ks[conntrack.DirInput])
		}
		if out {
			o.fp.Withdraw(ks[conntrack.DirOutput])
		}
		return
	}
	if in {
		o.fp.Withdraw(inKey(c))
	}
	if out {
		o.fp.Withdraw(outKey(c))
	}
}

// offerAfter is how many client packets a flow must have had before a
// worker offloads it: a short connection (a handshake, a request, a
// close) never pays the system calls of an install and a withdraw, and
// spends its few packets on the Go path it needs for its state changes
// anyway.
const offerAfter = 4

// fastOffer is one direction of a flow a worker will install at the end of
// its batch, after the frames that made it eligible have gone out.
type fastOffer struct {
	h     conntrack.Handle
	dir   conntrack.Dir
	k     fastpath.Key
	a     fastpath.Action
	early bool // installed before the batch's frames go out (offerSynAck)
	claim bool // installed only if the fast path holds no entry (InstallNew)
}

// offer queues direction dir of c for the fast path if the frame being
// forwarded shows it established and the fast path can carry it: TCP in
// ESTABLISHED (a segment without SYN, FIN or RST) or UDP, NAT or direct
// routing, no IP options or fragments, not a template or one-packet
// scheduling, a resolved next hop. src and dst are the addresses the
// frame leaves with; out, mac and port its egress. IPv6 flows are
// offer6's (fast6.go).
func (w *Worker) offer(st *State, c conntrack.Conn, dir conntrack.Dir, src, dst netip.AddrPort, out int, mac frame.MAC) {
	p := &w.p
	// While the fast path schedules UDP flows itself, a UDP flow the Go
	// path scheduled is offered from its first datagram, before the
	// filter can schedule its next one elsewhere (installOffers).
	k := w.offerKindOf(c, dir)
	switch {
	case !w.offerable(c, dir, k):
		return
	case p.FragOffset != 0 || p.MoreFrags || p.L4-p.L3 != frame.IPv4MinLen:
		return
	case mac == pendingMAC(mac4(mac)):
		return // waiting for ARP (neighqueue.go)
	case st.NAT != nil && st.NAT.helper(c.Virtual()):
		return // the FTP helper reads every segment of a control connection
	}
	w.queueOffer(c, dir, k, src, dst, out, mac)
}

// offerKind is how the frame being forwarded would offer its direction of
// a flow: from a TCP connection's first SYN (syn: synOfferable), and as a
// claim (installed only where the fast path holds no entry, InstallNew).
// A claim is a UDP flow's client direction while the fast path schedules
// UDP flows itself, and a TCP connection's from its SYN while it schedules
// TCP ones: a SYN the program punted (its ring full) whose retransmission
// it then scheduled itself keeps the program's pick, which its report
// makes the table follow.
type offerKind struct{ syn, claim bool }

// offerKindOf tells the frame being forwarded's offerKind for direction dir
// of c, once per frame (offer, offer6).
func (w *Worker) offerKindOf(c conntrack.Conn, dir conntrack.Dir) offerKind {
	p := &w.p
	syn := w.synOfferable(c, dir)
	return offerKind{syn: syn,
		claim: dir == conntrack.DirInput && (p.Proto == frame.ProtoUDP && w.d.nfUDP || w.d.nfTCP && syn)}
}

// offerable reports whether direction dir of c may be offered now, as far
// as the connection and the segment being forwarded tell (offer).
func (w *Worker) offerable(c conntrack.Conn, dir conntrack.Dir, k offerKind) bool {
	p := &w.p
	if w.d.fast == nil || len(w.offers) == cap(w.offers) {
		return false
	}
	in, outOn := c.Offloaded()
	if (dir == conntrack.DirInput && in) || (dir == conntrack.DirOutput && outOn) {
		if !w.evicted(c, dir) { // evicted.go
			return false
		}
		in = in && dir != conntrack.DirInput
	}
	if c.Packets() < offerAfter && !in && !k.claim && !k.syn {
		return false // too young (the reply direction goes once the client's did, or as old)
	}
	if c.Flags()&(conntrack.FlagTemplate|conntrack.FlagOnePacket) != 0 {
		return false
	}
	switch p.Proto {
	case frame.ProtoTCP:
		return k.syn || c.State() == conntrack.StateEstablished && p.Flags&(frame.SYN|frame.FIN|frame.RST) == 0
	case frame.ProtoUDP:
		return true
	}
	return false
}

// synOfferable reports whether the frame being forwarded is the first SYN
// of TCP connection c, whose client direction dir the fast path takes from
// here on (offer): then the client's handshake ACK, its request and its
// close go through the kernel as those of a connection the program
// scheduled itself (fastpath.Action.Syn), where they would each cross the
// Go path until the connection's fourth packet. The connection table
// learns the handshake completed from the fast path (conntrack's
// rearmSeen, the closing reports). Not while the table holds more than
// synAckOfferLimit half-open connections: a flood's SYNs would each cost
// an install, a look by the sweep and a withdrawal.
func (w *Worker) synOfferable(c conntrack.Conn, dir conntrack.Dir) bool {
	p := &w.p
	return dir == conntrack.DirInput && p.Proto == frame.ProtoTCP && p.Flags&(frame.SYN|frame.ACK|frame.FIN|frame.RST) == frame.SYN &&
		c.State() == conntrack.StateSynRecv && w.d.CT.HalfOpen() <= synAckOfferLimit
}

// queueOffer queues the frame being forwarded's direction dir of c, leaving
// with src and dst through port out to mac, if its counter slot exists. A
// connection's first SYN (synOfferable) is installed before the frame
// goes out, so its client's next segment finds it.
func (w *Worker) queueOffer(c conntrack.Conn, dir conntrack.Dir, k offerKind, src, dst netip.AddrPort, out int, mac frame.MAC) {
	p := &w.p
	slot := uint32(c.Dest()) * 2
	if dir == conntrack.DirOutput {
		slot++
	}
	if int(slot) >= w.d.fast.Slots() {
		return
	}
	port := w.d.Ports[out]
	w.offers = append(w.offers, fastOffer{h: c.Handle, dir: dir, claim: k.claim, early: k.syn,
		k: fastpath.Key{Src: p.Src, Dst: p.Dst, Proto: p.Proto},
		a: fastpath.Action{DstMAC: mac, SrcMAC: port.MAC, Src: src, Dst: dst, In: w.in.Ifindex, Out: port.Ifindex,
			DecTTL: c.Method() == ipvs.Masq, MTU: port.MTU, Slot: slot, Syn: k.syn}})
}

// synAckOfferLimit is the number of half-open connections above which
// offerSynAck leaves the SYN-ACK to the Go path: far above what a real
// connection rate keeps half-open (100k connections/s with a 10 ms
// round trip keep 1,000).
const synAckOfferLimit = 4096

func mac4(m frame.MAC) [4]byte { return [4]byte(m[2:6]) }

// offerSynAck queues the reply direction of a NAT connection whose first
// SYN the worker is forwarding through port out, to take the real server's
// SYN-ACK too: the client's connect then waits for one pass through the
// Go path instead of two. It is installed before the SYN leaves, so the
// answer cannot overtake it. The client's own direction still waits for
// its fourth packet (offer).
//
// Not while the table holds more than synAckOfferLimit half-open
// connections: then the SYNs are mostly a flood's, whose SYN-ACKs no
// client waits for, and each offer would cost the worker an install, a
// look by the sweep and a withdrawal — system calls the flood's rate
// turns into the worker's limit.
func (w *Worker) offerSynAck(st *State, c conntrack.Conn, out int) {
	if !w.synAckOfferable(st, c, c.Virtual()) {
		return
	}
	cout, cmac, ok := w.nextHop(st, c.Client().Addr())
	if !ok || cmac == pendingMAC(mac4(cmac)) {
		return
	}
	w.queueSynAck(c, conntrack.Addrs{Client: c.Client(), Virtual: c.Virtual(), Real: c.Real()}, out, cout, cmac)
}

// synAckOfferable reports whether the frame being forwarded is the first
// SYN of NAT connection c, to virtual, whose reply direction the fast path
// can take (offerSynAck).
func (w *Worker) synAckOfferable(st *State, c conntrack.Conn, virtual netip.AddrPort) bool {
	p := &w.p
	fp := w.d.fast
	return fp != nil && len(w.offers) < cap(w.offers) && p.Proto == frame.ProtoTCP && p.Flags&(frame.SYN|frame.ACK) == frame.SYN &&
		c.Method() == ipvs.Masq && c.Flags()&conntrack.FlagOnePacket == 0 && (st.NAT == nil || !st.NAT.helper(virtual)) &&
		w.d.CT.HalfOpen() <= synAckOfferLimit && int(uint32(c.Dest())*2+1) < fp.Slots()
}

// queueSynAck queues the reply direction of connection c, whose addresses
// are a, to take its SYN-ACK: from the real server through port out (the
// SYN's egress) back to the client through port cout to cmac.
func (w *Worker) queueSynAck(c conntrack.Conn, a conntrack.Addrs, out, cout int, cmac frame.MAC) {
	port := w.d.Ports[cout]
	w.offers = append(w.offers, fastOffer{h: c.Handle, dir: conntrack.DirOutput, early: true,
		k: fastpath.Key{Src: a.Real, Dst: a.Client, Proto: frame.ProtoTCP},
		a: fastpath.Action{DstMAC: cmac, SrcMAC: port.MAC, Src: a.Virtual, Dst: a.Client,
			In: w.d.Ports[out].Ifindex, Out: port.Ifindex, DecTTL: true, MTU: port.MTU, Slot: uint32(c.Dest())*2 + 1, SynAck: true}})
}

// installOffers hands the batch's offers (the early ones, or the rest) to
// the fast path. Exactly one worker installs a direction (SetOffloaded
// decides); a flow the table dropped meanwhile is withdrawn again at once.
func (w *Worker) installOffers(early bool) {
	for i := range w.offers {
		o := &w.offers[i]
		if o.early != early || !w.d.CT.SetOffloaded(o.h, o.dir, true) {
			continue
		}
		six := o.k.Src.Addr().Is6()
		if six {
			w.d.keys6.put(o.h, o.dir, o.k) // before the table can withdraw it (fast6.go)
		}
		if ok, err := w.install(o); !ok || err != nil {
			w.d.CT.SetOffloaded(o.h, o.dir, false)
			if six {
				w.d.keys6.drop(o.h, o.dir)
			}
			if err != nil {
				w.C.FastErrors.Add(1)
			}
			continue
		}
		w.C.FastInstalls.Add(1)
		if _, live := w.d.CT.InPkts(o.h); !live {
			w.d.fast.Withdraw(o.k)
			if six {
				w.d.keys6.drop(o.h, o.dir)
			}
		}
	}
	if !early {
		clear(w.offers)
		w.offers = w.offers[:0]
	}
}

// install hands o to the fast path: false, nil for a claim the fast path
// refused because it scheduled the flow itself meanwhile (its report makes
// the connection table follow: Dataplane.AdoptNewFlows).
func (w *Worker) install(o *fastOffer) (bool, error) {
	if o.claim && w.d.nf != nil {
		return w.d.nf.InstallNew(o.k, o.a)
	}
	return true, w.d.fast.Install(o.k, o.a)
}

// leaveFast withdraws both directions of c when a packet took it out of
// the state the fast path may carry (a FIN or RST: the Go path must see the
// rest of the connection to track its state).
func (d *Dataplane) leaveFast(c conntrack.Conn) {
	if d.fast != nil {
		d.leaveFastBy(c, d.fast.Withdraw)
	}
}

// leaveFastBy is leaveFast withdrawing an IPv4 connection's directions
// through withdraw (AdoptNewFlows batches them).
func (d *Dataplane) leaveFastBy(c conntrack.Conn, withdraw func(fastpath.Key) error) {
	in, out := c.Offloaded()
	if !in && !out || d.fast == nil {
		return
	}
	if c.Proto() == ipvs.TCP && c.State() == conntrack.StateEstablished {
		return
	}
	if c.IPv6() {
		d.leaveFast6(c, in, out) // fast6.go
		return
	}
	if in && d.CT.SetOffloaded(c.Handle, conntrack.DirInput, false) {
		withdraw(inKey(c))
	}
	if out && d.CT.SetOffloaded(c.Handle, conntrack.DirOutput, false) {
		withdraw(outKey(c))
	}
}

// counterReader is a FastPath that reads many counter slots at once
// (*fastpath.FastPath).
type counterReader interface {
	ReadCounters(out [][2]uint64) error
}

// FastCounters folds the packets and bytes the fast path forwarded since
// the last call into the destinations' and services' counters of table t.
// The daemon calls it about once a second, from one goroutine.
func (d *Dataplane) FastCounters(t *ipvs.Table) {
	if d.fast == nil {
		return
	}
	d.fastMu.Lock()
	defer d.fastMu.Unlock()
	if d.fastSeen == nil {
		d.fastSeen = map[uint32][2]uint64{}
	}
	read := d.fast.Counters
	if r, ok := d.fast.(counterReader); ok {
		// One system call for every slot in use, not one per slot.
		n := 0
		for _, s := range t.Services() {
			for _, dst := range s.Dests {
				n = max(n, int(dst.ID)*2+2)
			}
		}
		d.fastNow = slices.Grow(d.fastNow[:0], n)[:n]
		if err := r.ReadCounters(d.fastNow); err == nil {
			read = func(slot uint32) (uint64, uint64, error) {
				if int(slot) >= len(d.fastNow) {
					return 0, 0, nil
				}
				return d.fastNow[slot][0], d.fastNow[slot][1], nil
			}
		}
	}
	for _, s := range t.Services() {
		for _, dst := range s.Dests {
			for dir := range uint32(2) {
				slot := uint32(dst.ID)*2 + dir
				pk, by, err := read(slot)
				if err != nil {
					continue
				}
				prev := d.fastSeen[slot]
				dp, db := pk-prev[0], by-prev[1]
				if dp == 0 {
					continue
				}
				d.fastSeen[slot] = [2]uint64{pk, by}
				for _, c := range [2]*ipvs.Counters{dst.C, s.C} {
					if dir == 0 {
						c.InPkts.Add(dp)
						c.InBytes.Add(db)
					} else {
						c.OutPkts.Add(dp)
						c.OutBytes.Add(db)
					}
				}
			}
		}
	}
}

// fastState is the Dataplane's part of the fast path.
type fastState struct {
	newFlowState          // the fast path's own scheduling (fastnew.go)
	fast         FastPath // nil: none
	fastMu       sync.Mutex
	fastSeen     map[uint32][2]uint64 // slot → packets, bytes already folded (fastMu)
	fastNow      [][2]uint64          // slot → packets, bytes read this time (fastMu)
	keys6        offloaded6           // the keys of offloaded IPv6 flows (fast6.go)
}
