package frame

import (
	"encoding/binary"
	"net/netip"
)

// Kind classifies a decoded frame.
type Kind uint8

// Kinds of frame. Anything Decode cannot use (other EtherTypes, QinQ,
// malformed or truncated headers, a bad IPv4 header checksum, IPv6
// extension headers it does not walk past) is KindOther and is left to
// the kernel.
const (
	KindOther Kind = iota
	KindARP        // a valid Ethernet/IPv4 ARP packet at L3
	KindIPv4       // a valid IPv4 datagram at L3, and a valid L4 header at L4 when one is expected
	KindIPv6       // a valid IPv6 datagram at L3, its extension headers walked, and a valid L4 header at L4 when one is expected
)

// String returns "other", "arp", "ipv4" or "ipv6".
func (k Kind) String() string {
	switch k {
	case KindARP:
		return "arp"
	case KindIPv4:
		return "ipv4"
	case KindIPv6:
		return "ipv6"
	}
	return "other"
}

// Parsed is the single decode of one frame: offsets, addresses and the
// fields the dataplane branches on, with no copies of the frame. A worker
// owns one and reuses it for every frame; offsets index the frame given to
// the last Decode.
type Parsed struct {
	Kind   Kind
	Tagged bool   // the frame carries an 802.1Q tag
	VLAN   uint16 // VLAN ID of the tag, 0 when untagged

	// L3 is the offset of the ARP, IPv4 or IPv6 header. L4 is the offset
	// of the TCP/UDP/ICMP/ICMPv6 header, after any IPv6 extension headers
	// (of the fragment data for a non-first fragment). Payload is the
	// offset of the L4 payload (equal to L4 for protocols Decode does not
	// know and for non-first fragments). End is where the IP datagram ends
	// (L3 + total length, or L3 + 40 + payload length for IPv6):
	// frame[End:] is link padding. For ARP, L4, Payload and End are L3 +
	// ARPLen.
	L3, L4, Payload, End int

	Proto uint8    // IP protocol: for IPv6 the upper-layer header after the extension headers
	TTL   uint8    // IPv4 time to live or IPv6 hop limit as decoded (DecTTL does not update it)
	Flags TCPFlags // TCP control bits

	// Src and Dst are the IP addresses and the TCP/UDP ports (ports are 0
	// for other protocols and non-first fragments). For ARP they are the
	// sender and target protocol addresses, port 0.
	Src, Dst netip.AddrPort

	FragID     uint16 // IPv4 identification; the low 16 bits of FragID6 for IPv6
	FragID6    uint32 // IPv6 fragment identification (32 bits, RFC 8200 §4.5)
	FragOffset int    // fragment offset in bytes
	MoreFrags  bool   // IPv4 MF flag, or the IPv6 fragment header's M flag

	ICMPType, ICMPCode uint8

	// ICMPError is set for an ICMP error (IsError) whose quoted IPv4
	// header is valid, or an ICMPv6 error whose quoted IPv6 header is.
	// InnerL3/InnerL4 are the offsets of the quoted IP and L4 headers (for
	// IPv6 after the quoted extension headers that fit); InnerSrc/InnerDst
	// the quoted addresses and, when at least 4 bytes of a TCP/UDP header
	// are quoted, ports.
	ICMPError          bool
	InnerPorts         bool // the quote holds the TCP/UDP ports
	InnerProto         uint8
	InnerL3, InnerL4   int
	InnerSrc, InnerDst netip.AddrPort

	ARPOp uint16 // ARP operation for KindARP

	// FragHdr is the offset of the IPv6 fragment header, 0 when there is
	// none (and always for IPv4). It is a uint16, unlike the other
	// offsets, and sits here so that it fills padding: Parsed, which
	// Decode clears for every frame, keeps its IPv4-only size.
	FragHdr uint16

	// Partial says the L4 checksum field holds only the pseudo-header sum
	// (CHECKSUM_PARTIAL: TP_STATUS_CSUMNOTREADY on the ring, or
	// VNetNeedsCsum in the virtio-net header). Decode clears it; the
	// caller sets it, and SetSrc/SetDst patch accordingly.
	Partial bool
}

// IsFragment reports whether the datagram is an IP fragment.
func (p *Parsed) IsFragment() bool { return p.MoreFrags || p.FragOffset != 0 }

// IsFirstFragment reports whether the datagram is the first fragment of a
// fragmented datagram: the one carrying the L4 header.
func (p *Parsed) IsFirstFragment() bool { return p.MoreFrags && p.FragOffset == 0 }

// Decode decodes frame into p. It never fails, never allocates and never
// panics: a frame it cannot use becomes KindOther, with only Tagged, VLAN
// and L3 set. Nothing of frame is retained beyond the offsets. IPv4
// datagrams need a valid header checksum (checked here, as ip_rcv does);
// TCP/UDP checksums are not checked, since offloaded frames carry partial
// ones. A GSO frame over 64 KB (BIG TCP, total length 0) is KindOther.
func (p *Parsed) Decode(frame []byte) {
	*p = Parsed{}
	if len(frame) < EthernetLen {
		return
	}
	l3 := EthernetLen
	et := binary.BigEndian.Uint16(frame[ethType:])
	if et == EtherTypeVLAN {
		if len(frame) < EthernetLen+VLANTagLen {
			return
		}
		p.Tagged = true
		p.VLAN = binary.BigEndian.Uint16(frame[vlanTCI:]) & 0x0fff
		et = binary.BigEndian.Uint16(frame[vlanEth:])
		l3 += VLANTagLen
	}
	p.L3 = l3
	switch et {
	case EtherTypeIPv4:
		if !p.decodeIPv4(frame, l3) {
			*p = Parsed{Tagged: p.Tagged, VLAN: p.VLAN, L3: l3}
		}
	case EtherTypeIPv6:
		if !p.decodeIPv6(frame, l3) {
			*p = Parsed{Tagged: p.Tagged, VLAN: p.VLAN, L3: l3}
		}
	case EtherTypeARP:
		a := ARP(frame[l3:])
		if !a.Valid() {
			return
		}
		p.Kind = KindARP
		p.ARPOp = a.Op()
		p.Src = netip.AddrPortFrom(a.SenderIP(), 0)
		p.Dst = netip.AddrPortFrom(a.TargetIP(), 0)
		p.L4, p.Payload, p.End = l3+ARPLen, l3+ARPLen, l3+ARPLen
	}
}

// decodeIPv4 decodes the IPv4 datagram at frame[l3:] and its L4 header,
// and reports whether the frame is usable.
func (p *Parsed) decodeIPv4(frame []byte, l3 int) bool {
	ip := IPv4(frame[l3:])
	if !ip.Valid() || !ip.ValidChecksum() {
		return false // RFC 1812 §5.2.2: the kernel drops these; so do we, by not using them
	}
	p.End = l3 + ip.TotalLen()
	p.L4 = l3 + ip.HeaderLen()
	p.Payload = p.L4
	p.Proto = ip.Protocol()
	p.TTL = ip.TTL()
	fr := binary.BigEndian.Uint16(ip[ipv4Frag:])
	p.FragID = ip.ID()
	p.FragOffset = int(fr&ipv4OffsetMask) * 8
	p.MoreFrags = fr&ipv4FlagMF != 0
	src, dst := ip.Src(), ip.Dst()
	p.Src = netip.AddrPortFrom(src, 0)
	p.Dst = netip.AddrPortFrom(dst, 0)
	if p.FragOffset != 0 {
		p.Kind = KindIPv4 // no L4 header in a non-first fragment
		return true
	}
	l4 := frame[p.L4:p.End]
	switch p.Proto {
	case ProtoTCP:
		t := TCP(l4)
		if !t.Valid() {
			return false // includes tiny first fragments (RFC 1858)
		}
		p.Src = netip.AddrPortFrom(src, t.SrcPort())
		p.Dst = netip.AddrPortFrom(dst, t.DstPort())
		p.Flags = t.Flags()
		p.Payload = p.L4 + t.HeaderLen()
	case ProtoUDP:
		u := UDP(l4)
		if len(u) < UDPLen || !p.MoreFrags && !u.Valid() {
			return false
		}
		p.Src = netip.AddrPortFrom(src, u.SrcPort())
		p.Dst = netip.AddrPortFrom(dst, u.DstPort())
		p.Payload = p.L4 + UDPLen
	case ProtoICMP:
		c := ICMP(l4)
		if !c.Valid() {
			return false
		}
		p.ICMPType, p.ICMPCode = c.Type(), c.Code()
		p.Payload = p.L4 + ICMPLen
		if !p.MoreFrags && c.IsError() {
			p.decodeInner(frame, p.Payload)
		}
	}
	p.Kind = KindIPv4
	return true
}

// decodeInner decodes the datagram quoted by an ICMP error at frame[off:End].
func (p *Parsed) decodeInner(frame []byte, off int) {
	in := IPv4(frame[off:p.End])
	if !in.ValidHeader() {
		return
	}
	p.ICMPError = true
	p.InnerL3 = off
	p.InnerL4 = off + in.HeaderLen()
	p.InnerProto = in.Protocol()
	var sp, dp uint16
	if (p.InnerProto == ProtoTCP || p.InnerProto == ProtoUDP) && in.FragOffset() == 0 && p.InnerL4+4 <= p.End {
		p.InnerPorts = true
		sp = binary.BigEndian.Uint16(frame[p.InnerL4:])
		dp = binary.BigEndian.Uint16(frame[p.InnerL4+2:])
	}
	p.InnerSrc = netip.AddrPortFrom(in.Src(), sp)
	p.InnerDst = netip.AddrPortFrom(in.Dst(), dp)
}

// decodeIPv6 decodes the IPv6 datagram at frame[l3:], walks its extension
// headers and decodes its L4 header, and reports whether the frame is
// usable.
func (p *Parsed) decodeIPv6(frame []byte, l3 int) bool {
	ip := IPv6(frame[l3:])
	if !ip.Valid() {
		return false
	}
	p.End = l3 + ip.TotalLen()
	p.TTL = ip.HopLimit()
	w := walkIPv6(frame, l3, p.End)
	if w.bad || w.truncated {
		return false // RFC 7112: the first fragment holds the whole header chain
	}
	p.L4, p.Payload, p.Proto = w.l4, w.l4, w.proto
	p.FragHdr, p.FragID6, p.FragID = uint16(w.frag), w.fragID, uint16(w.fragID)
	p.FragOffset, p.MoreFrags = w.fragOff, w.more
	src, dst := ip.Src(), ip.Dst()
	p.Src = netip.AddrPortFrom(src, 0)
	p.Dst = netip.AddrPortFrom(dst, 0)
	p.Kind = KindIPv6
	if p.FragOffset != 0 {
		return true
	}
	l4 := frame[p.L4:p.End]
	switch p.Proto {
	case ProtoTCP:
		t := TCP(l4)
		if !t.Valid() {
			return false
		}
		p.Src = netip.AddrPortFrom(src, t.SrcPort())
		p.Dst = netip.AddrPortFrom(dst, t.DstPort())
		p.Flags = t.Flags()
		p.Payload = p.L4 + t.HeaderLen()
	case ProtoUDP:
		u := UDP(l4)
		if len(u) < UDPLen || !p.MoreFrags && !u.Valid() {
			return false
		}
		p.Src = netip.AddrPortFrom(src, u.SrcPort())
		p.Dst = netip.AddrPortFrom(dst, u.DstPort())
		p.Payload = p.L4 + UDPLen
	case ProtoICMPv6:
		c := ICMPv6(l4)
		if !c.Valid() {
			return false
		}
		p.ICMPType, p.ICMPCode = c.Type(), c.Code()
		p.Payload = p.L4 + ICMPv6Len
		if !p.MoreFrags && c.IsError() {
			p.decodeInner6(frame, p.Payload)
		}
	}
	return true
}

// decodeInner6 decodes the IPv6 datagram quoted by an ICMPv6 error at
// frame[off:End], walking the quoted extension headers that fit.
func (p *Parsed) decodeInner6(frame []byte, off int) {
	if !IPv6(frame[off:p.End]).ValidHeader() {
		return
	}
	in := IPv6(frame[off:p.End])
	w := walkIPv6(frame, off, p.End)
	p.ICMPError = true
	p.InnerL3 = off
	p.InnerL4 = w.l4
	p.InnerProto = w.proto
	var sp, dp uint16
	if !w.truncated && !w.bad && (w.proto == ProtoTCP || w.proto == ProtoUDP) && w.fragOff == 0 && w.l4+4 <= p.End {
		p.InnerPorts = true
		sp = binary.BigEndian.Uint16(frame[w.l4:])
		dp = binary.BigEndian.Uint16(frame[w.l4+2:])
	}
	p.InnerSrc = netip.AddrPortFrom(in.Src(), sp)
	p.InnerDst = netip.AddrPortFrom(in.Dst(), dp)
}

// Ethernet returns the Ethernet view of frame.
func (p *Parsed) Ethernet(frame []byte) Ethernet { return Ethernet(frame) }

// IPv4 returns the view of the IPv4 datagram, ending at End. Only for
// KindIPv4.
func (p *Parsed) IPv4(frame []byte) IPv4 { return IPv4(frame[p.L3:p.End]) }

// IPv6 returns the view of the IPv6 datagram, ending at End. Only for
// KindIPv6.
func (p *Parsed) IPv6(frame []byte) IPv6 { return IPv6(frame[p.L3:p.End]) }

// ICMPv6 returns the ICMPv6 view, ending at End. Only for KindIPv6 with
// Proto ProtoICMPv6 and FragOffset 0.
func (p *Parsed) ICMPv6(frame []byte) ICMPv6 { return ICMPv6(frame[p.L4:p.End]) }

// IsIP reports whether p is an IPv4 or IPv6 datagram.
func (p *Parsed) IsIP() bool { return p.Kind == KindIPv4 || p.Kind == KindIPv6 }

// ARP returns the ARP view. Only for KindARP.
func (p *Parsed) ARP(frame []byte) ARP { return ARP(frame[p.L3:p.End]) }

// TCP returns the TCP view, ending at End. Only for KindIPv4 or KindIPv6
// with Proto ProtoTCP and FragOffset 0.
func (p *Parsed) TCP(frame []byte) TCP { return TCP(frame[p.L4:p.End]) }

// UDP returns the UDP view, ending at End. Only for KindIPv4 or KindIPv6
// with Proto ProtoUDP and FragOffset 0; a first fragment's length field exceeds it.
func (p *Parsed) UDP(frame []byte) UDP { return UDP(frame[p.L4:p.End]) }

// ICMP returns the ICMP view, ending at End. Only for KindIPv4 with Proto
// ProtoICMP and FragOffset 0.
func (p *Parsed) ICMP(frame []byte) ICMP { return ICMP(frame[p.L4:p.End]) }
