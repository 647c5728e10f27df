package frame

import (
	"encoding/binary"
	"net/netip"
)

// Neighbour Discovery (RFC 4861) is IPv6's ARP: a neighbour solicitation
// (NS) asks, from the solicited-node multicast group of the target, for
// the link-layer address of an IPv6 address; a neighbour advertisement
// (NA) answers, or announces unsolicited with the override flag what a
// gratuitous ARP announces for IPv4.

// ND option types carrying a link-layer address (RFC 4861 §4.6.1).
const (
	NDOptSourceLinkAddr uint8 = 1
	NDOptTargetLinkAddr uint8 = 2
)

// NDLen is the length of an NS or NA message without options: ICMPv6
// header, 4 bytes of flags/reserved, the 16-byte target.
const NDLen = 24

// NDFrameLen is the length of the untagged frame the Put functions write:
// an NS or NA with one link-layer address option.
const NDFrameLen = EthernetLen + IPv6Len + NDLen + 8

// NDHopLimit is the hop limit every ND message is sent with and must
// arrive with (RFC 4861 §7.1.1): it proves the sender is on the link.
const NDHopLimit = 255

const (
	ndFlags  = 4 // R, S, O of an NA
	ndTarget = 8
)

// NAFlags are the flags of a neighbour advertisement (RFC 4861 §4.4).
type NAFlags uint8

// Neighbour advertisement flags, as they sit in the first flag byte.
const (
	NAOverride  NAFlags = 0x20 // replace a cached link-layer address
	NASolicited NAFlags = 0x40 // answers a solicitation
	NARouter    NAFlags = 0x80 // the sender is a router
)

// AllNodes is ff02::1, the all-nodes link-local multicast address, the
// destination of unsolicited advertisements.
var AllNodes = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 1})

// SolicitedNode returns the solicited-node multicast address of a:
// ff02::1:ff00:0/104 with the low 24 bits of a (RFC 4291 §2.7.1), to
// which neighbour solicitations for a are sent.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// MulticastMAC returns the Ethernet multicast address of the IPv6
// multicast address a: 33:33 and its low 32 bits (RFC 2464 §7).
func MulticastMAC(a netip.Addr) MAC {
	b := a.As16()
	return MAC{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// ND is a view of a neighbour solicitation or advertisement: the ICMPv6
// message with its options. Call Valid before any accessor.
type ND []byte

// Valid reports whether n is an NS or NA of code 0 with its target and
// well-formed options: each at least 8 bytes and inside n (RFC 4861
// §4.6: a zero-length option invalidates the message).
func (n ND) Valid() bool {
	if len(n) < NDLen || n[icmp6Code] != 0 || n[icmp6Type] != ICMPv6NeighborSolicit && n[icmp6Type] != ICMPv6NeighborAdvert {
		return false
	}
	for o := n[NDLen:]; len(o) > 0; {
		if len(o) < 8 || o[1] == 0 || int(o[1])*8 > len(o) {
			return false
		}
		o = o[int(o[1])*8:]
	}
	return true
}

// Type returns ICMPv6NeighborSolicit or ICMPv6NeighborAdvert.
func (n ND) Type() uint8 { return n[icmp6Type] }

// Target returns the target address.
func (n ND) Target() netip.Addr { return netip.AddrFrom16([16]byte(n[ndTarget : ndTarget+16])) }

// Flags returns the flags of an advertisement (0 for a solicitation).
func (n ND) Flags() NAFlags {
	if n.Type() != ICMPv6NeighborAdvert {
		return 0
	}
	return NAFlags(n[ndFlags]) & (NARouter | NASolicited | NAOverride)
}

// LinkAddr returns the link-layer address the message carries about its
// subject: the source link-layer option of a solicitation, the target
// link-layer option of an advertisement. It reports false when there is
// none (or it is not 6 bytes long, as on Ethernet).
func (n ND) LinkAddr() (MAC, bool) {
	want := NDOptSourceLinkAddr
	if n.Type() == ICMPv6NeighborAdvert {
		want = NDOptTargetLinkAddr
	}
	for o := n[NDLen:]; len(o) >= 8 && o[1] != 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
		if o[0] == want && o[1] == 1 {
			return MAC(o[2:8]), true
		}
	}
	return MAC{}, false
}

// NeighborMessage returns the NS or NA in frame (decoded into p) when it
// passes the validity checks of RFC 4861 §7.1.1 and §7.1.2: an
// unfragmented ICMPv6 message with hop limit 255, code 0, a valid
// checksum, well-formed options and a target that is not multicast; a
// solicitation from the unspecified address must go to a solicited-node
// address and carry no source link-layer option; an advertisement to a
// multicast address must not be solicited. Anything else is not ours to
// answer or learn from.
func NeighborMessage(frame []byte, p *Parsed) (ND, bool) {
	if p.Kind != KindIPv6 || p.Proto != ProtoICMPv6 || p.IsFragment() || p.TTL != NDHopLimit ||
		p.ICMPType != ICMPv6NeighborSolicit && p.ICMPType != ICMPv6NeighborAdvert {
		return nil, false
	}
	n := ND(frame[p.L4:p.End])
	if !n.Valid() || n.Target().IsMulticast() || !ICMPv6(n).ValidChecksum(p.IPv6(frame)) {
		return nil, false
	}
	dst := p.Dst.Addr()
	switch {
	case n.Type() == ICMPv6NeighborSolicit && p.Src.Addr().IsUnspecified():
		if dst != SolicitedNode(dst) {
			return nil, false
		}
		if _, ok := n.LinkAddr(); ok {
			return nil, false
		}
	case n.Type() == ICMPv6NeighborAdvert && dst.IsMulticast() && n.Flags()&NASolicited != 0:
		return nil, false
	}
	return n, true
}

// putND writes an untagged frame carrying an NS or NA with one
// link-layer address option of type opt holding optMAC, and returns
// NDFrameLen.
func putND(buf []byte, typ uint8, flags NAFlags, srcMAC, dstMAC MAC, src, dst, target netip.Addr, opt uint8, optMAC MAC) int {
	_ = buf[NDFrameLen-1]
	e := Ethernet(buf)
	e.SetDst(dstMAC)
	e.SetSrc(srcMAC)
	binary.BigEndian.PutUint16(buf[ethType:], EtherTypeIPv6)
	ip := IPv6(buf[EthernetLen:NDFrameLen])
	putIPv6Header(ip, ProtoICMPv6, NDHopLimit, src.As16(), dst.As16())
	n := ip[IPv6Len:]
	n[icmp6Type], n[icmp6Code] = typ, 0
	binary.BigEndian.PutUint32(n[ndFlags:], uint32(flags)<<24)
	t := target.As16()
	copy(n[ndTarget:], t[:])
	o := n[NDLen:]
	o[0], o[1] = opt, 1
	copy(o[2:8], optMAC[:])
	c := ICMPv6(n)
	c.SetChecksum(0)
	c.UpdateChecksum(ip)
	return NDFrameLen
}

// PutNeighborSolicit writes into buf a neighbour solicitation from
// mac/src for the link-layer address of target, sent to target's
// solicited-node multicast address and its MAC, with a source link-layer
// option, and returns its length (NDFrameLen): what resolves a real
// server's or a gateway's MAC (RFC 4861 §7.2.2). It panics if buf is
// shorter than NDFrameLen or an address is not IPv6.
func PutNeighborSolicit(buf []byte, mac MAC, src, target netip.Addr) int {
	must6(src, target)
	sn := SolicitedNode(target)
	return putND(buf, ICMPv6NeighborSolicit, 0, mac, MulticastMAC(sn), src, sn, target, NDOptSourceLinkAddr, mac)
}

// PutNeighborAdvert writes into buf the advertisement answering the
// solicitation ns in frame (decoded into p, ns from NeighborMessage) for
// an address of ours, ns.Target(), at mac, and returns its length
// (NDFrameLen). It follows RFC 4861 §7.2.4: sent from the target address
// with a target link-layer option; to the solicitation's source, at the
// MAC of its source link-layer option (or the frame's source MAC), with
// the solicited flag; or, when the solicitation came from the unspecified
// address (duplicate address detection), to all-nodes without it. flags
// adds NAOverride (an address that is not anycast, which a VIP is not)
// and NARouter (mac is a router's, as for the nat_router address). It
// returns 0 unless ns is a solicitation.
func PutNeighborAdvert(buf, frame []byte, p *Parsed, ns ND, mac MAC, flags NAFlags) int {
	if len(ns) < NDLen || ns.Type() != ICMPv6NeighborSolicit {
		return 0
	}
	flags &= NAOverride | NARouter
	dst, dstMAC := p.Src.Addr(), Ethernet(frame).Src()
	if dst.IsUnspecified() {
		dst, dstMAC = AllNodes, MulticastMAC(AllNodes)
	} else {
		flags |= NASolicited
		if m, ok := ns.LinkAddr(); ok {
			dstMAC = m
		}
	}
	t := ns.Target()
	return putND(buf, ICMPv6NeighborAdvert, flags, mac, dstMAC, t, dst, t, NDOptTargetLinkAddr, mac)
}

// PutUnsolicitedNA writes into buf an unsolicited neighbour advertisement
// that addr is at mac, to all-nodes (ff02::1, 33:33:00:00:00:01), with the
// override flag so that neighbours replace what they cached (RFC 4861
// §7.2.6), and returns its length: the IPv6 counterpart of a gratuitous
// ARP, sent when claiming an address. flags may add NARouter; the
// solicited flag is never set. It panics if buf is shorter than
// NDFrameLen or addr is not IPv6.
func PutUnsolicitedNA(buf []byte, mac MAC, addr netip.Addr, flags NAFlags) int {
	must6(addr, addr)
	flags = flags&NARouter | NAOverride
	return putND(buf, ICMPv6NeighborAdvert, flags, mac, MulticastMAC(AllNodes), addr, AllNodes, addr, NDOptTargetLinkAddr, mac)
}

// must6 panics unless both addresses are IPv6 (not IPv4-mapped): a
// caller passing an IPv4 address to an ND builder has a bug.
func must6(a, b netip.Addr) {
	if !a.Is6() || a.Is4In6() || !b.Is6() || b.Is4In6() {
		panic("frame: Neighbour Discovery address is not IPv6")
	}
}
