package frame_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

var (
	cip  = netip.MustParseAddrPort("198.51.100.7:40000")
	vip  = netip.MustParseAddrPort("192.0.2.10:80")
	rip  = netip.MustParseAddrPort("10.11.12.2:8080")
	nat  = netip.MustParseAddr("10.11.12.1")
	mac1 = frame.MAC{0x02, 0xaa, 0, 0, 0, 1}
)

// ipv4Want returns the Parsed that Decode should produce for an untagged
// IPv4 frame without IP options.
func ipv4Want(proto uint8, src, dst netip.AddrPort, l4len, end int) frame.Parsed {
	return frame.Parsed{Kind: frame.KindIPv4, L3: 14, L4: 34, Payload: 34 + l4len, End: end,
		Proto: proto, TTL: 64, Src: src, Dst: dst, FragID: 1}
}

// decodeCase is a frame and the Parsed that Decode must produce for it.
type decodeCase struct {
	name  string
	frame []byte
	want  frame.Parsed
}

// usableCases are frames Decode must accept, one of each shape.
func usableCases() []decodeCase {
	var tests []decodeCase
	add := func(name string, f []byte, want frame.Parsed) { tests = append(tests, decodeCase{name, f, want}) }
	syn := frametest.TCP(cip, vip, frame.SYN, nil)
	w := ipv4Want(frame.ProtoTCP, cip, vip, 20, 54)
	w.Flags = frame.SYN
	add("tcp syn", syn, w)

	f := frametest.TCP(cip, vip, frame.ACK|frame.PSH, []byte("GET /"), frametest.WithIPOptions(1), frametest.WithMSS(1460), frametest.WithTTL(9))
	w = frame.Parsed{Kind: frame.KindIPv4, L3: 14, L4: 14 + 28, Payload: 14 + 28 + 28, End: len(f),
		Proto: frame.ProtoTCP, TTL: 9, Src: cip, Dst: vip, FragID: 1, Flags: frame.ACK | frame.PSH}
	add("tcp with ip and tcp options", f, w)

	f = frametest.UDP(cip, vip, []byte("x"), frametest.WithVLAN(100), frametest.WithID(77))
	w = frame.Parsed{Kind: frame.KindIPv4, Tagged: true, VLAN: 100, L3: 18, L4: 38, Payload: 46, End: 18 + 29,
		Proto: frame.ProtoUDP, TTL: 64, Src: cip, Dst: vip, FragID: 77}
	add("vlan udp", f, w)

	f = frametest.UDP(cip, vip, nil, frametest.WithNoUDPChecksum())
	add("udp without checksum", f, ipv4Want(frame.ProtoUDP, cip, vip, 8, 42))

	// Ethernet padding to the 60-byte minimum is not part of the datagram.
	f = append(frametest.UDP(cip, vip, nil), make([]byte, 18)...)
	add("udp with ethernet padding", f, ipv4Want(frame.ProtoUDP, cip, vip, 8, 42))

	f = frametest.ICMPEcho(cip.Addr(), vip.Addr(), 1, 2, []byte("ping"))
	w = ipv4Want(frame.ProtoICMP, netip.AddrPortFrom(cip.Addr(), 0), netip.AddrPortFrom(vip.Addr(), 0), 8, 46)
	w.ICMPType = frame.ICMPEcho
	add("icmp echo", f, w)

	f = frametest.ICMPError(3, 4, rip.Addr(), frametest.TCP(vip, cip, frame.ACK, nil), frametest.WithMTU(1400))
	w = ipv4Want(frame.ProtoICMP, netip.AddrPortFrom(rip.Addr(), 0), netip.AddrPortFrom(vip.Addr(), 0), 8, len(f))
	w.ICMPType, w.ICMPCode = 3, 4
	w.ICMPError, w.InnerPorts, w.InnerProto, w.InnerL3, w.InnerL4 = true, true, frame.ProtoTCP, 42, 62
	w.InnerSrc, w.InnerDst = vip, cip
	add("icmp frag needed quoting tcp", f, w)

	f = frametest.ICMPError(11, 0, rip.Addr(), frametest.UDP(vip, cip, nil), frametest.WithQuote(2))
	w = ipv4Want(frame.ProtoICMP, netip.AddrPortFrom(rip.Addr(), 0), netip.AddrPortFrom(vip.Addr(), 0), 8, len(f))
	w.ICMPType = 11
	w.ICMPError, w.InnerProto, w.InnerL3, w.InnerL4 = true, frame.ProtoUDP, 42, 62
	w.InnerSrc, w.InnerDst = netip.AddrPortFrom(vip.Addr(), 0), netip.AddrPortFrom(cip.Addr(), 0)
	add("time exceeded quoting 2 bytes: no ports", f, w)

	f = frametest.ARPRequest(mac1, cip.Addr(), vip.Addr())
	add("arp request", f, frame.Parsed{Kind: frame.KindARP, L3: 14, L4: 42, Payload: 42, End: 42,
		Src: netip.AddrPortFrom(cip.Addr(), 0), Dst: netip.AddrPortFrom(vip.Addr(), 0), ARPOp: frame.ARPRequest})

	frags := frametest.Fragments(frametest.UDP(cip, vip, make([]byte, 4000), frametest.WithID(9)), 1500)
	w = ipv4Want(frame.ProtoUDP, cip, vip, 8, 1514)
	w.FragID, w.MoreFrags = 9, true
	add("first fragment", frags[0], w)
	w = ipv4Want(frame.ProtoUDP, netip.AddrPortFrom(cip.Addr(), 0), netip.AddrPortFrom(vip.Addr(), 0), 0, 1514)
	w.FragID, w.MoreFrags, w.FragOffset = 9, true, 1480
	add("middle fragment", frags[1], w)

	gso, _ := frametest.GSO(rip, cip, frame.ACK, make([]byte, 65160-54), 1448)
	w = ipv4Want(frame.ProtoTCP, rip, cip, 20, 65160)
	w.Flags = frame.ACK
	add("65,160-byte gso frame", gso, w)

	return tests
}

// otherCases are frames Decode must classify KindOther.
func otherCases() []decodeCase {
	var tests []decodeCase
	add := func(name string, f []byte, want frame.Parsed) { tests = append(tests, decodeCase{name, f, want}) }
	syn := frametest.TCP(cip, vip, frame.SYN, nil)
	arp := frametest.ARPRequest(mac1, cip.Addr(), vip.Addr())
	other := func(name string, f []byte, l3 int) {
		add(name, f, frame.Parsed{L3: l3, Tagged: l3 == 18, VLAN: map[bool]uint16{true: 5}[l3 == 18]})
	}
	mut := func(f []byte, fn func([]byte)) []byte { g := append([]byte(nil), f...); fn(g); return g }
	add("empty", nil, frame.Parsed{})
	add("short ethernet", syn[:13], frame.Parsed{})
	add("truncated vlan tag", frametest.UDP(cip, vip, nil, frametest.WithVLAN(5))[:17], frame.Parsed{})
	other("ipv6 ethertype", mut(syn, func(g []byte) { g[12], g[13] = 0x86, 0xdd }), 14)
	other("qinq", mut(frametest.UDP(cip, vip, nil, frametest.WithVLAN(5)), func(g []byte) { g[16], g[17] = 0x81, 0 }), 18)
	other("truncated ip", syn[:30], 14)
	other("version 6 in ipv4", mut(syn, func(g []byte) { g[14] = 0x65 }), 14)
	other("ihl 4", mut(syn, func(g []byte) { g[14] = 0x44 }), 14)
	other("ihl past end", mut(syn[:40], func(g []byte) { g[14] = 0x4f }), 14)
	other("total length past buffer", syn[:50], 14)
	other("total length below header", mut(syn, func(g []byte) { binary.BigEndian.PutUint16(g[16:], 19) }), 14)
	other("bad ip checksum", mut(syn, func(g []byte) { g[24] ^= 1 }), 14)
	other("tcp data offset 4", mut(syn, func(g []byte) { g[46] = 0x40 }), 14)
	other("tcp data offset past end", mut(syn, func(g []byte) { g[46] = 0x60 }), 14)
	other("udp length past datagram", mut(frametest.UDP(cip, vip, nil), func(g []byte) { binary.BigEndian.PutUint16(g[38:], 9) }), 14)
	other("udp length below 8", mut(frametest.UDP(cip, vip, nil), func(g []byte) { binary.BigEndian.PutUint16(g[38:], 7) }), 14)
	other("tiny first fragment", frametest.Fragments(frametest.TCP(cip, vip, frame.ACK, make([]byte, 100)), 36)[0], 14)
	other("arp for ipv6", mut(arp, func(g []byte) { g[14+5] = 16 }), 14)

	return tests
}

func TestDecode(t *testing.T) {
	for _, tt := range append(usableCases(), otherCases()...) {
		t.Run(tt.name, func(t *testing.T) {
			var p frame.Parsed
			p.Partial = true // Decode must reset everything, Partial included
			p.Decode(tt.frame)
			if p != tt.want {
				t.Errorf("Decode =\n%+v\nwant\n%+v", p, tt.want)
			}
		})
	}
}

// TestDecodeAgreesWithGopacket decodes random well-formed frames with
// Decode and with gopacket and compares what both report.
func TestDecodeAgreesWithGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var p frame.Parsed
	for i := 0; i < 2000; i++ {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(r.Uint32()), 2, 3, byte(r.Uint32())}), uint16(r.Uint32()))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(r.Uint32()), 0, 1}), uint16(r.Uint32()))
		opts := []frametest.Option{frametest.WithTTL(uint8(r.Uint32())), frametest.WithID(uint16(r.Uint32()))}
		if r.IntN(2) == 0 {
			opts = append(opts, frametest.WithVLAN(uint16(r.IntN(4095))))
		}
		if r.IntN(3) == 0 {
			opts = append(opts, frametest.WithIPOptions(1+r.IntN(8)))
		}
		payload := make([]byte, r.IntN(1400))
		var f []byte
		if r.IntN(2) == 0 {
			f = frametest.TCP(src, dst, frame.TCPFlags(r.Uint32()), payload, opts...)
		} else {
			f = frametest.UDP(src, dst, payload, opts...)
		}
		p.Decode(f)
		l := frametest.Decode(f)
		if p.Kind != frame.KindIPv4 || l.IP == nil {
			t.Fatalf("frame %d: Kind = %v, gopacket IP = %v (%v)", i, p.Kind, l.IP, l.Err)
		}
		frametest.Check(t, f, frametest.SrcAddr(p.Src.Addr()), frametest.DstAddr(p.Dst.Addr()),
			frametest.SrcPort(p.Src.Port()), frametest.DstPort(p.Dst.Port()), frametest.TTL(p.TTL),
			frametest.IPID(p.FragID), frametest.VLAN(p.VLAN), frametest.Payload(f[p.Payload:p.End]))
		if l.TCP != nil {
			frametest.Check(t, f, frametest.Flags(p.Flags))
		}
		if t.Failed() {
			t.Fatalf("frame %d disagrees", i)
		}
	}
}

// TestAddrFrom4DoesNotAllocate verifies what Parsed relies on: netip.Addr
// and AddrPort from a [4]byte live in the value, with no heap allocation.
func TestAddrFrom4DoesNotAllocate(t *testing.T) {
	b := []byte{10, 1, 2, 3}
	var sink netip.AddrPort
	if n := testing.AllocsPerRun(1000, func() {
		sink = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b)), 80)
	}); n != 0 {
		t.Errorf("netip.AddrFrom4 allocs = %v, want 0", n)
	}
	_ = sink
}
