package frame

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers (IANA protocol-numbers).
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// IPv4MinLen is the length of an IPv4 header without options (RFC 791).
const IPv4MinLen = 20

const (
	ipv4VerIHL   = 0
	ipv4TOS      = 1
	ipv4TotalLen = 2
	ipv4ID       = 4
	ipv4Frag     = 6 // flags (3 bits) and fragment offset (13 bits, ×8)
	ipv4TTL      = 8
	ipv4Proto    = 9
	ipv4Sum      = 10
	ipv4Src      = 12
	ipv4Dst      = 16

	ipv4FlagDF     = 0x4000
	ipv4FlagMF     = 0x2000
	ipv4OffsetMask = 0x1fff
)

// IPv4 is a view of an IPv4 header and what follows it inside a frame.
// Call Valid (a whole datagram) or ValidHeader (a header quoted in an ICMP
// error) before any accessor.
type IPv4 []byte

// ValidHeader reports whether h starts with a well-formed IPv4 header:
// version 4, IHL at least 5 and the header with its options inside h. It
// does not check the total length, which in an ICMP quote describes the
// original datagram, nor the checksum.
func (h IPv4) ValidHeader() bool {
	if len(h) < IPv4MinLen || h[ipv4VerIHL]>>4 != 4 {
		return false
	}
	ihl := int(h[ipv4VerIHL]&0x0f) * 4
	return ihl >= IPv4MinLen && ihl <= len(h)
}

// Valid reports whether h holds a whole IPv4 datagram: a valid header and
// a total length no shorter than the header and no longer than h. Bytes
// past the total length (Ethernet padding) are allowed. The checksum is not
// checked: see ValidChecksum.
func (h IPv4) Valid() bool {
	if !h.ValidHeader() {
		return false
	}
	tl := int(binary.BigEndian.Uint16(h[ipv4TotalLen:]))
	return tl >= h.HeaderLen() && tl <= len(h)
}

// HeaderLen returns the header length in bytes (IHL×4), options included.
func (h IPv4) HeaderLen() int { return int(h[ipv4VerIHL]&0x0f) * 4 }

// TOS returns the type-of-service (DSCP and ECN) byte.
func (h IPv4) TOS() uint8 { return h[ipv4TOS] }

// TotalLen returns the total length field: header plus payload.
func (h IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(h[ipv4TotalLen:])) }

// ID returns the identification field used to group fragments.
func (h IPv4) ID() uint16 { return binary.BigEndian.Uint16(h[ipv4ID:]) }

// DF reports whether the don't-fragment flag is set.
func (h IPv4) DF() bool { return binary.BigEndian.Uint16(h[ipv4Frag:])&ipv4FlagDF != 0 }

// MF reports whether the more-fragments flag is set.
func (h IPv4) MF() bool { return binary.BigEndian.Uint16(h[ipv4Frag:])&ipv4FlagMF != 0 }

// FragOffset returns the fragment offset in bytes (the field × 8).
func (h IPv4) FragOffset() int {
	return int(binary.BigEndian.Uint16(h[ipv4Frag:])&ipv4OffsetMask) * 8
}

// IsFragment reports whether h is a fragment: MF set or a non-zero offset
// (RFC 791; ip_is_fragment in the kernel).
func (h IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(h[ipv4Frag:])&(ipv4FlagMF|ipv4OffsetMask) != 0
}

// TTL returns the time to live.
func (h IPv4) TTL() uint8 { return h[ipv4TTL] }

// Protocol returns the protocol of the payload (ProtoTCP, ...).
func (h IPv4) Protocol() uint8 { return h[ipv4Proto] }

// Checksum returns the header checksum field.
func (h IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(h[ipv4Sum:]) }

// Src returns the source address.
func (h IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[ipv4Src : ipv4Src+4])) }

// Dst returns the destination address.
func (h IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[ipv4Dst : ipv4Dst+4])) }

// Options returns the option bytes between the fixed header and IHL×4.
func (h IPv4) Options() []byte { return h[IPv4MinLen:h.HeaderLen()] }

// Payload returns the bytes after the header up to the total length, or to
// the end of h when h is shorter (a quoted header in an ICMP error).
func (h IPv4) Payload() []byte {
	end := min(h.TotalLen(), len(h))
	hl := h.HeaderLen()
	if end < hl {
		return h[hl:hl]
	}
	return h[hl:end]
}

// ComputeChecksum returns the header checksum as it should be, computed over
// the header with the checksum field taken as zero.
func (h IPv4) ComputeChecksum() uint16 {
	hl := h.HeaderLen()
	s := Sum(h[:ipv4Sum], 0)
	return ^Fold(Sum(h[ipv4Src:hl], s))
}

// ValidChecksum reports whether the header checksum is correct: the sum
// over the header, field included, is all ones (RFC 1071 §4.1).
func (h IPv4) ValidChecksum() bool { return Fold(Sum(h[:h.HeaderLen()], 0)) == 0xffff }

// SetChecksum stores sum in the header checksum field.
func (h IPv4) SetChecksum(sum uint16) { binary.BigEndian.PutUint16(h[ipv4Sum:], sum) }

// UpdateChecksum recomputes the header checksum from scratch.
func (h IPv4) UpdateChecksum() { h.SetChecksum(h.ComputeChecksum()) }

// SetSrc rewrites the source address and patches the header checksum
// (RFC 1624). The L4 checksum covers the address through the pseudo header:
// patch it with TCP.UpdateAddr or UDP.UpdateAddr, or use Parsed.SetSrc.
func (h IPv4) SetSrc(a netip.Addr) {
	old, b := [4]byte(h[ipv4Src:ipv4Src+4]), a.As4()
	copy(h[ipv4Src:ipv4Src+4], b[:])
	h.SetChecksum(Update32(h.Checksum(), old, b))
}

// SetDst rewrites the destination address and patches the header checksum
// (RFC 1624). See SetSrc for the L4 checksum.
func (h IPv4) SetDst(a netip.Addr) {
	old, b := [4]byte(h[ipv4Dst:ipv4Dst+4]), a.As4()
	copy(h[ipv4Dst:ipv4Dst+4], b[:])
	h.SetChecksum(Update32(h.Checksum(), old, b))
}

// SetTTL sets the time to live and patches the header checksum.
func (h IPv4) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(h[ipv4TTL:])
	h[ipv4TTL] = ttl
	h.SetChecksum(Update16(h.Checksum(), old, binary.BigEndian.Uint16(h[ipv4TTL:])))
}

// DecTTL decrements the time to live as a forwarding router does and
// patches the checksum the way the kernel's ip_decrease_ttl does: the TTL
// is the high byte of its word, so the checksum grows by 0x0100 with an
// end-around carry. It returns false, leaving h unchanged, when the TTL is
// 0 or 1: the datagram must then be dropped with an ICMP time exceeded
// (RFC 1812 §5.3.1).
func (h IPv4) DecTTL() bool {
	if h[ipv4TTL] <= 1 {
		return false
	}
	h[ipv4TTL]--
	c := uint32(binary.BigEndian.Uint16(h[ipv4Sum:])) + 0x0100
	binary.BigEndian.PutUint16(h[ipv4Sum:], uint16(c+c>>16))
	return true
}

// SetID sets the identification field and patches the header checksum.
func (h IPv4) SetID(id uint16) {
	old := h.ID()
	binary.BigEndian.PutUint16(h[ipv4ID:], id)
	h.SetChecksum(Update16(h.Checksum(), old, id))
}

// SetTotalLen sets the total length field and patches the header checksum.
func (h IPv4) SetTotalLen(n int) {
	old := binary.BigEndian.Uint16(h[ipv4TotalLen:])
	binary.BigEndian.PutUint16(h[ipv4TotalLen:], uint16(n))
	h.SetChecksum(Update16(h.Checksum(), old, uint16(n)))
}

// PseudoHeaderSum returns the partial sum of the TCP/UDP pseudo header of
// h for an L4 segment of length bytes.
func (h IPv4) PseudoHeaderSum(length int) uint32 {
	return PseudoHeaderSum([4]byte(h[ipv4Src:ipv4Src+4]), [4]byte(h[ipv4Dst:ipv4Dst+4]), h.Protocol(), length)
}
