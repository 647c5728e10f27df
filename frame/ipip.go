package frame

import (
	"encoding/binary"
	"net/netip"
)

// ProtoIPIP is the IP protocol number of IPv4-in-IPv4 encapsulation
// (RFC 2003), what IPVS's tunnel method (ipvsadm -i) sends.
const ProtoIPIP uint8 = 4

// IPIPOverhead is what IPIP encapsulation adds to a datagram: one outer
// IPv4 header without options. A datagram fits an egress of MTU m when it
// is at most m-IPIPOverhead bytes long.
const IPIPOverhead = IPv4MinLen

// IPIPInner is where EncapIPIP expects the inner datagram in its buffer:
// after the Ethernet header and the outer IPv4 header.
const IPIPInner = EthernetLen + IPIPOverhead

// EncapIPIP completes an IPIP frame around the IPv4 datagram of n bytes the
// caller has placed at b[IPIPInner:]. It writes the Ethernet header
// (dstMAC, srcMAC, IPv4) and the outer IPv4 header in front and returns
// the frame's length, IPIPInner+n.
//
// The outer header follows the kernel's ip_vs_tunnel_xmit and
// ip_vs_prepare_tunneled_skb (net/netfilter/ipvs/ip_vs_xmit.c):
//   - protocol 4, from src (the director's own address) to dst (the real server);
//   - TTL copied from the inner header;
//   - DF copied from the inner header (IPVS with pmtu_disc, the default);
//   - TOS copied from the inner header, except that an inner ECN of CE
//     becomes ECT(0) outside (INET_ECN_encapsulate, RFC 6040 normal mode);
//   - identification id, and a header checksum.
//
// An IPv6 datagram is carried the same way (IPVS tunnels an IPv6 service
// to an IPv4 real server, the one mix of families it allows): protocol 41,
// TTL from its hop limit, TOS from its traffic class, and DF clear, as
// ip_vs_prepare_tunneled_skb sets for an IPv6 skb.
//
// It writes nothing and returns 0 when b is shorter than IPIPInner+n, when
// b[IPIPInner:] does not start with a valid IPv4 (or IPv6) header whose
// datagram is n bytes long, or when the outer datagram would exceed 65535
// bytes. The inner datagram is not changed: decrementing its TTL is the
// caller's choice.
func EncapIPIP(b []byte, n int, dstMAC, srcMAC MAC, src, dst netip.Addr, id uint16) int {
	if n < IPv4MinLen || n > 0xffff-IPIPOverhead || len(b) < IPIPInner+n || !src.Is4() || !dst.Is4() {
		return 0
	}
	in := IPv4(b[IPIPInner : IPIPInner+n])
	if !in.ValidHeader() {
		return encap6in4(b, n, dstMAC, srcMAC, src, dst, id)
	}
	if in.TotalLen() != n {
		return 0
	}
	var frag uint16
	if in.DF() {
		frag = ipv4FlagDF
	}
	putIPIPHeaders(b, in, n, frag, dstMAC, srcMAC, src, dst, id)
	return IPIPInner + n
}

// putIPIPHeaders writes the Ethernet header and the outer IPv4 header of
// an IPIP frame carrying n bytes of (a fragment of) inner datagram in,
// with the flags and fragment offset field frag.
func putIPIPHeaders(b []byte, in IPv4, n int, frag uint16, dstMAC, srcMAC MAC, src, dst netip.Addr, id uint16) {
	e := Ethernet(b[:EthernetLen])
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	binary.BigEndian.PutUint16(e[ethType:], EtherTypeIPv4)

	out := IPv4(b[EthernetLen:IPIPInner])
	out[ipv4VerIHL] = 0x45
	out[ipv4TOS] = ecnEncapsulate(in.TOS())
	binary.BigEndian.PutUint16(out[ipv4TotalLen:], uint16(IPIPOverhead+n))
	binary.BigEndian.PutUint16(out[ipv4ID:], id)
	binary.BigEndian.PutUint16(out[ipv4Frag:], frag)
	out[ipv4TTL] = in.TTL()
	out[ipv4Proto] = ProtoIPIP
	s, d := src.As4(), dst.As4()
	copy(out[ipv4Src:ipv4Src+4], s[:])
	copy(out[ipv4Dst:ipv4Dst+4], d[:])
	binary.BigEndian.PutUint16(out[ipv4Sum:], 0)
	out.UpdateChecksum()
}

// IPIPFragments returns how many fragments FragmentIPIP makes of an inner
// datagram of n bytes for an egress MTU mtu, or 0 when the MTU leaves no
// room for data.
func IPIPFragments(n, mtu int) int {
	per := (mtu - IPIPOverhead) &^ 7
	if per <= 0 || n <= 0 {
		return 0
	}
	return (n + per - 1) / per
}

// FragmentIPIP is EncapIPIP for an inner datagram too big for the egress
// MTU mtu once encapsulated, whose DF flag is clear: as IPVS hands such a
// packet to ip_fragment (ip_vs_tunnel_xmit, then ip_finish_output), the
// outer datagram is cut into fragments of at most mtu bytes. Each carries
// a copy of the outer header with identification id, its offset and MF
// (all but the last), and a multiple of 8 bytes of the inner datagram (the
// last the rest); the real server reassembles them before decapsulating.
// DF is clear outside as inside.
//
// in is the complete inner IPv4 datagram (read only: it may stay in the
// receive ring). FragmentIPIP writes fragment i into bufs[i] and sets
// frames[i] to it, and returns the number of fragments, IPIPFragments(len(in),
// mtu). It writes nothing and returns 0 when in is not a valid datagram
// of its length or has DF set, when there are fewer buffers or frames
// than fragments, or when a buffer is shorter than EthernetLen+mtu.
func FragmentIPIP(frames, bufs [][]byte, in []byte, mtu int, dstMAC, srcMAC MAC, src, dst netip.Addr, id uint16) int {
	h := IPv4(in)
	n := len(in)
	k := IPIPFragments(n, mtu)
	if k == 0 || n < IPv4MinLen || !h.ValidHeader() || h.TotalLen() != n || h.DF() ||
		len(bufs) < k || len(frames) < k || !src.Is4() || !dst.Is4() {
		return 0
	}
	for _, b := range bufs[:k] {
		if len(b) < EthernetLen+mtu {
			return 0
		}
	}
	per := (mtu - IPIPOverhead) &^ 7
	for i := range k {
		off := i * per
		end := min(off+per, n)
		frag := uint16(off / 8)
		if end < n {
			frag |= ipv4FlagMF
		}
		b := bufs[i]
		putIPIPHeaders(b, h, end-off, frag, dstMAC, srcMAC, src, dst, id)
		copy(b[IPIPInner:], in[off:end])
		frames[i] = b[:IPIPInner+end-off]
	}
	return k
}

// ECN codepoints, the low two bits of the TOS byte (RFC 3168).
const (
	ecnMask = 0x03
	ecnECT0 = 0x02
	ecnCE   = 0x03
)

// ecnEncapsulate returns the outer TOS for an inner TOS, as the kernel's
// INET_ECN_encapsulate(inner, inner): DSCP and ECN copied, CE turned into
// ECT(0) so that the decapsulator does not see congestion twice.
func ecnEncapsulate(tos uint8) uint8 {
	if tos&ecnMask == ecnCE {
		return tos&^ecnMask | ecnECT0
	}
	return tos
}

// encap6in4 is EncapIPIP for an IPv6 datagram at b[IPIPInner:].
func encap6in4(b []byte, n int, dstMAC, srcMAC MAC, src, dst netip.Addr, id uint16) int {
	in := IPv6(b[IPIPInner : IPIPInner+n])
	if !in.ValidHeader() || in.TotalLen() != n {
		return 0
	}
	e := Ethernet(b[:EthernetLen])
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	binary.BigEndian.PutUint16(e[ethType:], EtherTypeIPv4)
	out := IPv4(b[EthernetLen:IPIPInner])
	out[ipv4VerIHL] = 0x45
	out[ipv4TOS] = ecnEncapsulate(in.TrafficClass())
	binary.BigEndian.PutUint16(out[ipv4TotalLen:], uint16(IPIPOverhead+n))
	binary.BigEndian.PutUint16(out[ipv4ID:], id)
	binary.BigEndian.PutUint16(out[ipv4Frag:], 0)
	out[ipv4TTL] = in.HopLimit()
	out[ipv4Proto] = ProtoIPv6
	s, d := src.As4(), dst.As4()
	copy(out[ipv4Src:ipv4Src+4], s[:])
	copy(out[ipv4Dst:ipv4Dst+4], d[:])
	binary.BigEndian.PutUint16(out[ipv4Sum:], 0)
	out.UpdateChecksum()
	return IPIPInner + n
}
