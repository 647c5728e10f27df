package conntrack

import (
	"net/netip"
	"sync/atomic"

	"lvs/ipvs"
)

// Status says what Schedule did.
type Status uint8

// The outcomes of Schedule.
const (
	Scheduled    Status = iota // a new entry, or the one a concurrent packet of the flow made first
	NotNew                     // a TCP packet other than a bare SYN cannot open a connection (tcp_conn_schedule)
	NoDest                     // the scheduler found no destination (IPVS answers ICMP port unreachable)
	TableFull                  // no room and nothing evictable (counted in Stats.Full)
	PortMismatch               // a non-persistent service only takes its own port (ip_vs_schedule)
	Unsupported                // not an IPv4 or IPv6 flow, or a destination of another family
)

var statusNames = [...]string{"scheduled", "not a new connection", "no destination", "table full",
	"port mismatch", "unsupported address family"}

// String describes the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Schedule creates the entry for the first packet of flow k to service s
// (found by the caller from the VIP:port or firewall mark of the packet), as
// ip_vs_schedule and ip_vs_sched_persist: a persistent service first looks
// for a valid persistence template of the client network, else asks
// s.Sched.Pick; the new entry is bound to the destination (Counters.Bind)
// and the packet is applied to it (INPUT). A one-packet UDP service
// (-o) gets a Conn to forward by but no entry (for an IPv6 flow, whose
// Conn holds no addresses, its real server is the destination of s with
// ID c.Dest()). Keys of both families are scheduled; a real server of the
// other family serves a flow only by tunnelling (IPVS tunnels between
// families). Schedule does not allocate once the slabs have grown.
func (t *Table) Schedule(s *ipvs.Service, k Key, mark uint32, fl TCPFlags, now ipvs.Tick) (Conn, Status) {
	if !isNewConn(k.Proto, fl) {
		return Conn{}, NotNew
	}
	var fk fkey
	if !t.packFwd(k, kindConn, &fk) {
		return Conn{}, Unsupported
	}
	if s.Persistent() {
		return t.schedulePersist(s, k, &fk, mark, fl, now)
	}
	if s.Key.FWMark == 0 && k.Virtual.Port() != s.Key.Port {
		return Conn{}, PortMismatch
	}
	a := t.shardOf(fk.h)
	reserved := t.reserve(now) // before any lock: eviction locks other shards
	a.mu.Lock()
	if ref, e := t.findKey(a, &fk); e != nil {
		a.mu.Unlock()
		t.unreserve(reserved)
		return t.stepExisting(mkHandle(ref, atomic.LoadUint32(&e.gen)), fl, now)
	}
	a.flow = ipvs.Flow{Src: k.Client, Dst: k.Virtual, Now: now}
	d := s.Sched.Pick(s, &a.flow)
	var p spec
	fits := d != nil && connSpec(&p, s, d, &fk, connPort(d, k), mark, 0)
	if !reserved || !fits || s.OnePacket && k.Proto == ipvs.UDP {
		a.mu.Unlock()
		t.unreserve(reserved)
		switch {
		case d == nil:
			return Conn{}, NoDest
		case !reserved:
			return Conn{}, TableFull // counted by reserve
		}
		c, st, _ := t.newConn(s, d, &fk, connPort(d, k), mark, 0, fl, now)
		return c, st
	}
	// Insert under the lock the pick held when the shard order allows it.
	rh := t.specRevHash(&p)
	b := t.shardOf(rh)
	switch {
	case b == a:
	case b.idx > a.idx:
		b.mu.Lock()
	default:
		a.mu.Unlock()
		lockPair(a, b)
	}
	c, st, fresh := t.insertLocked(&p, a, b, rh, true, fl, now)
	unlockPair(a, b)
	if fresh && s.C != nil {
		s.C.Conns.Add(1)
	}
	return c, st
}

// Adopt enters a TCP connection or UDP flow that was scheduled outside
// the table — by lvsd's kernel fast path, which picked destination d of s
// for the SYN or first datagram of key k, forwarded it and forwards the
// rest — as Schedule would have after that frame: a TCP connection in
// SYN_RECV, bound to d, counted in s. The caller marks its offloaded
// directions.
//
// A key the table still holds is, for TCP, a client reusing its port: the
// offload only schedules a SYN for which it holds no entry, so the old
// connection was closed or taken back (a RST, a FIN, expiry) and the
// offload picked a server afresh, as conn_reuse_mode does for TIME_WAIT
// and CLOSE. For UDP it is a flow the offload no longer held (its entry
// was evicted from the full flow map, or the Go path scheduled it and lost
// the race to install it): the offload's pick stands, as if the old entry
// had expired (the dataplane keeps the old server instead where it can put
// the flow's entries back, and does not call Adopt then). The old entry goes first, without withdrawing anything from
// the offload: the entries there now are the new one's, under the same
// client key.
func (t *Table) Adopt(s *ipvs.Service, d *ipvs.Dest, k Key, now ipvs.Tick) (Conn, Status) {
	var fk fkey
	if k.Proto != ipvs.TCP && k.Proto != ipvs.UDP || !t.packFwd(k, kindConn, &fk) {
		return Conn{}, Unsupported
	}
	if old, ok := t.Lookup(k); ok {
		t.SetOffloaded(old.Handle, DirInput, false)
		t.SetOffloaded(old.Handle, DirOutput, false)
		t.remove(old.Handle, removeResched, now)
	}
	var fl TCPFlags
	if k.Proto == ipvs.TCP {
		fl = SYN
	}
	c, st, _ := t.newConn(s, d, &fk, connPort(d, k), 0, 0, fl, now)
	return c, st
}

// connPort is the destination port of a new connection: the dest's, or
// the client's virtual port for a dest without one (ip_vs_schedule).
func connPort(d *ipvs.Dest, k Key) uint16 {
	if d.Port != 0 {
		return d.Port
	}
	return k.Virtual.Port()
}

// unreserve gives back a slot reserve took.
func (t *Table) unreserve(reserved bool) {
	if reserved {
		t.count.Add(-1)
	}
}

// connSpec fills p with the connection entry of key fk for destination
// d. It reports false when d cannot serve the key's family: an IPv4 flow
// needs an IPv4 real server, or an IPv6 one it is tunnelled to (an IPv6
// flow may have either, as IPVS tunnels between families).
func connSpec(p *spec, s *ipvs.Service, d *ipvs.Dest, fk *fkey, dport uint16, mark, ctl uint32) bool {
	var flags Flags
	if d.Method != ipvs.Masq {
		flags |= FlagNoOutput // replies bypass the director (__ip_vs_update_dest)
	}
	*p = spec{k0: fk.k0, k1: fk.k1, h: fk.h, svc: s.ID, dest: d.ID, c: d.C, ctl: ctl, fwmark: mark, flags: flags}
	return p.setDest(fk, d.Addr, dport, d.Method, StateNone)
}

// setDest sets p's destination word (and for IPv6 its address record from
// fk and daddr); false when daddr cannot serve fk's family. An IPv4 flow
// tunnelled to an IPv6 real server gets a record too (real6), with its
// client and virtual addresses IPv4-mapped beside the real one.
func (p *spec) setDest(fk *fkey, daddr netip.Addr, dport uint16, m ipvs.Method, st State) bool {
	if !fk.six && daddr.Is6() && !daddr.Is4In6() {
		if m != ipvs.Tunnel {
			return false
		}
		p.real6, p.a = true, addr6{}
		p.a.w[0], p.a.w[1] = split16(unpack4(uint32(fk.k0 >> 32)))
		p.a.w[2], p.a.w[3] = split16(unpack4(uint32(fk.k0)))
		p.a.setReal(daddr)
		p.d = packD(real6Mark, dport, m, st)
		return true
	}
	if !fk.six {
		a, ok := pack4(daddr)
		p.d = packD(a, dport, m, st)
		return ok
	}
	if !daddr.IsValid() {
		return false
	}
	p.six, p.a = true, fk.a
	p.d = p.a.setReal(daddr) | packD(0, dport, m, st)
	return true
}

// specRevHash returns the reply-direction hash of the connection p.
func (t *Table) specRevHash(p *spec) uint64 {
	if p.rec() {
		return t.hash6(p.a.w[4], p.a.w[5], p.a.w[0], p.a.w[1], replyWord6(p.k1, p.d))
	}
	return t.hash(replyWords(p.k0, p.k1, p.d))
}

// stepExisting applies a packet to an entry a concurrent packet created.
func (t *Table) stepExisting(h Handle, fl TCPFlags, now ipvs.Tick) (Conn, Status) {
	c, ok := t.Update(h, DirInput, fl, now)
	if !ok {
		return Conn{}, NoDest
	}
	return c, Scheduled
}

// newConn makes the connection entry for destination d (ip_vs_conn_new),
// controlled by template ctl when non-zero. fresh reports whether an entry
// was stored by this call.
func (t *Table) newConn(s *ipvs.Service, d *ipvs.Dest, fk *fkey, dport uint16, mark, ctl uint32,
	fl TCPFlags, now ipvs.Tick) (c Conn, st Status, fresh bool) {
	var p spec
	if !connSpec(&p, s, d, fk, dport, mark, ctl) {
		return Conn{}, Unsupported, false
	}
	if s.OnePacket && ipvs.Proto(fk.k1>>24) == ipvs.UDP {
		// ip_vs_conn_new with IP_VS_CONN_F_ONE_PACKET: bound, counted, never hashed.
		ep := d.C.Epoch()
		d.C.Bind(false, ep)
		d.C.Unbind(false, ep)
		if s.C != nil {
			s.C.Conns.Add(1)
		}
		return Conn{k0: fk.k0, k1: fk.k1, d: p.d, flags: uint32(FlagOnePacket | FlagInactive | p.flags),
			svc: uint32(s.ID), dest: uint32(d.ID)}, Scheduled, false
	}
	c, st, fresh = t.insert(&p, true, fl, now)
	if fresh && s.C != nil {
		s.C.Conns.Add(1)
	}
	return c, st, fresh
}

// spec describes an entry to insert; for IPv6 (six), and for IPv4 with an
// IPv6 real server (real6), with its address record, whose index insert
// puts into d.
type spec struct {
	k0, k1, h uint64
	d         uint64
	six       bool
	real6     bool
	a         addr6
	svc       ipvs.ServiceID
	dest      ipvs.DestID
	c         *ipvs.Counters
	ctl       uint32
	fwmark    uint32
	flags     Flags // FlagTemplate, FlagNoOutput, FlagSync
	timeout   int64 // ms; 0: the state's timeout
}

// rec reports whether p's entry has an address record.
func (p *spec) rec() bool { return p.six || p.real6 }

// internal returns the internal flag bits p's entry starts with.
func (p *spec) internal() uint32 {
	if p.real6 {
		return flagReal6
	}
	return 0
}

// insert links a new entry made from p and binds it to its destination;
// with step the first packet (fl, INPUT) is applied. If the key is already
// there (a concurrent packet won) that entry is stepped and returned with
// fresh false. A template is not put on a reply chain. The caller holds no
// lock.
func (t *Table) insert(p *spec, step bool, fl TCPFlags, now ipvs.Tick) (Conn, Status, bool) {
	if !t.reserve(now) {
		return Conn{}, TableFull, false
	}
	template := p.flags&FlagTemplate != 0
	a := t.shardOf(p.h)
	b, rh := a, uint64(0)
	if !template {
		rh = t.specRevHash(p)
		b = t.shardOf(rh)
	}
	lockPair(a, b)
	defer unlockPair(a, b)
	return t.insertLocked(p, a, b, rh, step, fl, now)
}

// insertLocked is insert once the slot is reserved and a (home) and b
// (reply shard; a for a template) are locked.
func (t *Table) insertLocked(p *spec, a, b *shard, rh uint64, step bool, fl TCPFlags, now ipvs.Tick) (Conn, Status, bool) {
	set := t.set.Load()
	template := p.flags&FlagTemplate != 0
	beginPair(a, b)
	defer endPair(a, b)
	if ref, e := t.findSpec(a, p); e != nil {
		t.count.Add(-1)
		if step && !template {
			t.step(e, DirInput, fl, now, set, true)
		}
		return e.load(ref), Scheduled, false
	}
	local, e := a.alloc(t)
	if e == nil {
		t.count.Add(-1)
		t.st.full.Add(1)
		return Conn{}, TableFull, false
	}
	ref := mkRef(a.idx, local)
	if p.rec() {
		l6, r := a.alloc6(t)
		if r == nil {
			a.release(local, e)
			t.count.Add(-1)
			t.st.full.Add(1)
			return Conn{}, TableFull, false
		}
		store6(r, &p.a)
		p.d = p.d&^(localMask<<32) | uint64(l6)<<32
	}
	st := State(p.d)
	active := !template && ipvs.Proto(p.k1>>24) == ipvs.TCP && st.active() && p.flags&FlagSync != 0
	flags := uint32(p.flags) | p.internal() | flagLive
	if !active {
		flags |= uint32(FlagInactive) // new connections start inactive (conn_flags of a dest)
	}
	atomic.StoreUint64(&e.k0, p.k0)
	atomic.StoreUint64(&e.k1, p.k1)
	atomic.StoreUint64(&e.d, p.d)
	atomic.StoreUint32(&e.svc, uint32(p.svc))
	atomic.StoreUint32(&e.dest, uint32(p.dest))
	atomic.StoreUint32(&e.flags, flags)
	e.epoch = p.c.Epoch()
	to := p.timeout
	if to == 0 {
		to = t.to.of(ipvs.Proto(p.k1>>24), st)
	}
	to = min(to, maxTimeoutMs)
	e.aux, e.extra, e.expires = p.ctl, p.fwmark, deadline(now, to)
	if template {
		e.aux, e.extra = 0, uint32(to)
	}
	t.linkFwd(a, ref, e, p.h)
	if template {
		p.c.Persist.Add(1)
	} else {
		t.linkRev(b, ref, e, rh)
		if ipvs.Proto(p.k1>>24) == ipvs.TCP && st.halfOpen() {
			t.halfOpen.Add(1)
		}
		if step {
			t.step(e, DirInput, fl, now, set, false)
		}
		p.c.Bind(e.flags&uint32(FlagInactive) == 0, e.epoch)
	}
	t.st.created.Add(1)
	t.noteChange(a, ref, e.gen)
	return e.load(ref), Scheduled, true
}

// findSpec looks up the key of p in its home shard a.
func (t *Table) findSpec(a *shard, p *spec) (uint32, *entry) {
	if p.six {
		return t.find6(a, p.h, p.k1, &p.a)
	}
	return t.find(a, p.h, p.k0, p.k1)
}
