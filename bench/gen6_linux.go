//go:build linux

package bench

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// udpFrame6 builds an Ethernet/IPv6/UDP frame with a valid UDP checksum
// (mandatory over IPv6, RFC 8200 8.1), hop limit 64.
func udpFrame6(srcMAC, dstMAC net.HardwareAddr, src, dst netip.AddrPort, payload []byte) []byte {
	b := make([]byte, 14+40+8+len(payload))
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IPV6)
	ip := b[14:54]
	ip[0] = 0x60 // version 6, traffic class and flow label 0
	binary.BigEndian.PutUint16(ip[4:], uint16(8+len(payload)))
	ip[6], ip[7] = unix.IPPROTO_UDP, 64
	s16, d16 := src.Addr().As16(), dst.Addr().As16()
	copy(ip[8:24], s16[:])
	copy(ip[24:40], d16[:])
	u := b[54:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	binary.BigEndian.PutUint16(u[6:], udpChecksum6(sum(u, sum(ip[8:40], uint32(unix.IPPROTO_UDP)+uint32(len(u))))))
	return b
}

// udpChecksum6 is the UDP checksum field for the sum acc of the pseudo
// header and the datagram: a computed 0 is sent as all ones.
func udpChecksum6(acc uint32) uint16 {
	if c := ^fold(acc); c != 0 {
		return c
	}
	return 0xffff
}

// base6 sets f.udpBase from frame b: the UDP checksum's partial sum
// without the source address and port, which fill6 adds per flow.
func (f *flood) base6(b []byte) {
	ip, u := b[14:54], make([]byte, len(b)-54)
	copy(u, b[54:])
	clear(u[0:2])
	clear(u[6:8])
	f.udpBase = sum(u, sum(ip[24:40], uint32(unix.IPPROTO_UDP)+uint32(len(u))))
}

// fill6 is fill for IPv6 frames: source address, port and UDP checksum
// of the next n flows into frames[off:off+n].
func (f *flood) fill6(off, n int) {
	for _, b := range f.frames[off : off+n] {
		s := flowSource(f.src, f.next)
		f.next = (f.next + 1) % f.flows
		a := s.Addr().As16()
		copy(b[22:38], a[:])
		binary.BigEndian.PutUint16(b[54:], s.Port())
		binary.BigEndian.PutUint16(b[60:], udpChecksum6(sum(a[:], f.udpBase+uint32(s.Port()))))
	}
}
