package fastpath

import "encoding/binary"

// IPv6 flows have a map of their own (the keys and the new addresses do
// not fit the IPv4 entry): a Key whose addresses are IPv6 goes there. Its
// value is the IPv4 value — same offsets, so the checks the two branches
// share read the same words — with the 16-byte addresses and the ports
// after it, contiguous as the frame carries them.

// key6Len is the size of a key in the IPv6 flow map: source and
// destination address, source and destination port, the protocol in a
// little-endian word.
const key6Len = 40

// The IPv6 value, after the IPv4 layout (valueLen bytes).
const (
	// valCsumFix takes valIPDiff's place (IPv6 has no header checksum):
	// what the program adds to skb->csum of a CHECKSUM_COMPLETE frame
	// after the L4 checksum update, which subtracts the pseudo-header
	// difference from it as if an IPv4 header checksum compensated for
	// the new addresses, and before kernels with BPF_F_IPV6 always did
	// so: the address difference back, and the hop limit's.
	valCsumFix = valIPDiff
	valAddrs6  = valueLen      // new source and destination address, then ports: frame offset 22
	value6Len  = valueLen + 40 // valAddrs6 + 36, padded to 8
)

// is6 reports whether k belongs in the IPv6 flow map.
func (k Key) is6() bool { return k.Src.Addr().Is6() }

// marshal6 writes an IPv6 key as the program builds it from a frame.
func (k Key) marshal6(b *[key6Len]byte) {
	s, d := k.Src.Addr().As16(), k.Dst.Addr().As16()
	copy(b[0:16], s[:])
	copy(b[16:32], d[:])
	binary.BigEndian.PutUint16(b[32:], k.Src.Port())
	binary.BigEndian.PutUint16(b[34:], k.Dst.Port())
	binary.LittleEndian.PutUint32(b[36:], uint32(k.Proto))
}

// hopLimitDiff is the checksum difference of decrementing the hop limit
// in its word (next header, hop limit): ~m + m' = 0xffff − 1 (RFC 1624).
const hopLimitDiff = 0xfffe

// marshal6 encodes the action for the IPv6 map entry of key k.
func (a Action) marshal6(k Key, b *[value6Len]byte) {
	*b = [value6Len]byte{}
	s, d := a.Src.Addr().As16(), a.Dst.Addr().As16()
	copy(b[valAddrs6:], s[:])
	copy(b[valAddrs6+16:], d[:])
	binary.BigEndian.PutUint16(b[valAddrs6+32:], a.Src.Port())
	binary.BigEndian.PutUint16(b[valAddrs6+34:], a.Dst.Port())
	ks, kd := k.Src.Addr().As16(), k.Dst.Addr().As16()
	fix := a.put(k, b[:], ks[:], kd[:], s[:], d[:])
	if a.DecTTL {
		fix.v += hopLimitDiff
	}
	binary.LittleEndian.PutUint32(b[valCsumFix:], fix.host())
}
