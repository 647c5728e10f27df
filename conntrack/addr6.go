package conntrack

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"lvs/ipvs"
)

// IPv6 flows. An IPv6 entry is an ordinary 64-byte entry plus one 48-byte
// address record in a second slab of its home shard, so IPv4 entries do
// not grow and the IPv4 lookup path touches nothing new. In an IPv6 entry:
//
//	k0 = the bucket hash of its key (a 64-bit fingerprint: a chain walk
//	     loads the address record only when k0 and k1 both match)
//	k1 = cport<<48 | vport<<32 | proto<<24 | kindV6 | kind, as for IPv4
//	d  = (rec | real4)<<32 | dport<<16 | method<<8 | state, where rec is
//	     the local index of the address record in the home shard's addr6
//	     slab and real4 says the real server is IPv4 (an IPv6 virtual
//	     service tunnelling to an IPv4 server, which IPVS allows)
//
// The record holds the client, virtual and real addresses as big-endian
// 64-bit halves. It is written before the entry is linked and never
// changes while the entry is live, and it is freed with the entry under
// the home lock inside the same write section, so lock-free readers
// validate it with the seqlock of the chain they walk, exactly as the
// entry's own words. Its words are read and written with sync/atomic.
//
// An IPv4 flow tunnelled to an IPv6 real server (IPv4 in IPv6, which IPVS
// allows too) is an IPv4 entry — k0 and k1 as any, so the IPv4 lookup
// finds it unchanged — flagged flagReal6, with a record for the real
// server: its d word is (real6Mark | rec)<<32 | dport<<16 | method<<8 |
// state, and its record holds the client and virtual addresses
// IPv4-mapped beside the real one. It is on the reply chain of its IPv6
// reply hash (real server, mapped client), where findReply6 finds it; the
// IPv4 reply lookup never matches it, as no reply comes from real6Mark's
// class E network.

// addr6 is one address record: w[0:2] client, w[2:4] virtual, w[4:6] real.
// A free record links the next free one in w[0].
type addr6 struct{ w [6]uint64 }

const real4 = 1 << 31 // in the record half of d: the real server is IPv4

// real6Mark is the top byte of an IPv4 entry's address half of d when its
// real server is IPv6 (255.0.0.0/8 around the record index; real4 means
// nothing there).
const real6Mark = 0xff << localBits

// hasRec reports whether e holds an address record: an IPv6 entry, or an
// IPv4 one with an IPv6 real server.
func (e *entry) hasRec() bool {
	return atomic.LoadUint64(&e.k1)&kindV6 != 0 || atomic.LoadUint32(&e.flags)&flagReal6 != 0
}

type chunk6 [chunkSize]addr6

// Addrs are the full addresses of a flow, what Conn's accessors cannot
// decode for an IPv6 flow.
type Addrs struct {
	Client, Virtual, Real netip.AddrPort
}

// split16 returns an address's 16 bytes as two big-endian words.
func split16(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func join16(hi, lo uint64) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

// fkey is a client-direction key as the table stores it: the key words and
// bucket hash, and for IPv6 the client and virtual words of its record.
type fkey struct {
	k0, k1, h uint64
	six       bool
	a         addr6
}

// hash6 hashes two 16-byte addresses and a word of ports and protocol.
func (t *Table) hash6(a0, a1, b0, b1, w uint64) uint64 {
	return t.hash(t.hash(a0, a1)^b0, t.hash(b1, w))
}

// packFwd packs k (kind: kindConn or kindTemplate) into fk: IPv4 when both
// addresses are IPv4, IPv6 when both are IPv6; false otherwise.
func (t *Table) packFwd(k Key, kind uint64, fk *fkey) bool {
	if k0, k1, ok := packKey(k, kind); ok {
		*fk = fkey{k0: k0, k1: k1, h: t.hash(k0, k1&^kindMask)}
		return true
	}
	c, v := k.Client.Addr(), k.Virtual.Addr()
	if !c.Is6() || !v.Is6() {
		return false
	}
	t.pack6(fk, c, v, packK1(k.Client.Port(), k.Virtual.Port(), k.Proto, kind|kindV6))
	return true
}

// pack6 fills fk with the IPv6 key of addresses c, v and key word k1.
func (t *Table) pack6(fk *fkey, c, v netip.Addr, k1 uint64) {
	fk.six, fk.k1 = true, k1
	fk.a.w[0], fk.a.w[1] = split16(c)
	fk.a.w[2], fk.a.w[3] = split16(v)
	fk.h = t.hash6(fk.a.w[0], fk.a.w[1], fk.a.w[2], fk.a.w[3], k1&^kindMask)
	fk.k0 = fk.h
}

// findKey is find for a packed key of either family.
func (t *Table) findKey(s *shard, fk *fkey) (uint32, *entry) {
	if fk.six {
		return t.find6(s, fk.h, fk.k1, &fk.a)
	}
	return t.find(s, fk.h, fk.k0, fk.k1)
}

// rec6 returns the address record of the IPv6 entry ref whose d word is d,
// or nil when the index is outside the slab (a stale read).
func (t *Table) rec6(ref uint32, d uint64) *addr6 {
	s := &t.shards[ref>>localBits]
	local := uint32(d>>32) & localMask
	cs := *s.chunks6.Load()
	c := local >> chunkBits
	if local == 0 || int(c) >= len(cs) {
		return nil
	}
	return &cs[c][local&(chunkSize-1)]
}

// find6 walks the client-direction chain of h in s for the IPv6 entry with
// key word k1 and the client and virtual words of a.
func (t *Table) find6(s *shard, h, k1 uint64, a *addr6) (uint32, *entry) {
	hs := *s.heads.Load()
	ref := atomic.LoadUint32(&hs[h&uint64(len(hs)-1)])
	for n := 0; ref != 0 && n < maxChain; n++ {
		e := t.at(ref)
		if e == nil {
			return 0, nil
		}
		if atomic.LoadUint64(&e.k0) == h && atomic.LoadUint64(&e.k1) == k1 {
			if r := t.rec6(ref, atomic.LoadUint64(&e.d)); r != nil &&
				atomic.LoadUint64(&r.w[0]) == a.w[0] && atomic.LoadUint64(&r.w[1]) == a.w[1] &&
				atomic.LoadUint64(&r.w[2]) == a.w[2] && atomic.LoadUint64(&r.w[3]) == a.w[3] {
				return ref, e
			}
		}
		ref = atomic.LoadUint32(&e.next)
	}
	return 0, nil
}

// rkey6 is a packed IPv6 reply key: the real and client words, the
// entry-side word rport<<48 | cport<<32 | proto<<24, whether the real
// server or the client is IPv4, and the hash.
type rkey6 struct {
	r0, r1, c0, c1, w, h uint64
	r4, c4               bool
}

// packReply6 packs a reply key with 16-byte addresses: an IPv6 client with
// an IPv6 real server, or an IPv4 one behind an IPv6 virtual service; or
// an IPv4 client with an IPv6 real server behind an IPv4 virtual service.
func (t *Table) packReply6(k ReplyKey, rk *rkey6) bool {
	c, r := k.Client.Addr(), k.Real.Addr()
	switch {
	case c.Is6() && r.IsValid():
	case c.Is4() && r.Is6() && !r.Is4In6():
	default:
		return false
	}
	rk.r4, rk.c4 = r.Is4(), c.Is4()
	rk.r0, rk.r1 = split16(r)
	rk.c0, rk.c1 = split16(c)
	rk.w = uint64(k.Real.Port())<<48 | uint64(k.Client.Port())<<32 | uint64(k.Proto)<<24
	rk.h = t.hash6(rk.r0, rk.r1, rk.c0, rk.c1, rk.w)
	return true
}

// replyWord6 is the reply word of an IPv6 entry's key and destination words.
func replyWord6(k1, d uint64) uint64 {
	return (d>>16&0xffff)<<48 | (k1>>48)<<32 | (k1 >> 24 & 0xff << 24)
}

// findReply6 walks the reply-direction chain of rk in s.
func (t *Table) findReply6(s *shard, rk *rkey6) (uint32, *entry) {
	hs := *s.rheads.Load()
	ref := atomic.LoadUint32(&hs[rk.h&uint64(len(hs)-1)])
	for n := 0; ref != 0 && n < maxChain; n++ {
		e := t.at(ref)
		if e == nil {
			return 0, nil
		}
		k1, d := atomic.LoadUint64(&e.k1), atomic.LoadUint64(&e.d)
		conn := k1&kindMask == kindConn|kindV6 && !rk.c4 && (d>>32&real4 != 0) == rk.r4 ||
			k1&kindMask == kindConn && rk.c4 && atomic.LoadUint32(&e.flags)&flagReal6 != 0
		if conn && replyWord6(k1, d) == rk.w {
			if r := t.rec6(ref, d); r != nil &&
				atomic.LoadUint64(&r.w[4]) == rk.r0 && atomic.LoadUint64(&r.w[5]) == rk.r1 &&
				atomic.LoadUint64(&r.w[0]) == rk.c0 && atomic.LoadUint64(&r.w[1]) == rk.c1 {
				return ref, e
			}
		}
		ref = atomic.LoadUint32(&e.rnext)
	}
	return 0, nil
}

// fwdHash returns the client-direction bucket hash of entry e.
func (t *Table) fwdHash(e *entry) uint64 {
	k0, k1 := atomic.LoadUint64(&e.k0), atomic.LoadUint64(&e.k1)
	if k1&kindV6 != 0 {
		return k0
	}
	return t.hash(k0, k1&^kindMask)
}

// revHash returns the reply-direction bucket hash of entry ref. Caller
// holds its home lock, or the lock of the reply shard it is linked on.
func (t *Table) revHash(ref uint32, e *entry) uint64 {
	k0, k1, d := atomic.LoadUint64(&e.k0), atomic.LoadUint64(&e.k1), atomic.LoadUint64(&e.d)
	if !e.hasRec() {
		return t.hash(replyWords(k0, k1, d))
	}
	r := t.rec6(ref, d)
	return t.hash6(atomic.LoadUint64(&r.w[4]), atomic.LoadUint64(&r.w[5]),
		atomic.LoadUint64(&r.w[0]), atomic.LoadUint64(&r.w[1]), replyWord6(k1, d))
}

// alloc6 takes a free address record of s (under s.mu), growing the slab
// by one chunk when none is free (a chunk given back first: compact.go);
// 0 and nil when the index space is used up.
func (s *shard) alloc6(t *Table) (uint32, *addr6) {
	if s.free6 == 0 && s.holes6 > 0 {
		s.refill6()
	}
	if s.free6 != 0 {
		local := s.free6
		r := t.rec6(mkRef(s.idx, 0), uint64(local)<<32)
		s.free6 = uint32(atomic.LoadUint64(&r.w[0]))
		s.n6++
		return local, r
	}
	if s.used6 == 0 {
		s.used6 = 1
	}
	local := s.used6
	if local > localMask {
		return 0, nil
	}
	if c := int(local >> chunkBits); c >= len(*s.chunks6.Load()) || (*s.chunks6.Load())[c] == emptyChunk6 {
		s.putChunk6(c)
	}
	s.used6++
	s.n6++
	return local, t.rec6(mkRef(s.idx, 0), uint64(local)<<32)
}

// release6 frees the address record of IPv6 entry e (home shard s, under
// s.mu inside a write section).
func (s *shard) release6(t *Table, ref uint32, e *entry) {
	local := uint32(e.d>>32) & localMask
	r := t.rec6(ref, e.d)
	if r == nil {
		return
	}
	for i := range r.w {
		atomic.StoreUint64(&r.w[i], 0)
	}
	atomic.StoreUint64(&r.w[0], uint64(s.free6))
	s.free6 = local
	s.n6--
}

// store6 writes the words of a into slab record r.
func store6(r *addr6, a *addr6) {
	for i := range r.w {
		atomic.StoreUint64(&r.w[i], a.w[i])
	}
}

// setReal sets the real server of an IPv6 spec from d's address and
// returns the real4 bit for the d word.
func (a *addr6) setReal(addr netip.Addr) uint64 {
	a.w[4], a.w[5] = split16(addr)
	if addr.Is4() {
		return real4 << 32
	}
	return 0
}

// addrs6 decodes the addresses of an entry with a record from the record
// and the entry's words: an IPv6 entry, or an IPv4 one with an IPv6 real
// server (real6), whose client and virtual addresses are IPv4-mapped in
// the record.
func addrs6(r *addr6, k1, d uint64, real6 bool) Addrs {
	w := [6]uint64{}
	for i := range w {
		w[i] = atomic.LoadUint64(&r.w[i])
	}
	client, virtual, real := join16(w[0], w[1]), join16(w[2], w[3]), join16(w[4], w[5])
	if d>>32&real4 != 0 && !real6 {
		real = real.Unmap()
	}
	if real6 {
		client, virtual = client.Unmap(), virtual.Unmap()
	}
	return Addrs{
		Client:  netip.AddrPortFrom(client, uint16(k1>>48)),
		Virtual: netip.AddrPortFrom(virtual, uint16(k1>>32)),
		Real:    netip.AddrPortFrom(real, uint16(d>>16)),
	}
}

// addrsLocked returns the addresses of entry ref; caller holds its home
// lock.
func (t *Table) addrsLocked(ref uint32, e *entry) Addrs {
	k1, d := atomic.LoadUint64(&e.k1), atomic.LoadUint64(&e.d)
	real6 := atomic.LoadUint32(&e.flags)&flagReal6 != 0
	if k1&kindV6 == 0 && !real6 {
		c := Conn{k0: atomic.LoadUint64(&e.k0), k1: k1, d: d}
		return Addrs{c.Client(), c.Virtual(), c.Real()}
	}
	if r := t.rec6(ref, d); r != nil {
		return addrs6(r, k1, d, real6)
	}
	return Addrs{}
}

// Addrs returns the addresses of the flow c: decoded from c for IPv4, read
// from the table for IPv6 and for an IPv4 flow with an IPv6 real server
// (false once the entry was deleted). It takes no lock and never
// allocates.
func (t *Table) Addrs(c Conn) (Addrs, bool) {
	if !c.IPv6() && !c.Real6() {
		return Addrs{c.Client(), c.Virtual(), c.Real()}, true
	}
	h := c.Handle
	if h.ref()&localMask == 0 {
		return Addrs{}, false
	}
	s := &t.shards[h.ref()>>localBits]
	return read(s, func() (Addrs, bool) {
		e := t.at(h.ref())
		if e == nil || atomic.LoadUint32(&e.gen) != h.gen() || !e.live() {
			return Addrs{}, false
		}
		d := atomic.LoadUint64(&e.d)
		r := t.rec6(h.ref(), d)
		if r == nil {
			return Addrs{}, false
		}
		return addrs6(r, atomic.LoadUint64(&e.k1), d, c.Real6()), true
	})
}

// lookup6 is Lookup for an IPv6 key.
func (t *Table) lookup6(k Key) (Conn, bool) {
	var fk fkey
	if !t.packFwd(k, kindConn, &fk) || !fk.six {
		return Conn{}, false
	}
	s := t.shardOf(fk.h)
	return read(s, func() (Conn, bool) {
		ref, e := t.find6(s, fk.h, fk.k1, &fk.a)
		if e == nil {
			return Conn{}, false
		}
		return e.load(ref), true
	})
}

// in6 is In for an IPv6 key.
func (t *Table) in6(k Key, fl TCPFlags, now ipvs.Tick) (Conn, Verdict) {
	var fk fkey
	if !t.packFwd(k, kindConn, &fk) || !fk.six {
		return Conn{}, Miss
	}
	return t.in(fk.k0, fk.k1, fk.h, &fk.a, fl, now)
}

// replyRef6 is replyRef for an IPv6 reply key.
func (t *Table) replyRef6(k ReplyKey) (Handle, bool) {
	var rk rkey6
	if !t.packReply6(k, &rk) {
		return 0, false
	}
	s := t.shardOf(rk.h)
	return read(s, func() (Handle, bool) {
		ref, e := t.findReply6(s, &rk)
		if e == nil {
			return 0, false
		}
		return mkHandle(ref, atomic.LoadUint32(&e.gen)), true
	})
}
