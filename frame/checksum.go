package frame

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) is the ones' complement of the ones'
// complement sum of 16-bit big-endian words. A partial sum is carried in a
// uint32, as the kernel's __wsum, and folded to 16 bits at the end. Because
// 2^16 ≡ 1 (mod 0xffff), words may be added 16, 32 or 64 bits at a time as
// long as they start at an even offset of the checksummed data.

// Sum adds b to the partial ones' complement sum initial and returns the new
// partial sum (not folded, not inverted). An odd trailing byte is padded with
// zero (RFC 1071), so only the last chunk of a chained sum may have odd length.
func Sum(b []byte, initial uint32) uint32 {
	ac := uint64(initial)
	var c uint64
	for len(b) >= 32 {
		ac, c = bits.Add64(ac, binary.BigEndian.Uint64(b[0:8]), 0)
		ac, c = bits.Add64(ac, binary.BigEndian.Uint64(b[8:16]), c)
		ac, c = bits.Add64(ac, binary.BigEndian.Uint64(b[16:24]), c)
		ac, c = bits.Add64(ac, binary.BigEndian.Uint64(b[24:32]), c)
		ac += c // cannot overflow: a carry leaves ac ≤ 2^64-2
		b = b[32:]
	}
	for len(b) >= 8 {
		ac, c = bits.Add64(ac, binary.BigEndian.Uint64(b[0:8]), 0)
		ac += c
		b = b[8:]
	}
	if len(b) >= 4 {
		ac, c = bits.Add64(ac, uint64(binary.BigEndian.Uint32(b)), 0)
		ac += c
		b = b[4:]
	}
	if len(b) >= 2 {
		ac, c = bits.Add64(ac, uint64(binary.BigEndian.Uint16(b)), 0)
		ac += c
		b = b[2:]
	}
	if len(b) == 1 {
		ac, c = bits.Add64(ac, uint64(b[0])<<8, 0)
		ac += c
	}
	// Fold 64 → 32 bits with end-around carry.
	s, c32 := bits.Add32(uint32(ac>>32), uint32(ac), 0)
	return s + c32
}

// Fold folds a partial sum to 16 bits with end-around carry. It does not
// invert: the result is what a CHECKSUM_PARTIAL field holds.
func Fold(s uint32) uint16 {
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// Checksum returns the Internet checksum of b added to the partial sum
// initial: the value to store in a checksum field that was zero while summing.
func Checksum(b []byte, initial uint32) uint16 {
	return ^Fold(Sum(b, initial))
}

// PseudoHeaderSum returns the partial sum of the IPv4 pseudo header used by
// TCP (RFC 793 §3.1) and UDP (RFC 768): source, destination, zero, protocol
// and the L4 length.
func PseudoHeaderSum(src, dst [4]byte, proto uint8, length int) uint32 {
	s := uint32(src[0])<<8 | uint32(src[1])
	s += uint32(src[2])<<8 | uint32(src[3])
	s += uint32(dst[0])<<8 | uint32(dst[1])
	s += uint32(dst[2])<<8 | uint32(dst[3])
	s += uint32(proto)
	s += uint32(length>>16) + uint32(length&0xffff)
	return s
}

// Update16 returns checksum sum patched for a 16-bit word of the covered data
// changing from old to new, by RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
// Unlike eqn. 2 it never produces 0xffff from a checksum that was not one.
func Update16(sum, old, new uint16) uint16 {
	s := uint32(^sum) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// Update32 is Update16 for a 32-bit field such as an IPv4 address, as the
// kernel's csum_replace4.
func Update32(sum uint16, old, new [4]byte) uint16 {
	s := uint32(^sum)
	s += uint32(^(uint16(old[0])<<8 | uint16(old[1])))
	s += uint32(^(uint16(old[2])<<8 | uint16(old[3])))
	s += uint32(new[0])<<8 | uint32(new[1])
	s += uint32(new[2])<<8 | uint32(new[3])
	return ^Fold(s)
}

// UpdatePartial16 patches a CHECKSUM_PARTIAL field for a change of a 16-bit
// word of the pseudo header. Such a field holds the folded, non-inverted
// pseudo-header sum (the kernel stores ~tcp_v4_check(len, saddr, daddr, 0)),
// and the device or skb_checksum_help adds the segment to it and inverts
// later, so the update is S' = S + ~m + m' with no inversions, as
// inet_proto_csum_replace4 does for CHECKSUM_PARTIAL skbs.
//
// Words of the L4 header itself (ports) are covered by the deferred sum and
// must NOT be patched into a partial field: the kernel passes pseudohdr=false
// for ports and leaves the field alone.
func UpdatePartial16(sum, old, new uint16) uint16 {
	return Fold(uint32(sum) + uint32(^old) + uint32(new))
}

// UpdatePartial32 is UpdatePartial16 for an IPv4 address of the pseudo header.
func UpdatePartial32(sum uint16, old, new [4]byte) uint16 {
	s := uint32(sum)
	s += uint32(^(uint16(old[0])<<8 | uint16(old[1])))
	s += uint32(^(uint16(old[2])<<8 | uint16(old[3])))
	s += uint32(new[0])<<8 | uint32(new[1])
	s += uint32(new[2])<<8 | uint32(new[3])
	return Fold(s)
}

// CompletePartial finishes a CHECKSUM_PARTIAL checksum in software, as the
// kernel's skb_checksum_help: it sums b[start:] (which includes the field,
// holding the pseudo-header sum) and stores the inverted result at
// start+offset. b must end where the IP datagram ends (no link padding);
// start and offset are the virtio-net csum_start and csum_offset, relative
// to the start of b. A zero result is stored as 0xffff (CSUM_MANGLED_0),
// which is also what UDP requires (RFC 768). It reports false and changes
// nothing if the offsets do not fit in b.
func CompletePartial(b []byte, start, offset int) bool {
	if start < 0 || offset < 0 || start > len(b) || offset > len(b)-start-2 {
		return false
	}
	c := Checksum(b[start:], 0)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[start+offset:], c)
	return true
}
