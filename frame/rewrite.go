package frame

import (
	"encoding/binary"
	"net/netip"
)

// The NAT rewrites: one call per direction, patching every checksum the
// change touches by RFC 1624 instead of recomputing, so their cost does not
// depend on the payload (a 64 KB GSO frame costs what a SYN costs).

// SetSrc rewrites the source address and, for TCP and UDP, the source port
// of the IPv4 frame decoded into p, patches the IP header checksum and the
// L4 checksum, and updates p.Src. It does nothing unless p.Kind is
// KindIPv4; to must be an IPv4 address. The L4 checksum is patched so:
//   - complete checksum (TCP, UDP non-zero): RFC 1624 for address and port;
//   - UDP checksum 0: none was computed (RFC 768), it stays 0;
//   - p.Partial: the field holds the non-inverted pseudo-header sum, so
//     the address is patched with UpdatePartial32 and the port not at all
//     (the device or CompletePartial sums it later), as
//     inet_proto_csum_replace4/2 do for CHECKSUM_PARTIAL skbs;
//   - first fragment: patched like a whole datagram, which keeps the
//     checksum of the reassembled datagram right; later fragments carry no
//     L4 header and only the IP header changes (to's port is ignored);
//   - ICMP and other protocols: only the address changes (no pseudo header).
//
// For KindIPv6 (to must then be an IPv6 address) the same holds without
// an IP header checksum, and an ICMPv6 checksum, which covers the pseudo
// header (RFC 4443 §2.3), is patched for the address; p.Partial applies
// to TCP and UDP only.
func (p *Parsed) SetSrc(frame []byte, to netip.AddrPort) {
	switch p.Kind {
	case KindIPv4:
		p.setAddrPort(frame, ipv4Src, 0, p.Src, to)
	case KindIPv6:
		p.setAddrPort6(frame, ipv6Src, 0, p.Src, to)
	default:
		return
	}
	p.Src = p.portless(to)
}

// SetDst is SetSrc for the destination (the NAT forward rewrite: VIP:vport
// to RIP:rport).
func (p *Parsed) SetDst(frame []byte, to netip.AddrPort) {
	switch p.Kind {
	case KindIPv4:
		p.setAddrPort(frame, ipv4Dst, 2, p.Dst, to)
	case KindIPv6:
		p.setAddrPort6(frame, ipv6Dst, 2, p.Dst, to)
	default:
		return
	}
	p.Dst = p.portless(to)
}

// portless returns to, without the port when the datagram has no L4 ports.
func (p *Parsed) portless(to netip.AddrPort) netip.AddrPort {
	if p.hasPorts() {
		return to
	}
	return netip.AddrPortFrom(to.Addr(), 0)
}

// hasPorts reports whether the frame carries a TCP or UDP header.
func (p *Parsed) hasPorts() bool {
	return (p.Proto == ProtoTCP || p.Proto == ProtoUDP) && p.FragOffset == 0
}

// setAddrPort writes the address at IPv4 offset addrOff and the port at L4
// offset portOff, patching checksums as SetSrc describes.
func (p *Parsed) setAddrPort(frame []byte, addrOff, portOff int, from, to netip.AddrPort) {
	ip := frame[p.L3:p.End]
	a := ip[addrOff : addrOff+4 : addrOff+4]
	n := to.Addr().As4()
	// The address change as one ones' complement delta, shared by the IP
	// and the L4 checksum: ~m + m' for both words (RFC 1624 eqn. 3).
	d := uint32(^binary.BigEndian.Uint16(a)) + uint32(^binary.BigEndian.Uint16(a[2:])) +
		(uint32(n[0])<<8 | uint32(n[1])) + (uint32(n[2])<<8 | uint32(n[3]))
	copy(a, n[:])
	ipSum := ip[ipv4Sum : ipv4Sum+2 : ipv4Sum+2]
	binary.BigEndian.PutUint16(ipSum, ^Fold(uint32(^binary.BigEndian.Uint16(ipSum))+d))
	if !p.hasPorts() {
		return
	}
	sumOff := tcpSum
	if p.Proto == ProtoUDP {
		sumOff = udpSum
	}
	l4 := frame[p.L4 : p.L4+sumOff+2]
	binary.BigEndian.PutUint16(l4[portOff:], to.Port())
	sum := binary.BigEndian.Uint16(l4[sumOff:])
	switch {
	case p.Partial:
		sum = Fold(uint32(sum) + d)
	case p.Proto == ProtoUDP && sum == 0:
		return
	default:
		sum = ^Fold(uint32(^sum) + d + uint32(^from.Port()) + uint32(to.Port()))
		if sum == 0 && p.Proto == ProtoUDP {
			sum = 0xffff
		}
	}
	binary.BigEndian.PutUint16(l4[sumOff:], sum)
}

// setAddrPort6 is setAddrPort for IPv6: the address at IPv6 offset
// addrOff, the port at L4 offset portOff.
func (p *Parsed) setAddrPort6(frame []byte, addrOff, portOff int, from, to netip.AddrPort) {
	ip := frame[p.L3:p.End]
	a := ip[addrOff : addrOff+16 : addrOff+16]
	n := to.Addr().As16()
	d := addrDelta6(a, n)
	copy(a, n[:])
	if p.FragOffset != 0 {
		return
	}
	var sumOff int
	switch p.Proto {
	case ProtoTCP:
		sumOff = tcpSum
	case ProtoUDP:
		sumOff = udpSum
	case ProtoICMPv6:
		c := ICMPv6(frame[p.L4:p.End])
		c.SetChecksum(^Fold(uint32(^c.Checksum()) + d))
		return
	default:
		return
	}
	l4 := frame[p.L4 : p.L4+sumOff+2]
	binary.BigEndian.PutUint16(l4[portOff:], to.Port())
	sum := binary.BigEndian.Uint16(l4[sumOff:])
	switch {
	case p.Partial:
		sum = Fold(uint32(sum) + d)
	case p.Proto == ProtoUDP && sum == 0:
		return
	default:
		sum = ^Fold(uint32(^sum) + d + uint32(^from.Port()) + uint32(to.Port()))
		if sum == 0 && p.Proto == ProtoUDP {
			sum = 0xffff
		}
	}
	binary.BigEndian.PutUint16(l4[sumOff:], sum)
}

// SetInnerSrc rewrites the source address and port of the datagram quoted
// by the ICMP error decoded into p (it does nothing unless p.ICMPError), as IPVS's
// ip_vs_nat_icmp does when translating an error about a NATed flow. The
// quoted IP header checksum, the quoted TCP/UDP checksum when the quote
// holds it, and the ICMP checksum are patched incrementally; the port only
// when it is quoted. The outer addresses are changed with SetSrc/SetDst.
func (p *Parsed) SetInnerSrc(frame []byte, to netip.AddrPort) {
	if p.setInner(frame, ipv4Src, 0, p.InnerSrc, to) {
		p.InnerSrc = p.innerPortless(to)
	}
}

// SetInnerDst is SetInnerSrc for the quoted destination.
func (p *Parsed) SetInnerDst(frame []byte, to netip.AddrPort) {
	if p.setInner(frame, ipv4Dst, 2, p.InnerDst, to) {
		p.InnerDst = p.innerPortless(to)
	}
}

// setInner6 is setInner for an ICMPv6 error quoting an IPv6 datagram (to
// must be IPv6): the quoted header has no checksum; the quoted TCP/UDP
// checksum, when quoted, and the ICMPv6 checksum are patched, as IPVS's
// ip_vs_nat_icmp_v6. Every quoted word sits at an even offset of the
// ICMPv6 message: the quote starts at offset 8 and IPv6 headers are
// multiples of 8 bytes.
func (p *Parsed) setInner6(frame []byte, addrOff, portOff int, from, to netip.AddrPort) {
	c := ICMPv6(frame[p.L4:p.End])
	a := frame[p.InnerL3+addrOff : p.InnerL3+addrOff+16]
	n := to.Addr().As16()
	d := addrDelta6(a, n)
	copy(a, n[:])
	cs := uint32(^c.Checksum()) + d
	if p.InnerPorts {
		l4 := frame[p.InnerL4:p.End]
		op, np := from.Port(), to.Port()
		binary.BigEndian.PutUint16(l4[portOff:], np)
		cs += uint32(^op) + uint32(np)
		sumOff := tcpSum
		if p.InnerProto == ProtoUDP {
			sumOff = udpSum
		}
		if sumOff+2 <= len(l4) {
			old := binary.BigEndian.Uint16(l4[sumOff:])
			if old != 0 || p.InnerProto == ProtoTCP {
				s := ^Fold(uint32(^old) + d + uint32(^op) + uint32(np))
				if s == 0 && p.InnerProto == ProtoUDP {
					s = 0xffff
				}
				binary.BigEndian.PutUint16(l4[sumOff:], s)
				cs = uint32(Fold(cs)) + uint32(^old) + uint32(s)
			}
		}
	}
	c.SetChecksum(^Fold(cs))
}

// innerPortless returns to, without the port when none is quoted.
func (p *Parsed) innerPortless(to netip.AddrPort) netip.AddrPort {
	if p.InnerPorts {
		return to
	}
	return netip.AddrPortFrom(to.Addr(), 0)
}

// setInner rewrites one quoted address and port and reports whether p
// is an ICMP error it could rewrite. Every 16-bit word that
// changes sits at an even offset of the ICMP message (the quote starts at
// offset 8 and IPv4 headers are whole words), so each is patched into the
// ICMP checksum with Update16/Update32.
func (p *Parsed) setInner(frame []byte, addrOff, portOff int, from, to netip.AddrPort) bool {
	if !p.ICMPError {
		return false
	}
	if p.Kind == KindIPv6 {
		off := ipv6Src
		if addrOff == ipv4Dst {
			off = ipv6Dst
		}
		p.setInner6(frame, off, portOff, from, to)
		return true
	}
	if p.Kind != KindIPv4 {
		return false
	}
	c := ICMP(frame[p.L4:p.End])
	csum := c.Checksum()
	in := IPv4(frame[p.InnerL3:p.End])
	o, n := [4]byte(in[addrOff:addrOff+4]), to.Addr().As4()
	copy(in[addrOff:addrOff+4], n[:])
	csum = Update32(csum, o, n)
	oldSum := in.Checksum()
	newSum := Update32(oldSum, o, n)
	in.SetChecksum(newSum)
	csum = Update16(csum, oldSum, newSum)
	if p.InnerPorts {
		l4 := frame[p.InnerL4:p.End]
		op, np := from.Port(), to.Port()
		binary.BigEndian.PutUint16(l4[portOff:], np)
		csum = Update16(csum, op, np)
		sumOff := tcpSum
		if p.InnerProto == ProtoUDP {
			sumOff = udpSum
		}
		if sumOff+2 <= len(l4) {
			old := binary.BigEndian.Uint16(l4[sumOff:])
			if old != 0 || p.InnerProto == ProtoTCP {
				s := Update16(Update32(old, o, n), op, np)
				if s == 0 && p.InnerProto == ProtoUDP {
					s = 0xffff
				}
				binary.BigEndian.PutUint16(l4[sumOff:], s)
				csum = Update16(csum, old, s)
			}
		}
	}
	c.SetChecksum(csum)
	return true
}

// CompletePartial completes the CHECKSUM_PARTIAL L4 checksum of the TCP or
// UDP datagram decoded into p in software (see the package function
// CompletePartial) and clears p.Partial. It reports false for anything
// else, or when p.Partial is not set.
func (p *Parsed) CompletePartial(frame []byte) bool {
	if !p.IsIP() || !p.Partial || p.IsFragment() {
		return false
	}
	off := TCPChecksumOffset
	switch p.Proto {
	case ProtoTCP:
	case ProtoUDP:
		off = UDPChecksumOffset
	default:
		return false
	}
	if !CompletePartial(frame[:p.End], p.L4, off) {
		return false
	}
	p.Partial = false
	return true
}
