package dataplane

import (
	"slices"
	"sync"
	"time"

	"lvs/frame"
)

// Frames waiting for a neighbour. When the next hop of a frame has no MAC
// yet (a sorry server, a real server added by lvsadm -a, a client on the
// segment lvsd has not heard from), the kernel queues the packet on the
// neighbour entry, sends an ARP request and transmits the queue when the
// reply comes (neigh_resolve_output, __neigh_event_send). lvsd does the
// same: nextHop asks the port's neighbour table to resolve the address
// (neigh.Table.Resolve, lock-free) and gives the frame a placeholder
// destination MAC; emit then copies the finished frame into a held slot
// instead of the transmit batch. The daemon's control loop probes the
// address (neigh.Table.Due) and calls SendHeld, which transmits the frames
// whose neighbour answered, through the control links, and drops those
// that waited longer than HoldTimeout.
//
// An IPv6 next hop does not fit in a MAC: nextHop6 gives the frame
// pendingMAC6 (pendingMAC of 0.0.0.0, which is never an IPv4 next hop),
// which says only that the frame waits, and leaves the hop in the worker
// (worker6.hop), where hold reads it for a frame whose EtherType is IPv6
// (the frame goes to the next hop in its own family; a tunnelled one in
// its outer header's). The kernel holds IPv6
// packets for an incomplete neighbour entry the same way (ndisc's
// neigh_resolve_output), so a client's first SYN to an IPv6 real server
// nobody has resolved yet is not lost.
//
// The slots are preallocated; holding a frame takes a mutex that only the
// workers (on a miss) and SendHeld (briefly, never across I/O) take, and a
// worker that finds it taken drops the frame (no_neighbour) rather than
// wait. Nothing here logs or allocates on the packet path.

const (
	// HoldPerHop is how many frames wait for one neighbour, the kernel's
	// historical unres_qlen (3): a client's SYN and its retransmissions.
	// A fourth pushes the oldest out (neighbour_queue_full).
	HoldPerHop = 3
	// HoldTimeout is how long a frame waits: the kernel gives up on a
	// neighbour after mcast_solicit (3) probes retrans_time (1 s) apart.
	HoldTimeout = 3 * time.Second
	// holdSlots bounds the frames held for all neighbours together.
	holdSlots = 64
)

type heldState uint8

const (
	heldFree    heldState = iota
	heldWaiting           // waiting for its neighbour
	heldSending           // SendHeld is transmitting it
)

// heldFrame is one slot of the queue.
type heldFrame struct {
	state heldState
	port  int
	hop   [16]byte  // the next hop: an IPv4 one in its first 4 bytes
	v6    bool      // hop is IPv6
	seq   uint64    // order of arrival: frames to one hop leave in order
	at    time.Time // when it was held
	meta  Meta
	c     *Counters // the holding worker's: TX and drops are counted there
	n     int
	buf   []byte
}

// heldQueue is the dataplane's frames waiting for neighbours.
type heldQueue struct {
	size int // the largest frame a slot holds

	mu    sync.Mutex // guards slots, seq
	slots []heldFrame
	seq   uint64

	smu    sync.Mutex // serialises SendHeld; guards what follows
	order  []int      // slots being sent, by port and arrival
	frames [][]byte
	meta   []Meta
}

// newHeldQueue preallocates the slots, each for the largest frame the
// ports carry (a tunnelled frame is as large as the MTU allows too).
func newHeldQueue(ports []*Port) *heldQueue {
	size := 0
	for _, p := range ports {
		size = max(size, p.MTU)
	}
	size += frame.EthernetLen + 4 // room for an 802.1Q tag
	q := &heldQueue{size: size, slots: make([]heldFrame, holdSlots),
		order: make([]int, 0, holdSlots), frames: make([][]byte, 0, holdSlots), meta: make([]Meta, 0, holdSlots)}
	slab := make([]byte, holdSlots*size)
	for i := range q.slots {
		q.slots[i].buf = slab[i*size : (i+1)*size : (i+1)*size]
	}
	return q
}

// pendingMAC is the destination nextHop gives a frame whose next hop hop
// has no MAC yet: a group address (ff:fe:…) that no neighbour can have,
// since neigh.Table never learns one, carrying hop in its last four bytes.
// (An answer lvsd sends back to a received frame's source would carry it
// only if that source were a group address, which no Ethernet sender may
// use: such an answer is held and times out, counted.)
func pendingMAC(hop [4]byte) frame.MAC {
	return frame.MAC{0xff, 0xfe, hop[0], hop[1], hop[2], hop[3]}
}

// isPending reports whether frame f carries a pendingMAC destination.
func isPending(f []byte) bool { return len(f) >= frame.EthernetLen && f[0] == 0xff && f[1] == 0xfe }

// pendingMAC6 is pendingMAC for an IPv6 next hop, which does not fit: the
// hop waits in the worker (worker6.hop) until emit holds the frame.
var pendingMAC6 = pendingMAC([4]byte{})

// miss is nextHop's answer for a next hop without a MAC: it asks the
// port's neighbour table to resolve hop and reports whether the frame being
// processed may wait for it (the dataplane holds frames and it fits a
// slot). When it may, the caller finishes the frame with pendingMAC(hop)
// as its destination and emit holds it.
func (w *Worker) miss(out int, hop [4]byte) bool {
	w.d.Ports[out].Neigh.Resolve(hop)
	return w.d.held != nil && w.p.End <= w.d.held.size
}

// miss6 is miss for an IPv6 next hop: it asks for hop and, when the frame
// may wait, keeps hop for hold, which the frame reaches next (emit).
func (w *Worker) miss6(out int, hop [16]byte) bool {
	w.d.Ports[out].Neigh.Resolve6(hop)
	if w.d.held == nil || w.p.End > w.d.held.size {
		return false
	}
	w.six.hop = hop
	return true
}

// hold copies frame f, finished but for its destination MAC (pendingMAC),
// into a slot to wait for its next hop on port out. The oldest frame for
// the same hop makes room when HoldPerHop are waiting, the oldest of all
// when every slot is taken (neighbour_queue_full). It never waits: a frame
// that cannot be held is dropped as no_neighbour.
func (w *Worker) hold(out int, f []byte, m Meta) {
	q := w.d.held
	if q == nil || len(f) > q.size || !q.mu.TryLock() {
		w.C.Drops[DropNoNeigh].Add(1)
		return
	}
	defer q.mu.Unlock()
	var hop [16]byte
	v6 := Ethernet(f).Type() == frame.EtherTypeIPv6
	if v6 {
		hop = w.six.hop
	} else {
		copy(hop[:], f[2:6])
	}
	free, oldest, oldestHop, same := -1, -1, -1, 0
	for i := range q.slots {
		s := &q.slots[i]
		switch s.state {
		case heldFree:
			if free < 0 {
				free = i
			}
		case heldWaiting:
			if oldest < 0 || s.seq < q.slots[oldest].seq {
				oldest = i
			}
			if s.port == out && s.hop == hop && s.v6 == v6 {
				same++
				if oldestHop < 0 || s.seq < q.slots[oldestHop].seq {
					oldestHop = i
				}
			}
		}
	}
	victim := -1
	switch {
	case same >= HoldPerHop:
		victim = oldestHop
	case free < 0:
		victim = oldest
	}
	if victim >= 0 {
		v := &q.slots[victim]
		v.c.Drops[DropNeighQueueFull].Add(1)
		v.state, v.c = heldFree, nil
		free = victim
	}
	if free < 0 { // every slot is being sent right now
		w.C.Drops[DropNoNeigh].Add(1)
		return
	}
	s := &q.slots[free]
	q.seq++
	s.state, s.port, s.hop, s.v6, s.seq, s.at, s.meta, s.c = heldWaiting, out, hop, v6, q.seq, w.now, m, &w.C
	s.n = copy(s.buf, f)
}

// SendHeld transmits the frames held for neighbours that have been
// resolved since, with the MAC filled in, through links (one per port: the
// daemon's control links, which no worker writes), and drops as
// neighbour_failed the frames held longer than HoldTimeout. The daemon's
// control loop calls it after probing neighbours and whenever a neighbour
// table pokes its wake channel (a MAC was learned). It does not hold the
// workers' lock across I/O.
func (d *Dataplane) SendHeld(now time.Time, links []MetaLink) {
	q := d.held
	if q == nil {
		return
	}
	q.smu.Lock()
	defer q.smu.Unlock()
	q.mu.Lock()
	for i := range q.slots {
		s := &q.slots[i]
		if s.state != heldWaiting {
			continue
		}
		if mac, ok := s.lookup(d.Ports[s.port]); ok {
			Ethernet(s.buf).SetDst(mac)
			s.state = heldSending
			q.order = append(q.order, i)
		} else if now.Sub(s.at) >= HoldTimeout {
			s.c.Drops[DropNeighFailed].Add(1)
			s.state, s.c = heldFree, nil
		}
	}
	q.mu.Unlock()
	if len(q.order) == 0 {
		return
	}
	slices.SortFunc(q.order, func(a, b int) int {
		sa, sb := &q.slots[a], &q.slots[b]
		if sa.port != sb.port {
			return sa.port - sb.port
		}
		return int(sa.seq - sb.seq)
	})
	for start := 0; start < len(q.order); {
		port := q.slots[q.order[start]].port
		end := start
		for end < len(q.order) && q.slots[q.order[end]].port == port {
			end++
		}
		d.sendHeldOn(links[port], q.order[start:end])
		start = end
	}
	q.mu.Lock()
	for _, i := range q.order {
		q.slots[i].state, q.slots[i].c = heldFree, nil
	}
	q.mu.Unlock()
	q.order = q.order[:0]
}

// sendHeldOn writes the held frames of slots idx (all for one port) to l,
// counting each as transmitted or refused on its worker's counters.
func (d *Dataplane) sendHeldOn(l MetaLink, idx []int) {
	q := d.held
	q.frames, q.meta = q.frames[:0], q.meta[:0]
	for _, i := range idx {
		s := &q.slots[i]
		q.frames = append(q.frames, s.buf[:s.n])
		q.meta = append(q.meta, s.meta)
	}
	for sent := 0; sent < len(idx); {
		n, err := l.WriteBatchMeta(q.frames[sent:], q.meta[sent:])
		for _, i := range idx[sent : sent+n] {
			q.slots[i].c.TX.Add(1)
		}
		sent += n
		if err == nil {
			break
		}
		if sent < len(idx) { // frames[sent] was refused
			q.slots[idx[sent]].c.Drops[DropTxError].Add(1)
			sent++
		}
	}
	clear(q.frames)
}

// lookup finds the MAC of the slot's next hop in port's neighbour table.
func (s *heldFrame) lookup(port *Port) (frame.MAC, bool) {
	if s.v6 {
		return port.Neigh.Lookup6(s.hop)
	}
	return port.Neigh.Lookup([4]byte(s.hop[:4]))
}
