package frame

import (
	"encoding/binary"
	"net/netip"
)

// IP6IP6Overhead is what IPv6-in-IPv6 encapsulation (RFC 2473), IPVS's
// tunnel method for IPv6 services, adds to a datagram: one outer IPv6
// header without extension headers.
const IP6IP6Overhead = IPv6Len

// IP6IP6Inner is where EncapIP6IP6 expects the inner datagram in its
// buffer: after the Ethernet header and the outer IPv6 header.
const IP6IP6Inner = EthernetLen + IP6IP6Overhead

// EncapIP6IP6 completes an IPv6-in-IPv6 frame around the IPv6 datagram of
// n bytes the caller has placed at b[IP6IP6Inner:]. It writes the Ethernet
// header (dstMAC, srcMAC, IPv6) and the outer IPv6 header in front and
// returns the frame's length, IP6IP6Inner+n.
//
// The outer header follows the kernel's ip_vs_tunnel_xmit_v6
// (net/netfilter/ipvs/ip_vs_xmit.c):
//   - next header 41, from src (the director's own address) to dst (the
//     real server);
//   - hop limit copied from the inner header;
//   - traffic class copied from the inner header, except that an inner ECN
//     of CE becomes ECT(0) outside (INET_ECN_encapsulate, RFC 6040);
//   - flow label 0.
//
// An IPv4 datagram is carried the same way (an IPv4 service tunnelled to
// an IPv6 real server, which IPVS allows): next header 4, hop limit from
// its TTL, traffic class from its TOS.
//
// It writes nothing and returns 0 when b is shorter than IP6IP6Inner+n,
// when b[IP6IP6Inner:] does not start with an IPv6 (or IPv4) header whose
// datagram is n bytes long, when the outer payload would exceed 65535
// bytes, or when an address is not IPv6. The inner datagram is not
// changed: decrementing its hop limit is the caller's choice.
func EncapIP6IP6(b []byte, n int, dstMAC, srcMAC MAC, src, dst netip.Addr) int {
	if n < IPv4MinLen || n > 0xffff || len(b) < IP6IP6Inner+n || !src.Is6() || src.Is4In6() || !dst.Is6() || dst.Is4In6() {
		return 0
	}
	var next, hop, tc uint8
	if in := IPv6(b[IP6IP6Inner : IP6IP6Inner+n]); in.ValidHeader() && in.TotalLen() == n {
		next, hop, tc = ProtoIPv6, in.HopLimit(), in.TrafficClass()
	} else if in := IPv4(b[IP6IP6Inner : IP6IP6Inner+n]); in.ValidHeader() && in.TotalLen() == n {
		next, hop, tc = ProtoIPIP, in.TTL(), in.TOS()
	} else {
		return 0
	}
	e := Ethernet(b[:EthernetLen])
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	binary.BigEndian.PutUint16(e[ethType:], EtherTypeIPv6)
	out := IPv6(b[EthernetLen : IP6IP6Inner+n])
	putIPv6Header(out, next, hop, src.As16(), dst.As16())
	binary.BigEndian.PutUint32(out[ipv6VerTC:], 6<<28|uint32(ecnEncapsulate(tc))<<20)
	return IP6IP6Inner + n
}
