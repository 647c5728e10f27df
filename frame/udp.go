package frame

import (
	"encoding/binary"
	"net/netip"
)

// UDPLen is the length of a UDP header.
const UDPLen = 8

const (
	udpSrcPort = 0
	udpDstPort = 2
	udpLength  = 4
	udpSum     = 6

	// UDPChecksumOffset is where the checksum sits in the UDP header: the
	// csum_offset of a CHECKSUM_PARTIAL UDP datagram.
	UDPChecksumOffset = udpSum
)

// UDP is a view of a UDP datagram: header and payload. Call Valid before
// any accessor.
type UDP []byte

// Valid reports whether u holds a UDP header whose length field is at
// least 8 and within u. The first fragment of a fragmented datagram fails
// this test: its length field counts every fragment.
func (u UDP) Valid() bool {
	if len(u) < UDPLen {
		return false
	}
	n := int(binary.BigEndian.Uint16(u[udpLength:]))
	return n >= UDPLen && n <= len(u)
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the length field: header plus payload.
func (u UDP) Length() int { return int(binary.BigEndian.Uint16(u[udpLength:])) }

// Checksum returns the checksum field; 0 means the sender computed none
// (RFC 768).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpSum:]) }

// Payload returns the data after the header up to the length field, or to
// the end of u when u is shorter (the first fragment of a datagram).
func (u UDP) Payload() []byte {
	end := min(u.Length(), len(u))
	if end < UDPLen {
		return u[UDPLen:UDPLen]
	}
	return u[UDPLen:end]
}

// SetChecksum stores sum in the checksum field.
func (u UDP) SetChecksum(sum uint16) { binary.BigEndian.PutUint16(u[udpSum:], sum) }

// patch applies a complete-checksum update. A zero field means "no
// checksum" and stays zero; an update that computes zero is sent as 0xffff
// (RFC 768; the kernel's CSUM_MANGLED_0).
func (u UDP) patch(sum uint16) {
	if sum == 0 {
		sum = 0xffff
	}
	u.SetChecksum(sum)
}

// SetSrcPort rewrites the source port and patches a complete checksum,
// leaving a zero (absent) checksum zero. For a CHECKSUM_PARTIAL datagram
// use Parsed.SetSrc.
func (u UDP) SetSrcPort(p uint16) {
	old := u.SrcPort()
	binary.BigEndian.PutUint16(u[udpSrcPort:], p)
	if c := u.Checksum(); c != 0 {
		u.patch(Update16(c, old, p))
	}
}

// SetDstPort rewrites the destination port and patches a complete
// checksum, leaving a zero (absent) checksum zero.
func (u UDP) SetDstPort(p uint16) {
	old := u.DstPort()
	binary.BigEndian.PutUint16(u[udpDstPort:], p)
	if c := u.Checksum(); c != 0 {
		u.patch(Update16(c, old, p))
	}
}

// UpdateAddr patches a complete checksum after an address of the pseudo
// header changed from old to new (both IPv4 or both IPv6), leaving a zero
// checksum zero.
func (u UDP) UpdateAddr(old, new netip.Addr) {
	c := u.Checksum()
	switch {
	case c == 0:
	case old.Is4():
		u.patch(Update32(c, old.As4(), new.As4()))
	default:
		o := old.As16()
		u.patch(^Fold(uint32(^c) + addrDelta6(o[:], new.As16())))
	}
}

// ComputeChecksum returns the checksum u should carry inside IPv4 header
// ip over the pseudo header and u[:Length()], never 0 (RFC 768).
func (u UDP) ComputeChecksum(ip IPv4) uint16 {
	n := u.Length()
	s := ip.PseudoHeaderSum(n)
	s = Sum(u[:udpSum], s)
	c := ^Fold(Sum(u[UDPLen:n], s))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// ValidChecksum reports whether the checksum of u inside ip is correct or
// absent (zero).
func (u UDP) ValidChecksum(ip IPv4) bool {
	if u.Checksum() == 0 {
		return true
	}
	n := u.Length()
	return Fold(Sum(u[:n], ip.PseudoHeaderSum(n))) == 0xffff
}

// UpdateChecksum recomputes the checksum from scratch.
func (u UDP) UpdateChecksum(ip IPv4) { u.SetChecksum(u.ComputeChecksum(ip)) }

// ComputeChecksum6 returns the checksum u should carry inside the IPv6
// datagram ip over the pseudo header and u[:Length()], never 0: over IPv6
// a UDP checksum is mandatory (RFC 8200 §8.1) and a computed 0 is sent as
// 0xffff.
func (u UDP) ComputeChecksum6(ip IPv6) uint16 {
	n := u.Length()
	s := ip.PseudoHeaderSum(ProtoUDP, n)
	s = Sum(u[:udpSum], s)
	c := ^Fold(Sum(u[UDPLen:n], s))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// ValidChecksum6 reports whether the checksum of u inside the IPv6
// datagram ip is correct. Unlike over IPv4, a zero checksum is not valid
// (RFC 8200 §8.1).
func (u UDP) ValidChecksum6(ip IPv6) bool {
	if u.Checksum() == 0 {
		return false
	}
	n := u.Length()
	return Fold(Sum(u[:n], ip.PseudoHeaderSum(ProtoUDP, n))) == 0xffff
}

// UpdateChecksum6 recomputes the checksum inside the IPv6 datagram ip.
func (u UDP) UpdateChecksum6(ip IPv6) { u.SetChecksum(u.ComputeChecksum6(ip)) }
