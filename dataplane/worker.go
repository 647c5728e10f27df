package dataplane

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"lvs/frame"
	"lvs/ipvs"
)

// scratchLen is the size of a buffer for a frame lvsd makes itself (ARP
// replies, neighbour advertisements, ICMP errors): an ICMP error is at
// most 590 bytes, an ICMPv6 error 1,294 (worker6.go).
const scratchLen = max(frame.ICMPErrorMaxLen, frame.ICMPv6ErrorMaxLen)

// Worker runs the packet path for the frames of one receive Link (one
// interface, or one fanout share of it). It owns its batch arrays, its
// Parsed, its transmit Links (one per port, used by no other goroutine) and
// its counters; it shares only the connection table and the published State.
// It does not log, lock across I/O, or allocate per frame.
type Worker struct {
	d  *Dataplane
	in *Port
	rx MetaLink
	tx []MetaLink // by port index; this worker is their only writer
	C  Counters

	p       frame.Parsed
	frames  [][]byte
	meta    []Meta
	outF    [][][]byte // pending frames per port
	outM    [][]Meta
	scratch [][]byte // buffers for frames lvsd makes, one per frame of a batch
	nbuf    int
	now     time.Time   // wall clock of the batch being processed (neighbour learning)
	frags   fragTable   // client datagrams whose first fragment went by
	rfrags  fragTable   // real servers' datagrams likewise
	tun     tunnelBufs  // transmit buffers for IPIP frames (tunnel.go)
	offers  []fastOffer // flows to hand to the fast path after the batch (fast.go)
	looks   lookBudget  // questions to the fast path about evicted flows (evicted.go)
	six     *worker6    // IPv6 fragment tables (worker6.go)
}

// NewWorker returns a worker reading rx, the receive Link of port in, and
// writing through tx (indexed like d.Ports).
func NewWorker(d *Dataplane, in *Port, rx MetaLink, tx []MetaLink) *Worker {
	n := rx.BatchSize()
	w := &Worker{d: d, in: in, rx: rx, tx: tx,
		frames: make([][]byte, n), meta: make([]Meta, n),
		outF: make([][][]byte, len(d.Ports)), outM: make([][]Meta, len(d.Ports)),
		scratch: make([][]byte, n), offers: make([]fastOffer, 0, n), six: new(worker6)}
	for i := range w.outF {
		w.outF[i] = make([][]byte, 0, n)
		w.outM[i] = make([]Meta, 0, n)
	}
	for i := range w.scratch {
		w.scratch[i] = make([]byte, scratchLen)
	}
	return w
}

// Run processes batches until the receive Link is closed, and returns nil
// then; any other read error is returned.
func (w *Worker) Run() error {
	for {
		n, err := w.rx.ReadBatchMeta(w.frames, w.meta)
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				return nil
			case errors.Is(err, syscall.ENETDOWN):
				// The link went down (a cable pulled, `ip link set down`):
				// the receive side reports it once and waits for the link.
				// A router keeps running; monitor_links decides failover.
				w.C.LinkDown.Add(1)
				continue
			}
			return err
		}
		w.Process(w.frames[:n], w.meta[:n], time.Now())
	}
}

// Process runs one batch: it loads the State once, decides every frame and
// transmits what is to be sent, per egress port in one WriteBatch each.
func (w *Worker) Process(frames [][]byte, meta []Meta, now time.Time) {
	st := w.d.State()
	tick := w.d.Tick(now)
	w.adoptNew(tick) // flows the fast path scheduled (fastnew.go)
	w.now = now
	w.nbuf = 0
	w.tun.reset()
	w.C.RX.Add(uint64(len(frames)))
	for i, f := range frames {
		v := w.process(f, meta[i], st, tick, now)
		w.C.Verdicts[v].Add(1)
	}
	w.flush()
}

// emit queues frame f (with offload metadata m) for port out.
func (w *Worker) emit(out int, f []byte, m Meta) {
	if isPending(f) { // its next hop is being resolved (neighqueue.go)
		w.hold(out, f, m)
		return
	}
	w.outF[out] = append(w.outF[out], f)
	w.outM[out] = append(w.outM[out], m)
}

// buf returns a scratch buffer for a frame lvsd makes, or nil when the
// batch has used them all (one per received frame, so it never happens).
func (w *Worker) buf() []byte {
	if w.nbuf == len(w.scratch) {
		return nil
	}
	b := w.scratch[w.nbuf]
	w.nbuf++
	return b
}

func (w *Worker) flush() {
	if len(w.offers) > 0 {
		w.installOffers(true) // SYN-ACK entries before their SYNs leave (fast.go)
	}
	for port := range w.outF {
		fs, ms := w.outF[port], w.outM[port]
		for len(fs) > 0 {
			n, err := w.tx[port].WriteBatchMeta(fs, ms)
			w.C.TX.Add(uint64(n))
			if err == nil {
				break
			}
			// frames[n] was refused: count it and go on with the rest.
			w.C.Drops[DropTxError].Add(1)
			if n+1 >= len(fs) {
				break
			}
			fs, ms = fs[n+1:], ms[n+1:]
		}
		clear(w.outF[port])
		w.outF[port], w.outM[port] = w.outF[port][:0], w.outM[port][:0]
	}
	if len(w.offers) > 0 {
		w.installOffers(false) // after the frames that made the flows eligible (fast.go)
	}
}

// process decides one frame.
func (w *Worker) process(f []byte, m Meta, st *State, now ipvs.Tick, wall time.Time) Verdict {
	p := &w.p
	p.Decode(f)
	switch p.Kind {
	case frame.KindARP:
		if w.arpConflict(f, st) { // malformed.go
			return w.C.drop(DropARPConflict)
		}
		if b := w.buf(); b != nil {
			if n := handleARP(b, f, p, w.in, st.Owned, wall); n > 0 {
				w.emit(w.in.Index, b[:n], Meta{})
				return Reply
			}
		}
		return Pass
	case frame.KindIPv4:
	case frame.KindIPv6:
		return w.process6(f, m, st, now) // worker6.go
	case frame.KindOther:
		if why, bad := ipv4Fault(f, m); bad { // malformed.go
			return w.C.drop(why)
		}
		return Pass
	default:
		return Pass
	}
	if p.Tagged {
		return Pass // VLAN-tagged frames are not forwarded yet: the kernel keeps them
	}
	p.Partial = m.Flags&NeedsCsum != 0
	dst := p.Dst.Addr().As4()
	if _, ok := st.Owned.Port(dst); ok {
		return w.toOwned(f, m, st, now)
	}
	if st.Local[dst] {
		return Pass
	}
	return w.fromReal(f, m, st, now)
}

// nextHop routes addr: the port to send on and the MAC of the next hop
// (addr itself, or the gateway that reaches it), from lvsd's own neighbour
// table. It reports false when there is no route, or when the MAC is
// unknown yet and the frame cannot wait for it; a frame that can wait gets
// a placeholder MAC and is held by emit until the neighbour answers.
func (w *Worker) nextHop(st *State, addr netip.Addr) (int, frame.MAC, bool) {
	out, hop, ok := st.Routes.Lookup(addr.As4())
	if !ok {
		return 0, frame.MAC{}, false
	}
	if mac, ok := w.d.Ports[out].Neigh.Lookup(hop); ok {
		return out, mac, true
	}
	return out, pendingMAC(hop), w.miss(out, hop) // the frame waits for an ARP reply (neighqueue.go)
}
