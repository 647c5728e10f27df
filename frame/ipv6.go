package frame

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypeIPv6 is the EtherType of IPv6 (RFC 2464).
const EtherTypeIPv6 uint16 = 0x86dd

// IPv6 next-header values (IANA protocol-numbers) of the extension headers
// Decode walks (RFC 8200 §4), of ICMPv6, of IPv6 encapsulation and of "no
// next header".
const (
	ProtoHopOpts  uint8 = 0  // hop-by-hop options, only right after the IPv6 header
	ProtoIPv6     uint8 = 41 // IPv6 encapsulation (RFC 2473), IPVS's tunnel method for IPv6
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59
	ProtoDstOpts  uint8 = 60
)

// IPv6Len is the length of the fixed IPv6 header (RFC 8200 §3).
const IPv6Len = 40

// IPv6FragmentLen is the length of the IPv6 fragment header (RFC 8200 §4.5).
const IPv6FragmentLen = 8

// IPv6MinMTU is the smallest MTU an IPv6 link may have (RFC 8200 §5), the
// size an ICMPv6 error may not exceed (RFC 4443 §2.4 (c)).
const IPv6MinMTU = 1280

const (
	ipv6VerTC      = 0 // version (4 bits), traffic class (8), flow label (20)
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24

	ipv6FragNext   = 0
	ipv6FragOff    = 2 // offset (13 bits, ×8), 2 reserved bits, M
	ipv6FragID     = 4
	ipv6FragMF     = 0x0001
	ipv6OffsetMask = 0xfff8

	ipv6RoutingSegLeft = 3

	// ipv6MaxExt bounds the extension headers Decode walks. The kernel
	// has no fixed bound, but each header it skips costs a branch per
	// frame; real traffic carries at most a few.
	ipv6MaxExt = 8
)

// IPv6 is a view of an IPv6 header and what follows it inside a frame.
// Call Valid (a whole datagram) or ValidHeader (a header quoted in an
// ICMPv6 error) before any accessor.
type IPv6 []byte

// ValidHeader reports whether h starts with a whole fixed IPv6 header with
// version 6. It does not check the payload length, which in an ICMPv6
// quote describes the original datagram.
func (h IPv6) ValidHeader() bool { return len(h) >= IPv6Len && h[ipv6VerTC]>>4 == 6 }

// Valid reports whether h holds a whole IPv6 datagram: a valid header and
// a payload length that fits in h. Bytes past it (Ethernet padding) are
// allowed. A jumbogram (payload length 0 with a jumbo option, RFC 2675)
// is valid here, but its hop-by-hop header does not fit the zero-length
// payload, so Decode leaves it to the kernel.
func (h IPv6) Valid() bool {
	return h.ValidHeader() && IPv6Len+int(binary.BigEndian.Uint16(h[ipv6PayloadLen:])) <= len(h)
}

// TrafficClass returns the traffic class (DSCP and ECN).
func (h IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(h[ipv6VerTC:]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (h IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[ipv6VerTC:]) & 0x000fffff }

// PayloadLen returns the payload length field: extension headers and
// upper-layer data, without the fixed header.
func (h IPv6) PayloadLen() int { return int(binary.BigEndian.Uint16(h[ipv6PayloadLen:])) }

// TotalLen returns the length of the datagram: IPv6Len plus PayloadLen.
func (h IPv6) TotalLen() int { return IPv6Len + h.PayloadLen() }

// NextHeader returns the next-header field: the first extension header
// or the upper-layer protocol.
func (h IPv6) NextHeader() uint8 { return h[ipv6NextHeader] }

// HopLimit returns the hop limit.
func (h IPv6) HopLimit() uint8 { return h[ipv6HopLimit] }

// Src returns the source address.
func (h IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(h[ipv6Src : ipv6Src+16])) }

// Dst returns the destination address.
func (h IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(h[ipv6Dst : ipv6Dst+16])) }

// Payload returns the bytes after the fixed header up to the payload
// length, or to the end of h when h is shorter (a quote).
func (h IPv6) Payload() []byte { return h[IPv6Len:min(h.TotalLen(), len(h))] }

// SetSrc rewrites the source address. IPv6 has no header checksum; the
// upper-layer checksum covers the address through the pseudo header: use
// Parsed.SetSrc, which patches it.
func (h IPv6) SetSrc(a netip.Addr) { b := a.As16(); copy(h[ipv6Src:ipv6Src+16], b[:]) }

// SetDst rewrites the destination address. See SetSrc.
func (h IPv6) SetDst(a netip.Addr) { b := a.As16(); copy(h[ipv6Dst:ipv6Dst+16], b[:]) }

// SetHopLimit sets the hop limit (no checksum covers it).
func (h IPv6) SetHopLimit(n uint8) { h[ipv6HopLimit] = n }

// DecHopLimit decrements the hop limit as a forwarding router does and
// returns false, leaving h unchanged, when it is 0 or 1: the datagram must
// then be dropped with an ICMPv6 time exceeded (RFC 8200 §3, RFC 4443
// §3.3), as the kernel's ip6_forward.
func (h IPv6) DecHopLimit() bool {
	if h[ipv6HopLimit] <= 1 {
		return false
	}
	h[ipv6HopLimit]--
	return true
}

// PseudoHeaderSum returns the partial sum of the upper-layer pseudo header
// of h (RFC 8200 §8.1) for protocol proto and an upper-layer packet of
// length bytes, with the destination of the header. A datagram with a
// routing header that still has segments left has its final destination
// elsewhere; Decode leaves those to the kernel.
func (h IPv6) PseudoHeaderSum(proto uint8, length int) uint32 {
	return PseudoHeaderSum6([16]byte(h[ipv6Src:ipv6Src+16]), [16]byte(h[ipv6Dst:ipv6Dst+16]), proto, length)
}

// PseudoHeaderSum6 returns the partial sum of the IPv6 pseudo header used
// by TCP, UDP and ICMPv6 (RFC 8200 §8.1): source, destination, the 32-bit
// upper-layer length, three zero bytes and the next header.
func PseudoHeaderSum6(src, dst [16]byte, proto uint8, length int) uint32 {
	s := Sum(src[:], 0)
	s = Sum(dst[:], s)
	s += uint32(proto)
	s += uint32(length>>16) + uint32(length&0xffff)
	return s
}

// addrDelta6 returns the ones' complement delta ~m + m' of a 16-byte
// address changing from old to new (RFC 1624 eqn. 3, summed over its eight
// words), to add into every checksum whose pseudo header covers it.
func addrDelta6(old []byte, new [16]byte) uint32 {
	var d uint32
	for i := 0; i < 16; i += 2 {
		d += uint32(^binary.BigEndian.Uint16(old[i:])) + (uint32(new[i])<<8 | uint32(new[i+1]))
	}
	return d
}

// IPv6Fragment is a view of an IPv6 fragment header (RFC 8200 §4.5). Check
// its length (IPv6FragmentLen) before any accessor.
type IPv6Fragment []byte

// NextHeader returns the first header of the fragmentable part.
func (f IPv6Fragment) NextHeader() uint8 { return f[ipv6FragNext] }

// Offset returns the fragment offset in bytes.
func (f IPv6Fragment) Offset() int {
	return int(binary.BigEndian.Uint16(f[ipv6FragOff:]) & ipv6OffsetMask)
}

// More reports whether the M (more fragments) flag is set.
func (f IPv6Fragment) More() bool { return binary.BigEndian.Uint16(f[ipv6FragOff:])&ipv6FragMF != 0 }

// ID returns the 32-bit identification.
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[ipv6FragID:]) }

// extWalk is where a walk of IPv6 extension headers ended.
type extWalk struct {
	proto     uint8 // upper-layer protocol (or first header of a non-first fragment)
	l4        int   // its offset
	frag      int   // offset of the fragment header, 0 when none
	fragOff   int   // fragment offset in bytes
	more      bool  // M flag
	fragID    uint32
	truncated bool // a header did not fit before end
	bad       bool // a header that makes the datagram unusable (see walkIPv6)
}

// walkIPv6 follows the next-header chain of the IPv6 header at b[l3:],
// through hop-by-hop (only first, RFC 8200 §4.1), routing, destination
// options and fragment headers, up to end. It stops at the upper-layer
// header, at the data of a non-first fragment, or where a header does not
// fit (truncated). It marks bad what Decode must leave to the kernel: a
// hop-by-hop header not first, a second fragment header, a routing header
// with segments left (we are not its final destination, RFC 8200 §4.4),
// or more than ipv6MaxExt headers.
func walkIPv6(b []byte, l3, end int) extWalk {
	w := extWalk{proto: b[l3+ipv6NextHeader], l4: l3 + IPv6Len}
	for i := 0; ; i++ {
		switch w.proto {
		case ProtoHopOpts, ProtoRouting, ProtoDstOpts:
		case ProtoFragment:
			if w.frag != 0 {
				w.bad = true
				return w
			}
			if w.l4+IPv6FragmentLen > end {
				w.truncated = true
				return w
			}
			f := IPv6Fragment(b[w.l4 : w.l4+IPv6FragmentLen])
			w.frag, w.fragOff, w.more, w.fragID = w.l4, f.Offset(), f.More(), f.ID()
			w.proto = f.NextHeader()
			w.l4 += IPv6FragmentLen
			if w.fragOff != 0 {
				return w // the rest is fragment data
			}
			continue
		default:
			return w
		}
		if i >= ipv6MaxExt || w.proto == ProtoHopOpts && i != 0 {
			w.bad = true
			return w
		}
		if w.l4+8 > end {
			w.truncated = true
			return w
		}
		n := (int(b[w.l4+1]) + 1) * 8
		if w.l4+n > end {
			w.truncated = true
			return w
		}
		if w.proto == ProtoRouting && b[w.l4+ipv6RoutingSegLeft] != 0 {
			w.bad = true
			return w
		}
		w.proto = b[w.l4]
		w.l4 += n
	}
}
