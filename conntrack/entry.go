package conntrack

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"lvs/ipvs"
)

// ICMP is the protocol number of ICMP flows (echo identifier as the client
// port, 0 as the virtual port, by the dataplane's convention).
const ICMP ipvs.Proto = 1

// Key identifies a flow in the client direction: protocol, client address
// and port, virtual address and port, both IPv4 or both IPv6.
type Key struct {
	Proto   ipvs.Proto
	Client  netip.AddrPort
	Virtual netip.AddrPort
}

// ReplyKey identifies a flow in the reply direction of NAT: the real server
// address and port the reply comes from, and the client it goes to.
type ReplyKey struct {
	Proto  ipvs.Proto
	Real   netip.AddrPort
	Client netip.AddrPort
}

// Flags describe an entry, with the meaning of the kernel's IP_VS_CONN_F_*.
type Flags uint16

// The entry flags.
const (
	FlagTemplate  Flags = 1 << iota // a persistence template (IP_VS_CONN_F_TEMPLATE)
	FlagNoOutput                    // replies not seen yet: state uses INPUT_ONLY (IP_VS_CONN_F_NOOUTPUT, DR/TUN)
	FlagInactive                    // counted in the destination's inactive connections
	FlagOnePacket                   // one-packet scheduling, never stored (IP_VS_CONN_F_ONE_PACKET)
	FlagSync                        // created by connection sync (IP_VS_CONN_F_SYNC)
	FlagInvalid                     // an invalidated template: kept while it controls connections, never matched
)

// String lists the flags for ipvsadm-like output.
func (f Flags) String() string {
	names := []string{"template", "nooutput", "inactive", "onepacket", "sync", "invalid"}
	s := ""
	for i, n := range names {
		if f&(1<<i) != 0 {
			if s != "" {
				s += ","
			}
			s += n
		}
	}
	return s
}

// Internal flag bits, above the exported ones.
const (
	flagLive uint32 = 1 << 16 // the slot holds an entry
	flagRev  uint32 = 1 << 17 // the entry is on a reply-direction chain
	// flagReal6 marks an IPv4 entry whose real server is IPv6 (an IPv4
	// service tunnelling to it, which IPVS allows): its address is in an
	// address record, as an IPv6 entry's (addr6.go).
	flagReal6 uint32 = 1 << 13
)

// Handle names one entry. It stops being valid when the entry is deleted
// (its slot's generation changes), so a stale handle can never reach a
// newer flow.
type Handle uint64

func mkHandle(ref, gen uint32) Handle { return Handle(uint64(gen)<<32 | uint64(ref)) }
func (h Handle) ref() uint32          { return uint32(h) }
func (h Handle) gen() uint32          { return uint32(h >> 32) }

// Conn is what the packet path needs about a flow, copied out of the table
// in packed form (48 bytes, so a lookup copies little): where to forward
// (Real, Method), how to rewrite NAT replies (Virtual), and the state after
// the packet. The accessors decode it.
type Conn struct {
	Handle    Handle
	k0, k1, d uint64
	flags     uint32
	svc, dest uint32
}

// Proto returns the flow's protocol (ProtoAny for a firewall-mark template).
func (c Conn) Proto() ipvs.Proto { return ipvs.Proto(c.k1 >> 24) }

// IPv6 reports whether c is an IPv6 flow. Its Client, Virtual and Real
// then carry the ports only (an invalid address): the 16-byte addresses
// are not in the Conn, which stays 48 bytes, but in the table (Addrs).
func (c Conn) IPv6() bool { return c.k1&kindV6 != 0 }

// Real6 reports whether c is an IPv4 flow tunnelled to an IPv6 real
// server (IPv4 in IPv6). Its Client and Virtual are IPv4; its Real carries
// the port only, and Addrs has the address.
func (c Conn) Real6() bool { return c.flags&flagReal6 != 0 }

// Client returns the client address and port (the masked network and 0
// for a template).
func (c Conn) Client() netip.AddrPort {
	if c.IPv6() {
		return netip.AddrPortFrom(netip.Addr{}, uint16(c.k1>>48))
	}
	return netipFrom(c.k0>>32, c.k1>>48)
}

// Virtual returns the virtual address and port the client asked for (the
// firewall mark as an address for a firewall-mark template).
func (c Conn) Virtual() netip.AddrPort {
	if c.IPv6() {
		return netip.AddrPortFrom(netip.Addr{}, uint16(c.k1>>32))
	}
	return netipFrom(c.k0, c.k1>>32)
}

// Real returns the real server address and port to forward to (the port
// only for an IPv6 real server: see IPv6 and Real6).
func (c Conn) Real() netip.AddrPort {
	if c.IPv6() || c.Real6() {
		return netip.AddrPortFrom(netip.Addr{}, uint16(c.d>>16))
	}
	return netipFrom(c.d>>32, c.d>>16)
}

// Method returns the forwarding method.
func (c Conn) Method() ipvs.Method { return ipvs.Method(c.d >> 8) }

// State returns the state after the packet.
func (c Conn) State() State { return State(c.d) }

// Flags returns the entry's flags.
func (c Conn) Flags() Flags { return Flags(c.flags) }

// Service returns the ID of the service that scheduled the flow.
func (c Conn) Service() ipvs.ServiceID { return ipvs.ServiceID(c.svc) }

// Dest returns the ID of the destination the flow is bound to.
func (c Conn) Dest() ipvs.DestID { return ipvs.DestID(c.dest) }

// String returns the flow as ipvsadm -L -c shows it.
func (c Conn) String() string {
	return fmt.Sprintf("%s %s %s→%s→%s", c.Proto(), StateName(c.Proto(), c.State()), c.Client(), c.Virtual(), c.Real())
}

// entry is one flow or template in a slab: 64 bytes, one cache line (the
// chunks are page aligned), with every field a lookup reads in the first
// 48. It holds no pointers. Fields a lock-free reader looks at (k0, k1, d,
// next, rnext, svc, dest, gen, flags) are always written with sync/atomic;
// the others only under the home shard's lock.
type entry struct {
	k0      uint64 // caddr<<32 | vaddr (the fwmark for a fwmark template)
	k1      uint64 // cport<<48 | vport<<32 | proto<<24 | kind
	d       uint64 // daddr<<32 | dport<<16 | method<<8 | state
	next    uint32 // client-direction chain (home shard lock); free list link when free
	rnext   uint32 // reply-direction chain (the reply shard's lock)
	svc     uint32
	dest    uint32
	gen     uint32 // bumped when the slot is freed
	flags   uint32 // Flags | internal bits | client packets << pktShift
	expires uint32 // deadline: the low 32 bits of an ipvs.Tick, see expired
	epoch   uint32 // the dest's scheduling epoch at bind time
	aux     uint32 // connection: ref of its controlling template (0: none); template: connections it controls
	extra   uint32 // connection: firewall mark; template: its timeout in ms
}

// The top bits of entry.flags count client packets, wrapping (enough for
// the sync daemon's in_pkts % sync_period rule with any period dividing 2^14).
const (
	pktShift = 18
	pktOne   = 1 << pktShift
)

// maxTimeoutMs bounds every timeout so deadlines compare correctly as
// signed 32-bit differences of milliseconds (24 days).
const maxTimeoutMs = 24 * 24 * 3600 * 1000

// deadline returns the deadline ms after now.
func deadline(now ipvs.Tick, ms int64) uint32 {
	return uint32(int64(now) + min(max(ms, 0), maxTimeoutMs))
}

// expired reports whether deadline exp has passed at now.
func expired(exp uint32, now ipvs.Tick) bool { return int32(exp-uint32(now)) <= 0 }

// left returns the time from now to deadline exp (0 once passed).
func left(exp uint32, now ipvs.Tick) time.Duration {
	return time.Duration(max(int32(exp-uint32(now)), 0)) * time.Millisecond
}

func (e *entry) template() bool { return e.flags&uint32(FlagTemplate) != 0 }

// mark returns the firewall mark of the entry's service (of a firewall
// mark template: the mark its key carries, in the first four bytes of the
// virtual address of an IPv6 one). Caller holds e's home lock.
func (t *Table) mark(ref uint32, e *entry) uint32 {
	if e.template() {
		if ipvs.Proto(e.k1>>24) != ipvs.ProtoAny {
			return 0
		}
		if e.k1&kindV6 != 0 {
			if r := t.rec6(ref, e.d); r != nil {
				return uint32(atomic.LoadUint64(&r.w[2]) >> 32)
			}
			return 0
		}
		return uint32(e.k0)
	}
	return e.extra
}

// Key kinds in the low bits of k1: a template never matches a connection
// lookup and an invalidated template matches nothing (the kernel rehashes
// it with ports 0xffff, ip_vs_check_template). kindV6 marks an IPv6 entry
// (addr6.go), which therefore never matches an IPv4 key, nor the reverse.
const (
	kindConn     = 0
	kindTemplate = 1
	kindInvalid  = 2
	kindV6       = 4
	kindMask     = 0xffff
)

func pack4(a netip.Addr) (uint32, bool) {
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), true
}

func unpack4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func packK0(caddr, vaddr uint32) uint64 { return uint64(caddr)<<32 | uint64(vaddr) }
func packK1(cport, vport uint16, proto ipvs.Proto, kind uint64) uint64 {
	return uint64(cport)<<48 | uint64(vport)<<32 | uint64(proto)<<24 | kind
}
func packD(daddr uint32, dport uint16, m ipvs.Method, st State) uint64 {
	return uint64(daddr)<<32 | uint64(dport)<<16 | uint64(m)<<8 | uint64(st)
}

// packKey returns the two key words of k, or false for a non-IPv4 key.
func packKey(k Key, kind uint64) (k0, k1 uint64, ok bool) {
	c, ok1 := pack4(k.Client.Addr())
	v, ok2 := pack4(k.Virtual.Addr())
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return packK0(c, v), packK1(k.Client.Port(), k.Virtual.Port(), k.Proto, kind), true
}

// packReply returns the reply-direction key words: daddr<<32 | caddr and
// dport<<48 | cport<<32 | proto<<24.
func packReply(k ReplyKey) (r0, r1 uint64, ok bool) {
	d, ok1 := pack4(k.Real.Addr())
	c, ok2 := pack4(k.Client.Addr())
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return uint64(d)<<32 | uint64(c), uint64(k.Real.Port())<<48 | uint64(k.Client.Port())<<32 | uint64(k.Proto)<<24, true
}

// replyWords derives an entry's reply-direction key from its key and
// destination words.
func replyWords(k0, k1, d uint64) (r0, r1 uint64) {
	return d&^0xffffffff | k0>>32, (d>>16&0xffff)<<48 | (k1>>48)<<32 | (k1 >> 24 & 0xff << 24)
}

// load reads e's reader-visible words atomically into a Conn.
func (e *entry) load(ref uint32) Conn {
	return Conn{
		Handle: mkHandle(ref, atomic.LoadUint32(&e.gen)),
		k0:     atomic.LoadUint64(&e.k0), k1: atomic.LoadUint64(&e.k1), d: atomic.LoadUint64(&e.d),
		flags: atomic.LoadUint32(&e.flags), // flags, internal bits, client packets (Packets)
		svc:   atomic.LoadUint32(&e.svc), dest: atomic.LoadUint32(&e.dest),
	}
}

func (e *entry) state() State { return State(atomic.LoadUint64(&e.d)) }
func (e *entry) proto() ipvs.Proto {
	return ipvs.Proto(atomic.LoadUint64(&e.k1) >> 24)
}
func (e *entry) has(f Flags) bool { return atomic.LoadUint32(&e.flags)&uint32(f) != 0 }
func (e *entry) live() bool       { return atomic.LoadUint32(&e.flags)&flagLive != 0 }

// setFlag sets or clears bits of e.flags; the caller holds the home lock.
func (e *entry) setFlag(f uint32, on bool) {
	v := atomic.LoadUint32(&e.flags)
	if on {
		v |= f
	} else {
		v &^= f
	}
	atomic.StoreUint32(&e.flags, v)
}

func (e *entry) setState(st State) {
	atomic.StoreUint64(&e.d, atomic.LoadUint64(&e.d)&^0xff|uint64(st))
}
