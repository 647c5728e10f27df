package frametest

import (
	"encoding/binary"
	"net/netip"

	"lvs/frame"
)

// onesSum is a deliberately plain RFC 1071 sum, two bytes at a time,
// independent of frame.Sum.
func onesSum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = s&0xffff + s>>16
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = s&0xffff + s>>16
	}
	return s
}

// pseudoSum is the plain sum of the IPv4 pseudo header of the datagram at
// f[l3:] for an L4 segment of n bytes.
func pseudoSum(f []byte, l3, n int) uint32 {
	s := onesSum(f[l3+12:l3+20], 0)
	s = onesSum([]byte{0, f[l3+9], byte(n >> 8), byte(n)}, s)
	return s
}

// Fragments cuts the unfragmented IPv4 frame f into fragments whose IP
// datagrams are at most mtu bytes (RFC 791 §3.2): every fragment carries
// the Ethernet header and a copy of the IP header with all its options
// (simpler than RFC 791, which copies only options with the copied flag),
// offsets are multiples of 8, MF is set on all but the last, and each
// header checksum is recomputed.
func Fragments(f []byte, mtu int) [][]byte {
	l3 := l3Offset(f)
	ihl := int(f[l3]&0x0f) * 4
	end := l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
	data := f[l3+ihl : end]
	step := (mtu - ihl) &^ 7
	if step <= 0 {
		panic("frametest: Fragments: mtu too small")
	}
	var out [][]byte
	for off := 0; off < len(data); off += step {
		n := min(step, len(data)-off)
		g := make([]byte, l3+ihl+n)
		copy(g, f[:l3+ihl])
		copy(g[l3+ihl:], data[off:off+n])
		binary.BigEndian.PutUint16(g[l3+2:], uint16(ihl+n))
		fl := binary.BigEndian.Uint16(f[l3+6:]) & 0x4000
		fl |= uint16(off / 8)
		if off+n < len(data) {
			fl |= 0x2000
		}
		binary.BigEndian.PutUint16(g[l3+6:], fl)
		g[l3+10], g[l3+11] = 0, 0
		binary.BigEndian.PutUint16(g[l3+10:], ^uint16(onesSum(g[l3:l3+ihl], 0)))
		out = append(out, g)
	}
	return out
}

// GSO builds a TCP super-frame as a sender with TSO/GSO and checksum
// offload hands it to a veth (DESIGN.md, "Frames as they really arrive"):
// one frame with all of payload, whatever its size, and a CHECKSUM_PARTIAL
// TCP checksum field holding the folded, non-inverted pseudo-header sum.
// It also returns the matching virtio-net header (NEEDS_CSUM, GSO TCPv4 or TCPv6,
// gso_size mss, csum_start at the TCP header, csum_offset 16), little
// endian, built by hand rather than with frame.VNetHdr.
func GSO(src, dst netip.AddrPort, flags frame.TCPFlags, payload []byte, mss int, opts ...Option) (f, vnet []byte) {
	f = TCP(src, dst, flags, payload, opts...)
	if src.Addr().Is6() {
		return gso6(f, mss)
	}
	l3, l4 := l3Offset(f), l4Offset(f)
	end := l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
	binary.BigEndian.PutUint16(f[l4+16:], uint16(pseudoSum(f, l3, end-l4)))
	thl := int(f[l4+12]>>4) * 4
	vnet = make([]byte, frame.VNetHdrLen)
	vnet[0], vnet[1] = 1, 1
	binary.LittleEndian.PutUint16(vnet[2:], uint16(l4+thl))
	binary.LittleEndian.PutUint16(vnet[4:], uint16(mss))
	binary.LittleEndian.PutUint16(vnet[6:], uint16(l4))
	binary.LittleEndian.PutUint16(vnet[8:], 16)
	return f, vnet
}

// MakePartial turns the complete TCP or UDP checksum of the unfragmented
// IPv4 or IPv6 frame f into a CHECKSUM_PARTIAL one, in place, and returns f.
func MakePartial(f []byte) []byte {
	if f[l3Offset(f)]>>4 == 6 {
		return makePartial6(f)
	}
	l3, l4 := l3Offset(f), l4Offset(f)
	end := l3 + int(binary.BigEndian.Uint16(f[l3+2:]))
	off := 16
	if f[l3+9] == 17 {
		off = 6
	}
	binary.BigEndian.PutUint16(f[l4+off:], uint16(pseudoSum(f, l3, end-l4)))
	return f
}

// makePartial6 is MakePartial for IPv6.
func makePartial6(f []byte) []byte {
	l3 := l3Offset(f)
	d := f[l3 : l3+40+int(binary.BigEndian.Uint16(f[l3+4:]))]
	proto, off, ok := walk6(d)
	if !ok || proto != 6 && proto != 17 {
		panic("frametest: MakePartial: no TCP/UDP header")
	}
	sumOff := 16
	if proto == 17 {
		sumOff = 6
	}
	n := len(d) - off
	s := onesSum(d[8:40], 0)
	s = onesSum([]byte{0, 0, byte(n >> 8), byte(n), 0, 0, 0, proto}, s)
	binary.BigEndian.PutUint16(d[off+sumOff:], uint16(s))
	return f
}

// gso6 is GSO for the TCP/IPv6 frame f: a partial checksum and a
// virtio-net header of GSO type TCPv6 (4).
func gso6(f []byte, mss int) (_, vnet []byte) {
	makePartial6(f)
	l3 := l3Offset(f)
	_, off, _ := walk6(f[l3:])
	l4 := l3 + off
	thl := int(f[l4+12]>>4) * 4
	vnet = make([]byte, frame.VNetHdrLen)
	vnet[0], vnet[1] = 1, 4
	binary.LittleEndian.PutUint16(vnet[2:], uint16(l4+thl))
	binary.LittleEndian.PutUint16(vnet[4:], uint16(mss))
	binary.LittleEndian.PutUint16(vnet[6:], uint16(l4))
	binary.LittleEndian.PutUint16(vnet[8:], 16)
	return f, vnet
}
