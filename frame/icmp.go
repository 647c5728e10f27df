package frame

import (
	"encoding/binary"
	"net/netip"
)

// ICMP types (RFC 792) used by a director.
const (
	ICMPEchoReply       uint8 = 0
	ICMPDestUnreachable uint8 = 3
	ICMPSourceQuench    uint8 = 4
	ICMPRedirect        uint8 = 5
	ICMPEcho            uint8 = 8
	ICMPTimeExceeded    uint8 = 11
	ICMPParamProblem    uint8 = 12
)

// ICMP destination-unreachable codes (RFC 792, RFC 1191).
const (
	ICMPNetUnreachable  uint8 = 0
	ICMPHostUnreachable uint8 = 1
	ICMPProtoUnreach    uint8 = 2
	ICMPPortUnreachable uint8 = 3
	ICMPFragNeeded      uint8 = 4 // "fragmentation needed and DF set", with next-hop MTU
)

// ICMPLen is the length of the ICMP header: type, code, checksum and the
// 4-byte rest of header (echo id/sequence, or unused/MTU for errors).
const ICMPLen = 8

const (
	icmpType = 0
	icmpCode = 1
	icmpSum  = 2
	icmpID   = 4 // echo identifier
	icmpSeq  = 6 // echo sequence number
	icmpMTU  = 6 // next-hop MTU of a fragmentation-needed error (RFC 1191 §4)
)

// ICMP is a view of an ICMP message: header and body. Call Valid before any
// accessor.
type ICMP []byte

// Valid reports whether c holds at least an ICMP header.
func (c ICMP) Valid() bool { return len(c) >= ICMPLen }

// Type returns the message type.
func (c ICMP) Type() uint8 { return c[icmpType] }

// Code returns the message code.
func (c ICMP) Code() uint8 { return c[icmpCode] }

// Checksum returns the checksum field.
func (c ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(c[icmpSum:]) }

// ID returns the identifier of an echo or echo reply.
func (c ICMP) ID() uint16 { return binary.BigEndian.Uint16(c[icmpID:]) }

// Seq returns the sequence number of an echo or echo reply.
func (c ICMP) Seq() uint16 { return binary.BigEndian.Uint16(c[icmpSeq:]) }

// MTU returns the next-hop MTU of a fragmentation-needed error (RFC 1191).
func (c ICMP) MTU() uint16 { return binary.BigEndian.Uint16(c[icmpMTU:]) }

// Body returns the bytes after the 8-byte header: echo data, or the quoted
// datagram of an error.
func (c ICMP) Body() []byte { return c[ICMPLen:] }

// IsError reports whether the type is an error that quotes the offending
// datagram's IP header and at least 8 bytes of its payload (RFC 792), as
// the kernel's icmp_is_err for the types IPVS translates.
func (c ICMP) IsError() bool {
	switch c.Type() {
	case ICMPDestUnreachable, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return false
}

// Inner returns the datagram quoted by an error. Check it with
// IPv4.ValidHeader: its total length describes the original datagram, not
// the quote.
func (c ICMP) Inner() IPv4 { return IPv4(c[ICMPLen:]) }

// SetChecksum stores sum in the checksum field.
func (c ICMP) SetChecksum(sum uint16) { binary.BigEndian.PutUint16(c[icmpSum:], sum) }

// ComputeChecksum returns the checksum over the whole message with the
// field taken as zero (RFC 792: no pseudo header). c must end where the IP
// datagram ends.
func (c ICMP) ComputeChecksum() uint16 {
	return ^Fold(Sum(c[icmpSum+2:], Sum(c[:icmpSum], 0)))
}

// ValidChecksum reports whether the checksum is correct.
func (c ICMP) ValidChecksum() bool { return Fold(Sum(c, 0)) == 0xffff }

// UpdateChecksum recomputes the checksum from scratch.
func (c ICMP) UpdateChecksum() { c.SetChecksum(c.ComputeChecksum()) }

// put16 stores v at the even offset off of the message and patches the
// ICMP checksum for it.
func (c ICMP) put16(off int, v uint16) {
	old := binary.BigEndian.Uint16(c[off:])
	binary.BigEndian.PutUint16(c[off:], v)
	c.SetChecksum(Update16(c.Checksum(), old, v))
}

// ToEchoReply turns the echo request in frame (decoded into p) into its
// reply in place, as the kernel's icmp_echo: MAC and IP addresses swapped,
// TTL set to ttl, type 0. Swapping addresses keeps both checksums; the TTL
// and type changes are patched (RFC 1624). It reports false and changes
// nothing unless p is an ICMP echo request that is not a fragment. An
// ICMPv6 echo request becomes an echo reply (type 129) the same way, with
// hop limit ttl; its checksum covers the pseudo header, which the swap
// leaves unchanged (RFC 4443 §4.2).
func ToEchoReply(frame []byte, p *Parsed, ttl uint8) bool {
	if p.Kind == KindIPv6 {
		return toEchoReply6(frame, p, ttl)
	}
	if p.Kind != KindIPv4 || p.Proto != ProtoICMP || p.ICMPType != ICMPEcho || p.IsFragment() {
		return false
	}
	e := Ethernet(frame)
	src, dst := e.Src(), e.Dst()
	e.SetSrc(dst)
	e.SetDst(src)
	ip := IPv4(frame[p.L3:p.End])
	var s, d [4]byte
	copy(s[:], ip[ipv4Src:ipv4Src+4])
	copy(d[:], ip[ipv4Dst:ipv4Dst+4])
	copy(ip[ipv4Src:ipv4Src+4], d[:])
	copy(ip[ipv4Dst:ipv4Dst+4], s[:])
	ip.SetTTL(ttl)
	ICMP(frame[p.L4:p.End]).put16(icmpType, uint16(ICMPEchoReply)<<8|uint16(p.ICMPCode))
	p.Src, p.Dst = p.Dst, p.Src
	p.ICMPType = ICMPEchoReply
	return true
}

// icmpQuoteMax bounds an error message to 576 bytes of IP datagram, as RFC
// 1812 §4.3.2.3 asks and the kernel's icmp_send does.
const icmpQuoteMax = 576 - IPv4MinLen - ICMPLen

// ICMPErrorMaxLen is the largest frame PutICMPError writes.
const ICMPErrorMaxLen = EthernetLen + 576

// PutICMPError writes into buf an ICMP error of type typ and code about
// the IPv4 datagram in frame (decoded into p), from src and srcMAC back to
// the datagram's source and the MAC it came from, and returns the frame
// length, or 0 when no error may be sent: p is not IPv4, or is itself an
// ICMP error, or a non-first fragment (RFC 1122 §3.2.2), or buf is shorter
// than ICMPErrorMaxLen. mtu is the next-hop MTU of ICMPFragNeeded and is
// ignored otherwise. The quote is the offending header and as much payload
// as fits in 576 bytes (RFC 1812 §4.3.2.3). The frame is untagged.
func PutICMPError(buf, frame []byte, p *Parsed, typ, code uint8, mtu uint16, src netip.Addr, srcMAC MAC) int {
	if p.Kind != KindIPv4 || p.ICMPError || p.FragOffset != 0 || len(buf) < ICMPErrorMaxLen || !src.Is4() {
		return 0
	}
	if p.Proto == ProtoICMP && ICMP(frame[p.L4:p.End]).IsError() {
		return 0 // an error whose quote was not decodable: still no error about an error
	}
	quote := frame[p.L3:min(p.End, p.L3+icmpQuoteMax)]
	m := EthernetLen + IPv4MinLen + ICMPLen + len(quote)
	e := Ethernet(buf)
	e.SetDst(Ethernet(frame).Src())
	e.SetSrc(srcMAC)
	binary.BigEndian.PutUint16(buf[ethType:], EtherTypeIPv4)
	ip := IPv4(buf[EthernetLen:m])
	ip[ipv4VerIHL], ip[ipv4TOS] = 0x45, 0xc0 // precedence "internetwork control", as icmp_send
	binary.BigEndian.PutUint16(ip[ipv4TotalLen:], uint16(len(ip)))
	binary.BigEndian.PutUint32(ip[ipv4ID:], 0) // ID 0, no flags: never fragmented at 576 bytes
	ip[ipv4TTL], ip[ipv4Proto] = 64, ProtoICMP
	s, d := src.As4(), p.Src.Addr().As4()
	copy(ip[ipv4Src:], s[:])
	copy(ip[ipv4Dst:], d[:])
	ip.UpdateChecksum()
	c := ICMP(ip[IPv4MinLen:])
	c[icmpType], c[icmpCode] = typ, code
	binary.BigEndian.PutUint32(c[icmpID:], 0)
	if typ == ICMPDestUnreachable && code == ICMPFragNeeded {
		binary.BigEndian.PutUint16(c[icmpMTU:], mtu)
	}
	copy(c[ICMPLen:], quote)
	c.UpdateChecksum()
	return m
}
