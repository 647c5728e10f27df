package frametest

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
)

// IPv6 frames. TCP and UDP build an IPv6 frame when given IPv6
// addresses; the builders here make what only IPv6 has.

// WithExt adds IPv6 extension headers, in order, between the IPv6 header
// and the upper layer: frame.ProtoHopOpts (a PadN-only hop-by-hop header,
// which gopacket places first whatever the order), frame.ProtoDstOpts (a
// PadN-only destination options header), frame.ProtoRouting (a type-0
// routing header of one address with no segments left, as a receiver
// sees it after the last hop), each 8 bytes, or 24 for routing.
func WithExt(protos ...uint8) Option {
	return func(c *config) { c.ext = append(c.ext, protos...) }
}

// ip6 returns the IPv6 layer and the extension layers for src → dst
// carrying proto, with the next-header chain filled in.
func (c *config) ip6(src, dst netip.Addr, proto layers.IPProtocol) []gopacket.SerializableLayer {
	ip := &layers.IPv6{Version: 6, HopLimit: c.ttl, TrafficClass: c.tos, NextHeader: proto,
		SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	out := []gopacket.SerializableLayer{ip}
	var rest []uint8
	for _, e := range c.ext {
		if e == frame.ProtoHopOpts {
			ip.HopByHop = &layers.IPv6HopByHop{}
			ip.HopByHop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
			continue
		}
		rest = append(rest, e)
	}
	next := func(i int) layers.IPProtocol {
		if i+1 < len(rest) {
			return layers.IPProtocol(rest[i+1])
		}
		return proto
	}
	if len(rest) > 0 {
		ip.NextHeader = layers.IPProtocol(rest[0])
	}
	if ip.HopByHop != nil {
		ip.HopByHop.NextHeader = ip.NextHeader
		ip.NextHeader = layers.IPProtocolIPv6HopByHop
	}
	for i, e := range rest {
		switch e {
		case frame.ProtoDstOpts:
			d := &layers.IPv6Destination{Options: []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}}
			d.NextHeader = next(i)
			out = append(out, d)
		case frame.ProtoRouting:
			r := &layers.IPv6Routing{RoutingType: 0, SegmentsLeft: 0, Reserved: make([]byte, 4),
				SourceRoutingIPs: []net.IP{net.IP(dst.AsSlice())}}
			r.NextHeader = next(i)
			out = append(out, r)
		default:
			panic("frametest: WithExt: unknown extension header")
		}
	}
	return out
}

// tcp6 builds a TCP/IPv6 frame (see TCP).
func (c *config) tcp6(src, dst netip.AddrPort, t *layers.TCP, payload []byte) []byte {
	ls := c.ip6(src.Addr(), dst.Addr(), layers.IPProtocolTCP)
	if err := t.SetNetworkLayerForChecksum(ls[0].(*layers.IPv6)); err != nil {
		panic(err)
	}
	return c.serialize(layers.EthernetTypeIPv6, append(ls, t, gopacket.Payload(payload))...)
}

// udp6 builds a UDP/IPv6 frame (see UDP).
func (c *config) udp6(src, dst netip.AddrPort, payload []byte) []byte {
	ls := c.ip6(src.Addr(), dst.Addr(), layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := u.SetNetworkLayerForChecksum(ls[0].(*layers.IPv6)); err != nil {
		panic(err)
	}
	f := c.serialize(layers.EthernetTypeIPv6, append(ls, u, gopacket.Payload(payload))...)
	if c.noUDPSum {
		binary.BigEndian.PutUint16(f[len(f)-len(payload)-2:], 0)
	}
	return f
}

// icmp6 serializes an ICMPv6 message of type typ/code whose body (after
// the 4-byte type, code and checksum) is body, from src to dst.
func (c *config) icmp6(src, dst netip.Addr, typ, code uint8, body ...gopacket.SerializableLayer) []byte {
	ls := c.ip6(src, dst, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	if err := ic.SetNetworkLayerForChecksum(ls[0].(*layers.IPv6)); err != nil {
		panic(err)
	}
	return c.serialize(layers.EthernetTypeIPv6, append(append(ls, ic), body...)...)
}

// ICMPv6Echo builds an ICMPv6 echo request from src to dst.
func ICMPv6Echo(src, dst netip.Addr, id, seq uint16, payload []byte, opts ...Option) []byte {
	c := newConfig(opts)
	return c.icmp6(src, dst, frame.ICMPv6Echo, 0, &layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}, gopacket.Payload(payload))
}

// ICMPv6Error builds an ICMPv6 error of type typ and code from `from` to
// the source of the IPv6 frame about, quoting as much of about's datagram
// as fits in 1280 bytes (RFC 4443 §2.4 (c)), or, with WithQuote, the
// fixed header and that many bytes after it. WithMTU sets the MTU of a
// packet too big. The Ethernet addresses are the options'.
func ICMPv6Error(typ, code uint8, from netip.Addr, about []byte, opts ...Option) []byte {
	c := newConfig(append([]Option{WithQuote(frame.IPv6MinMTU)}, opts...))
	l3 := l3Offset(about)
	end := l3 + 40 + int(binary.BigEndian.Uint16(about[l3+4:]))
	quote := about[l3:min(end, l3+40+c.quote, l3+frame.IPv6MinMTU-48)]
	src := netip.AddrFrom16([16]byte(about[l3+8 : l3+24]))
	var param [4]byte
	binary.BigEndian.PutUint32(param[:], uint32(c.mtu))
	return c.icmp6(from, src, typ, code, gopacket.Payload(append(param[:], quote...)))
}

// NeighborSolicit builds a neighbour solicitation from mac/src for target,
// to target's solicited-node address and MAC, with a source link-layer
// option unless src is unspecified, and hop limit 255.
func NeighborSolicit(mac frame.MAC, src, target netip.Addr, opts ...Option) []byte {
	sn := frame.SolicitedNode(target)
	c := newConfig(append([]Option{WithSrcMAC(mac), WithDstMAC(frame.MulticastMAC(sn)), WithTTL(255)}, opts...))
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.IP(target.AsSlice())}
	if !src.IsUnspecified() {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: append([]byte(nil), mac[:]...)}}
	}
	return c.icmp6(src, sn, frame.ICMPv6NeighborSolicit, 0, ns)
}

// NeighborAdvert builds a neighbour advertisement that target is at mac,
// from mac/target to toMAC/to with flags and a target link-layer option,
// and hop limit 255.
func NeighborAdvert(mac frame.MAC, target netip.Addr, toMAC frame.MAC, to netip.Addr, flags frame.NAFlags, opts ...Option) []byte {
	c := newConfig(append([]Option{WithSrcMAC(mac), WithDstMAC(toMAC), WithTTL(255)}, opts...))
	na := &layers.ICMPv6NeighborAdvertisement{Flags: uint8(flags), TargetAddress: net.IP(target.AsSlice()),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: append([]byte(nil), mac[:]...)}}}
	return c.icmp6(target, to, frame.ICMPv6NeighborAdvert, 0, na)
}

// Fragments6 cuts the unfragmented IPv6 frame f into fragments whose IPv6
// datagrams are at most mtu bytes (RFC 8200 §4.5): the unfragmentable
// part (the IPv6 header and a hop-by-hop header, if any) is copied into
// each, followed by a fragment header with identification id, and
// offsets are multiples of 8 with M set on all but the last.
func Fragments6(f []byte, mtu int, id uint32) [][]byte {
	l3 := l3Offset(f)
	end := l3 + 40 + int(binary.BigEndian.Uint16(f[l3+4:]))
	unfrag := l3 + 40
	nhOff := l3 + 6
	if f[nhOff] == frame.ProtoHopOpts {
		nhOff = unfrag
		unfrag += (int(f[unfrag+1]) + 1) * 8
	}
	first := f[nhOff]
	data := f[unfrag:end]
	step := (mtu - (unfrag - l3) - 8) &^ 7
	if step <= 0 {
		panic("frametest: Fragments6: mtu too small")
	}
	var out [][]byte
	for off := 0; off < len(data); off += step {
		n := min(step, len(data)-off)
		g := make([]byte, unfrag+8+n)
		copy(g, f[:unfrag])
		g[nhOff] = frame.ProtoFragment
		fh := g[unfrag : unfrag+8]
		fh[0], fh[1] = first, 0
		fo := uint16(off)
		if off+n < len(data) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], id)
		copy(g[unfrag+8:], data[off:off+n])
		binary.BigEndian.PutUint16(g[l3+4:], uint16(len(g)-l3-40))
		out = append(out, g)
	}
	return out
}
