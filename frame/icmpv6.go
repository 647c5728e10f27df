package frame

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 types (RFC 4443, RFC 4861) used by a director. Types below 128
// are errors.
const (
	ICMPv6DestUnreachable uint8 = 1
	ICMPv6PacketTooBig    uint8 = 2
	ICMPv6TimeExceeded    uint8 = 3
	ICMPv6ParamProblem    uint8 = 4
	ICMPv6Echo            uint8 = 128
	ICMPv6EchoReply       uint8 = 129
	ICMPv6RouterSolicit   uint8 = 133
	ICMPv6RouterAdvert    uint8 = 134
	ICMPv6NeighborSolicit uint8 = 135
	ICMPv6NeighborAdvert  uint8 = 136
	ICMPv6Redirect        uint8 = 137
)

// ICMPv6 destination-unreachable (RFC 4443 §3.1) and time-exceeded (§3.3)
// codes.
const (
	ICMPv6NoRoute         uint8 = 0
	ICMPv6AdminProhibited uint8 = 1
	ICMPv6AddrUnreachable uint8 = 3
	ICMPv6PortUnreachable uint8 = 4

	ICMPv6HopLimitExceeded uint8 = 0
	ICMPv6ReassemblyTime   uint8 = 1
)

// ICMPv6Len is the length of the ICMPv6 header as Decode takes it: type,
// code, checksum and the 4-byte field that follows in every message a
// director handles (echo id/sequence, MTU, pointer, or unused/flags).
const ICMPv6Len = 8

const (
	icmp6Type  = 0
	icmp6Code  = 1
	icmp6Sum   = 2
	icmp6ID    = 4 // echo identifier
	icmp6Seq   = 6 // echo sequence number
	icmp6Param = 4 // MTU of packet too big, pointer of parameter problem
)

// ICMPv6 is a view of an ICMPv6 message: header and body. Call Valid
// before any accessor. Unlike ICMPv4, its checksum covers the IPv6 pseudo
// header (RFC 4443 §2.3), so the checksum methods take the IPv6 header.
type ICMPv6 []byte

// Valid reports whether c holds at least ICMPv6Len bytes.
func (c ICMPv6) Valid() bool { return len(c) >= ICMPv6Len }

// Type returns the message type.
func (c ICMPv6) Type() uint8 { return c[icmp6Type] }

// Code returns the message code.
func (c ICMPv6) Code() uint8 { return c[icmp6Code] }

// Checksum returns the checksum field.
func (c ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(c[icmp6Sum:]) }

// ID returns the identifier of an echo request or reply.
func (c ICMPv6) ID() uint16 { return binary.BigEndian.Uint16(c[icmp6ID:]) }

// Seq returns the sequence number of an echo request or reply.
func (c ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(c[icmp6Seq:]) }

// MTU returns the MTU of a packet-too-big message (RFC 4443 §3.2).
func (c ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(c[icmp6Param:]) }

// Pointer returns the pointer of a parameter-problem message (§3.4).
func (c ICMPv6) Pointer() uint32 { return binary.BigEndian.Uint32(c[icmp6Param:]) }

// Body returns the bytes after the 8-byte header.
func (c ICMPv6) Body() []byte { return c[ICMPv6Len:] }

// IsError reports whether c is an error message: type below 128 (RFC
// 4443 §2.1). Errors quote as much of the offending datagram as fits.
func (c ICMPv6) IsError() bool { return c.Type() < 128 }

// Inner returns the datagram quoted by an error. Check it with
// IPv6.ValidHeader: its payload length describes the original datagram.
func (c ICMPv6) Inner() IPv6 { return IPv6(c[ICMPv6Len:]) }

// SetChecksum stores sum in the checksum field.
func (c ICMPv6) SetChecksum(sum uint16) { binary.BigEndian.PutUint16(c[icmp6Sum:], sum) }

// ComputeChecksum returns the checksum c should carry inside the IPv6
// datagram ip, over the pseudo header and the whole of c with the field
// taken as zero. c must end where the datagram ends.
func (c ICMPv6) ComputeChecksum(ip IPv6) uint16 {
	s := ip.PseudoHeaderSum(ProtoICMPv6, len(c))
	s = Sum(c[:icmp6Sum], s)
	return ^Fold(Sum(c[icmp6Sum+2:], s))
}

// ValidChecksum reports whether the checksum of c inside ip is correct.
func (c ICMPv6) ValidChecksum(ip IPv6) bool {
	return Fold(Sum(c, ip.PseudoHeaderSum(ProtoICMPv6, len(c)))) == 0xffff
}

// UpdateChecksum recomputes the checksum from scratch.
func (c ICMPv6) UpdateChecksum(ip IPv6) { c.SetChecksum(c.ComputeChecksum(ip)) }

// toEchoReply6 is ToEchoReply for ICMPv6: the address swap leaves the
// pseudo-header sum unchanged, the type change is patched.
func toEchoReply6(frame []byte, p *Parsed, hopLimit uint8) bool {
	if p.Proto != ProtoICMPv6 || p.ICMPType != ICMPv6Echo || p.IsFragment() {
		return false
	}
	e := Ethernet(frame)
	src, dst := e.Src(), e.Dst()
	e.SetSrc(dst)
	e.SetDst(src)
	ip := IPv6(frame[p.L3:p.End])
	var s [16]byte
	copy(s[:], ip[ipv6Src:ipv6Src+16])
	copy(ip[ipv6Src:ipv6Src+16], ip[ipv6Dst:ipv6Dst+16])
	copy(ip[ipv6Dst:ipv6Dst+16], s[:])
	ip.SetHopLimit(hopLimit)
	c := ICMPv6(frame[p.L4:p.End])
	old := binary.BigEndian.Uint16(c[icmp6Type:])
	c[icmp6Type] = ICMPv6EchoReply
	c.SetChecksum(Update16(c.Checksum(), old, binary.BigEndian.Uint16(c[icmp6Type:])))
	p.Src, p.Dst = p.Dst, p.Src
	p.ICMPType = ICMPv6EchoReply
	return true
}

// ICMPv6ErrorMaxLen is the largest frame PutICMPv6Error writes: an IPv6
// datagram of the minimum MTU (RFC 4443 §2.4 (c)).
const ICMPv6ErrorMaxLen = EthernetLen + IPv6MinMTU

// icmp6QuoteMax is what fits of the offending datagram in an error.
const icmp6QuoteMax = IPv6MinMTU - IPv6Len - ICMPv6Len

// PutICMPv6Error writes into buf an ICMPv6 error of type typ and code
// about the IPv6 datagram in frame (decoded into p), from src and srcMAC
// back to the datagram's source and the MAC it came from, and returns the
// frame length. param is the 32-bit field after the checksum: the MTU of
// ICMPv6PacketTooBig, the pointer of ICMPv6ParamProblem, and 0 (unused)
// otherwise. The quote is as much of the datagram as fits in IPv6MinMTU
// bytes (RFC 4443 §2.4 (c)); hop limit 64, untagged.
//
// It returns 0, writing nothing, when no error may be sent (RFC 4443 §2.4
// (e)): p is not IPv6; it is an ICMPv6 error itself (or an error whose
// quote was not decodable); its source is unspecified or multicast; or its
// IPv6 or link-layer destination is multicast, except for a packet too big
// and a parameter problem of code 2. It also returns 0 when src is not an
// IPv6 address or buf is shorter than ICMPv6ErrorMaxLen. Errors about
// non-first fragments are allowed, as the kernel's icmp6_send allows them.
func PutICMPv6Error(buf, frame []byte, p *Parsed, typ, code uint8, param uint32, src netip.Addr, srcMAC MAC) int {
	if p.Kind != KindIPv6 || p.ICMPError || len(buf) < ICMPv6ErrorMaxLen || !src.Is6() || src.Is4In6() {
		return 0
	}
	if p.Proto == ProtoICMPv6 && p.FragOffset == 0 && p.ICMPType < 128 {
		return 0
	}
	if s := p.Src.Addr(); s.IsUnspecified() || s.IsMulticast() {
		return 0
	}
	exempt := typ == ICMPv6PacketTooBig || typ == ICMPv6ParamProblem && code == 2
	if !exempt && (p.Dst.Addr().IsMulticast() || frame[ethDst]&1 != 0) {
		return 0
	}
	quote := frame[p.L3:min(p.End, p.L3+icmp6QuoteMax)]
	m := EthernetLen + IPv6Len + ICMPv6Len + len(quote)
	e := Ethernet(buf)
	e.SetDst(Ethernet(frame).Src())
	e.SetSrc(srcMAC)
	binary.BigEndian.PutUint16(buf[ethType:], EtherTypeIPv6)
	ip := IPv6(buf[EthernetLen:m])
	putIPv6Header(ip, ProtoICMPv6, 64, src.As16(), p.Src.Addr().As16())
	c := ICMPv6(ip[IPv6Len:])
	c[icmp6Type], c[icmp6Code] = typ, code
	binary.BigEndian.PutUint32(c[icmp6Param:], param)
	copy(c[ICMPv6Len:], quote)
	c.SetChecksum(0)
	c.UpdateChecksum(ip)
	return m
}

// putIPv6Header writes a fixed IPv6 header into ip (which must end where
// the datagram ends): traffic class and flow label 0, payload length from
// len(ip).
func putIPv6Header(ip IPv6, proto, hopLimit uint8, src, dst [16]byte) {
	binary.BigEndian.PutUint32(ip[ipv6VerTC:], 6<<28)
	binary.BigEndian.PutUint16(ip[ipv6PayloadLen:], uint16(len(ip)-IPv6Len))
	ip[ipv6NextHeader], ip[ipv6HopLimit] = proto, hopLimit
	copy(ip[ipv6Src:ipv6Src+16], src[:])
	copy(ip[ipv6Dst:ipv6Dst+16], dst[:])
}
