package sched

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"lvs/ipvs"
)

// goldenRatio32 is include/linux/hash.h's GOLDEN_RATIO_32.
const goldenRatio32 = ipvs.GoldenRatio32

// hash32 is the kernel's hash_32(val, bits): multiply by the golden ratio and
// keep the top bits. dh, sh and the lblc/lblcr caches index with it.
func hash32(val uint32, nbits uint) uint32 { return (val * goldenRatio32) >> (32 - nbits) }

// fold returns the 32-bit host-order key the kernel hashes an address by:
// ntohl(addr->ip) for IPv4, and for IPv6 the XOR of the four 32-bit words
// (as ip_vs_sh_hashkey, ip_vs_mh_hashkey, ip_vs_lblc_hashkey).
func fold(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	return binary.BigEndian.Uint32(b[0:]) ^ binary.BigEndian.Uint32(b[4:]) ^
		binary.BigEndian.Uint32(b[8:]) ^ binary.BigEndian.Uint32(b[12:])
}

// The SipHash initialisation constants ("somepseudorandomlygeneratedbytes").
const (
	sipC0 = ipvs.SipC0
	sipC1 = ipvs.SipC1
	sipC2 = ipvs.SipC2
	sipC3 = ipvs.SipC3
)

// sipRound is one SipRound (SIPHASH_PERMUTATION in include/linux/siphash.h).
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// hsiphash32 hashes the 4-byte value m (in host, little-endian, byte order)
// with key (k0, k1) as the kernel's hsiphash(&m, 4, key) does on 64-bit
// builds, where lib/siphash.c makes HalfSipHash-1-3 "actually be SipHash-1-3"
// (HSIPROUND = SIPROUND, 64-bit key words): one compression round, three
// finalisation rounds, the 64-bit result truncated to 32 bits. It is not
// checked against a running kernel; TestSipRound checks the round function
// against the SipHash-2-4 reference vector.
func hsiphash32(m uint32, k0, k1 uint64) uint32 {
	v0, v1, v2, v3 := sipC0^k0, sipC1^k1, sipC2^k0, sipC3^k1
	b := uint64(4)<<56 | uint64(m)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}
