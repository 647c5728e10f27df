package frame_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"lvs/frame"
	"lvs/internal/frametest"
)

var (
	cip6 = netip.MustParseAddrPort("[2001:db8:c::7]:40000")
	vip6 = netip.MustParseAddrPort("[2001:db8:1::10]:80")
	rip6 = netip.MustParseAddrPort("[fd00:11:12::2]:8080")
	nat6 = netip.MustParseAddr("fd00:11:12::1")
)

// noPort returns a's address with port 0.
func noPort(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr(), 0) }

// ipv6Want returns the Parsed that Decode should produce for an untagged
// IPv6 frame whose upper layer starts at l4.
func ipv6Want(proto uint8, src, dst netip.AddrPort, l4, l4len, end int) frame.Parsed {
	return frame.Parsed{Kind: frame.KindIPv6, L3: 14, L4: l4, Payload: l4 + l4len, End: end,
		Proto: proto, TTL: 64, Src: src, Dst: dst}
}

// usableCases6 are IPv6 frames Decode must accept, one of each shape.
func usableCases6() []decodeCase {
	var tests []decodeCase
	add := func(name string, f []byte, want frame.Parsed) { tests = append(tests, decodeCase{name, f, want}) }

	w := ipv6Want(frame.ProtoTCP, cip6, vip6, 54, 20, 74)
	w.Flags = frame.SYN
	add("tcp syn", frametest.TCP(cip6, vip6, frame.SYN, nil), w)

	f := frametest.TCP(cip6, vip6, frame.ACK|frame.PSH, []byte("GET /"), frametest.WithMSS(1460), frametest.WithTTL(9),
		frametest.WithExt(frame.ProtoHopOpts, frame.ProtoDstOpts, frame.ProtoRouting))
	w = ipv6Want(frame.ProtoTCP, cip6, vip6, 54+8+8+24, 28, len(f))
	w.TTL, w.Flags = 9, frame.ACK|frame.PSH
	add("tcp after hop-by-hop, destination options and routing", f, w)

	f = frametest.UDP(cip6, vip6, []byte("x"), frametest.WithVLAN(100))
	w = ipv6Want(frame.ProtoUDP, cip6, vip6, 58, 8, 18+40+9)
	w.Tagged, w.VLAN, w.L3 = true, 100, 18
	add("vlan udp", f, w)

	f = append(frametest.UDP(cip6, vip6, nil), make([]byte, 6)...)
	add("udp with ethernet padding", f, ipv6Want(frame.ProtoUDP, cip6, vip6, 54, 8, 62))

	f = frametest.ICMPv6Echo(cip6.Addr(), vip6.Addr(), 1, 2, []byte("ping"))
	w = ipv6Want(frame.ProtoICMPv6, noPort(cip6), noPort(vip6), 54, 8, 66)
	w.ICMPType = frame.ICMPv6Echo
	add("icmpv6 echo", f, w)

	f = frametest.ICMPv6Error(frame.ICMPv6PacketTooBig, 0, rip6.Addr(), frametest.TCP(vip6, cip6, frame.ACK, make([]byte, 1400)), frametest.WithMTU(1280))
	w = ipv6Want(frame.ProtoICMPv6, noPort(rip6), noPort(vip6), 54, 8, 14+1280)
	w.ICMPType = frame.ICMPv6PacketTooBig
	w.ICMPError, w.InnerPorts, w.InnerProto, w.InnerL3, w.InnerL4 = true, true, frame.ProtoTCP, 62, 102
	w.InnerSrc, w.InnerDst = vip6, cip6
	add("packet too big quoting tcp", f, w)

	f = frametest.ICMPv6Error(frame.ICMPv6TimeExceeded, 0, rip6.Addr(), frametest.UDP(vip6, cip6, nil, frametest.WithExt(frame.ProtoDstOpts)), frametest.WithQuote(10))
	w = ipv6Want(frame.ProtoICMPv6, noPort(rip6), noPort(vip6), 54, 8, 62+50)
	w.ICMPType = frame.ICMPv6TimeExceeded
	w.ICMPError, w.InnerProto, w.InnerL3, w.InnerL4 = true, frame.ProtoUDP, 62, 110
	w.InnerSrc, w.InnerDst = noPort(vip6), noPort(cip6)
	add("time exceeded quoting 2 bytes past the options: no ports", f, w)

	f = frametest.NeighborSolicit(mac1, cip6.Addr(), vip6.Addr())
	w = ipv6Want(frame.ProtoICMPv6, noPort(cip6), netip.AddrPortFrom(frame.SolicitedNode(vip6.Addr()), 0), 54, 8, 86)
	w.TTL, w.ICMPType = 255, frame.ICMPv6NeighborSolicit
	add("neighbour solicitation", f, w)

	frags := frametest.Fragments6(frametest.UDP(cip6, vip6, make([]byte, 3000)), 1280, 0x12345)
	w = ipv6Want(frame.ProtoUDP, cip6, vip6, 62, 8, 14+1280)
	w.FragHdr, w.FragID6, w.FragID, w.MoreFrags = 54, 0x12345, 0x2345, true
	add("first fragment", frags[0], w)
	w = ipv6Want(frame.ProtoUDP, noPort(cip6), noPort(vip6), 62, 0, 14+1280)
	w.FragHdr, w.FragID6, w.FragID, w.MoreFrags, w.FragOffset = 54, 0x12345, 0x2345, true, 1232
	add("middle fragment", frags[1], w)

	f = frametest.UDP(cip6, vip6, nil)
	f[20] = frame.ProtoNoNext
	binary.BigEndian.PutUint16(f[18:], 0)
	add("no next header", f[:54], ipv6Want(frame.ProtoNoNext, noPort(cip6), noPort(vip6), 54, 0, 54))
	return tests
}

// otherCases6 are IPv6 frames Decode must classify KindOther.
func otherCases6() []decodeCase {
	var tests []decodeCase
	syn := frametest.TCP(cip6, vip6, frame.SYN, nil)
	ext := frametest.TCP(cip6, vip6, frame.SYN, nil, frametest.WithExt(frame.ProtoDstOpts, frame.ProtoRouting))
	mut := func(f []byte, fn func([]byte)) []byte { g := append([]byte(nil), f...); fn(g); return g }
	other := func(name string, f []byte) { tests = append(tests, decodeCase{name, f, frame.Parsed{L3: 14}}) }
	other("truncated header", syn[:50])
	other("version 4 in ipv6", mut(syn, func(g []byte) { g[14] = 0x45 }))
	other("payload length past buffer", syn[:70])
	other("tcp data offset past end", mut(syn, func(g []byte) { g[54+12] = 0x60 }))
	other("udp length past datagram", mut(frametest.UDP(cip6, vip6, nil), func(g []byte) { binary.BigEndian.PutUint16(g[58:], 9) }))
	other("icmpv6 shorter than 8 bytes", mut(frametest.ICMPv6Echo(cip6.Addr(), vip6.Addr(), 1, 1, nil)[:60],
		func(g []byte) { binary.BigEndian.PutUint16(g[18:], 6) }))
	other("extension header past end", mut(ext, func(g []byte) { g[55] = 40 }))
	other("routing header with segments left", mut(ext, func(g []byte) { g[62+3] = 1 }))
	other("hop-by-hop not first", mut(ext, func(g []byte) { g[54] = frame.ProtoHopOpts }))
	other("jumbogram", mut(frametest.TCP(cip6, vip6, frame.SYN, nil, frametest.WithExt(frame.ProtoHopOpts)),
		func(g []byte) { binary.BigEndian.PutUint16(g[18:], 0) }))
	frags := frametest.Fragments6(frametest.TCP(cip6, vip6, frame.ACK, make([]byte, 100)), 56, 1)
	other("tiny first fragment without the tcp header", frags[0])
	two := append(mut(frags[0][:62], func(g []byte) { g[54] = frame.ProtoFragment }), frags[0][54:]...)
	binary.BigEndian.PutUint16(two[18:], uint16(len(two)-54))
	other("two fragment headers", two)
	return tests
}

func TestDecodeIPv6(t *testing.T) {
	for _, tt := range append(usableCases6(), otherCases6()...) {
		t.Run(tt.name, func(t *testing.T) {
			var p frame.Parsed
			p.Partial = true
			p.Decode(tt.frame)
			if p != tt.want {
				t.Errorf("Decode =\n%+v\nwant\n%+v", p, tt.want)
			}
		})
	}
}

// randExt returns a random chain of extension headers for WithExt.
func randExt(r *rand.Rand) []uint8 {
	var ext []uint8
	if r.IntN(3) == 0 {
		ext = append(ext, frame.ProtoHopOpts)
	}
	for range r.IntN(3) {
		ext = append(ext, []uint8{frame.ProtoDstOpts, frame.ProtoRouting}[r.IntN(2)])
	}
	return ext
}

// TestDecodeIPv6AgreesWithGopacket decodes random well-formed IPv6 frames
// with Decode and with gopacket and compares what both report.
func TestDecodeIPv6AgreesWithGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var p frame.Parsed
	for i := 0; i < 2000; i++ {
		var a, b [16]byte
		for j := range a {
			a[j], b[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		a[0], b[0] = 0x20, 0xfd // global unicast and ULA
		src := netip.AddrPortFrom(netip.AddrFrom16(a), uint16(r.Uint32()))
		dst := netip.AddrPortFrom(netip.AddrFrom16(b), uint16(r.Uint32()))
		opts := []frametest.Option{frametest.WithTTL(uint8(r.Uint32())), frametest.WithExt(randExt(r)...)}
		if r.IntN(2) == 0 {
			opts = append(opts, frametest.WithVLAN(uint16(r.IntN(4095))))
		}
		payload := make([]byte, r.IntN(1400))
		var f []byte
		switch r.IntN(3) {
		case 0:
			f = frametest.TCP(src, dst, frame.TCPFlags(r.Uint32()), payload, opts...)
		case 1:
			f = frametest.UDP(src, dst, payload, opts...)
		default:
			src, dst = noPort(src), noPort(dst)
			f = frametest.ICMPv6Echo(src.Addr(), dst.Addr(), uint16(r.Uint32()), uint16(r.Uint32()), payload, opts...)
		}
		p.Decode(f)
		l := frametest.Decode(f)
		if p.Kind != frame.KindIPv6 || l.IP6 == nil {
			t.Fatalf("frame %d: Kind = %v, gopacket IPv6 = %v (%v)", i, p.Kind, l.IP6, l.Err)
		}
		frametest.Check(t, f, frametest.SrcAddr(p.Src.Addr()), frametest.DstAddr(p.Dst.Addr()),
			frametest.TTL(p.TTL), frametest.VLAN(p.VLAN), frametest.SumsOK())
		if p.Proto == frame.ProtoICMPv6 {
			frametest.Check(t, f, frametest.ICMPType(p.ICMPType, p.ICMPCode))
			if !p.ICMPv6(f).ValidChecksum(p.IPv6(f)) {
				t.Errorf("frame %d: ICMPv6 ValidChecksum = false for a gopacket-built message", i)
			}
		} else {
			frametest.Check(t, f, frametest.SrcPort(p.Src.Port()), frametest.DstPort(p.Dst.Port()),
				frametest.Payload(f[p.Payload:p.End]))
		}
		if p.Proto == frame.ProtoTCP {
			frametest.Check(t, f, frametest.Flags(p.Flags))
			if !p.TCP(f).ValidChecksum6(p.IPv6(f)) {
				t.Errorf("frame %d: TCP ValidChecksum6 = false for a gopacket-built segment", i)
			}
		}
		if p.Proto == frame.ProtoUDP && !p.UDP(f).ValidChecksum6(p.IPv6(f)) {
			t.Errorf("frame %d: UDP ValidChecksum6 = false for a gopacket-built datagram", i)
		}
		if t.Failed() {
			t.Fatalf("frame %d disagrees", i)
		}
	}
}

func TestFragment6Decode(t *testing.T) {
	frags := frametest.Fragments6(frametest.TCP(cip6, vip6, frame.ACK, make([]byte, 3000), frametest.WithExt(frame.ProtoHopOpts)), 1280, 99)
	off := 0
	for i, f := range frags {
		p := decode(t, f)
		more := i < len(frags)-1
		frametest.Check(t, f, frametest.Fragment6(off, more, 99))
		if p.FragOffset != off || p.MoreFrags != more || p.FragID6 != 99 || p.FragHdr != 14+40+8 {
			t.Errorf("fragment %d: offset %d more %v id %d at %d, want %d %v 99 at 62", i, p.FragOffset, p.MoreFrags, p.FragID6, p.FragHdr, off, more)
		}
		if p.IsFirstFragment() != (i == 0) {
			t.Errorf("fragment %d: IsFirstFragment = %v", i, p.IsFirstFragment())
		}
		off += p.End - p.L4
	}
}

func TestNATRewrite6(t *testing.T) {
	big := make([]byte, 1400)
	for i := range big {
		big[i] = byte(i * 7)
	}
	ext := frametest.WithExt(frame.ProtoHopOpts, frame.ProtoRouting, frame.ProtoDstOpts)
	tests := []struct {
		name    string
		frame   []byte
		partial bool
		dst     bool // rewrite the destination (forward), else the source (reply)
		to      netip.AddrPort
		checks  []frametest.Checker
	}{
		{"tcp forward", frametest.TCP(cip6, vip6, frame.SYN, nil), false, true, rip6,
			[]frametest.Checker{frametest.DstAddr(rip6.Addr()), frametest.DstPort(rip6.Port()), frametest.SrcAddr(cip6.Addr()), frametest.SrcPort(cip6.Port())}},
		{"tcp forward with extension headers and vlan", frametest.TCP(cip6, vip6, frame.ACK|frame.PSH, big, ext, frametest.WithVLAN(7)), false, true, rip6,
			[]frametest.Checker{frametest.DstAddr(rip6.Addr()), frametest.DstPort(rip6.Port()), frametest.Payload(big), frametest.VLAN(7)}},
		{"tcp reply", frametest.TCP(rip6, cip6, frame.SYN|frame.ACK, nil), false, false, vip6,
			[]frametest.Checker{frametest.SrcAddr(vip6.Addr()), frametest.SrcPort(vip6.Port()), frametest.DstAddr(cip6.Addr())}},
		{"udp forward", frametest.UDP(cip6, vip6, big[:333]), false, true, rip6,
			[]frametest.Checker{frametest.DstAddr(rip6.Addr()), frametest.DstPort(rip6.Port())}},
		{"udp reply", frametest.UDP(rip6, cip6, big[:1], ext), false, false, vip6,
			[]frametest.Checker{frametest.SrcAddr(vip6.Addr()), frametest.SrcPort(vip6.Port())}},
		{"icmpv6 echo: the pseudo header covers the address", frametest.ICMPv6Echo(cip6.Addr(), vip6.Addr(), 3, 4, big[:56]), false, true, rip6,
			[]frametest.Checker{frametest.DstAddr(rip6.Addr()), frametest.ICMPType(frame.ICMPv6Echo, 0)}},
		{"partial tcp forward", frametest.MakePartial(frametest.TCP(cip6, vip6, frame.ACK, big)), true, true, rip6,
			[]frametest.Checker{frametest.DstAddr(rip6.Addr()), frametest.DstPort(rip6.Port())}},
		{"partial udp reply", frametest.MakePartial(frametest.UDP(rip6, cip6, big[:99], ext)), true, false, vip6,
			[]frametest.Checker{frametest.SrcAddr(vip6.Addr()), frametest.SrcPort(vip6.Port())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.frame
			p := decode(t, f)
			p.Partial = tt.partial
			if tt.dst {
				p.SetDst(f, tt.to)
			} else {
				p.SetSrc(f, tt.to)
			}
			if !p.IPv6(f).DecHopLimit() {
				t.Fatal("DecHopLimit = false at 64")
			}
			frametest.Check(t, f, append(tt.checks, frametest.TTL(63))...)
			if tt.partial {
				frametest.Check(t, f, frametest.PartialSumOK())
				if !p.CompletePartial(f) {
					t.Fatal("CompletePartial = false")
				}
			}
			frametest.Check(t, f, frametest.SumsOK())
			q := decode(t, f)
			if q.Src != p.Src || q.Dst != p.Dst {
				t.Errorf("after rewrite Parsed says %v → %v, fresh Decode %v → %v", p.Src, p.Dst, q.Src, q.Dst)
			}
		})
	}
}

// TestNATRewrite6FirstFragment rewrites the first fragment of a UDP
// datagram and checks the reassembled datagram's checksum.
func TestNATRewrite6FirstFragment(t *testing.T) {
	frags := frametest.Fragments6(frametest.UDP(cip6, vip6, make([]byte, 2000)), 1280, 5)
	p := decode(t, frags[0])
	p.SetDst(frags[0], rip6)
	p2 := decode(t, frags[1])
	p2.SetDst(frags[1], rip6)
	if p2.Dst != noPort(rip6) {
		t.Errorf("non-first fragment Dst = %v, want %v", p2.Dst, noPort(rip6))
	}
	whole := append(append([]byte(nil), frags[0][p.L4:p.End]...), frags[1][p2.L4:p2.End]...)
	ip := frame.IPv6(frags[0][14:])
	if c := frame.Fold(frame.Sum(whole, ip.PseudoHeaderSum(frame.ProtoUDP, len(whole)))); c != 0xffff {
		t.Errorf("reassembled UDP checksum sums to %#04x, want 0xffff", c)
	}
}

func TestUDP6ComputedZeroSentAsOnes(t *testing.T) {
	f := frametest.UDP(cip6, vip6, []byte("hello"))
	p := decode(t, f)
	for port := range 65536 {
		g := append([]byte(nil), f...)
		q := *p
		q.SetDst(g, netip.AddrPortFrom(rip6.Addr(), uint16(port)))
		u := q.UDP(g)
		if u.ComputeChecksum6(q.IPv6(g)) == 0xffff {
			if u.Checksum() != 0xffff {
				t.Fatalf("port %d: checksum %#04x, want 0xffff (RFC 768)", port, u.Checksum())
			}
			frametest.Check(t, g, frametest.SumsOK())
			return
		}
	}
	t.Skip("no port gives a zero checksum")
}

func TestSetInner6(t *testing.T) {
	big := make([]byte, 1400)
	tests := []struct {
		name       string
		about      []byte // the datagram the error is about, as the real server sent it
		typ, code  uint8
		wantPorts  bool
		quoteBytes int // WithQuote, 0 for the default
	}{
		{"packet too big about a tcp reply", frametest.TCP(rip6, cip6, frame.ACK, big), frame.ICMPv6PacketTooBig, 0, true, 0},
		{"port unreachable about udp with options", frametest.UDP(rip6, cip6, []byte("q"), frametest.WithExt(frame.ProtoDstOpts)), frame.ICMPv6DestUnreachable, 4, true, 0},
		{"time exceeded quoting 4 bytes: ports but no checksum", frametest.TCP(rip6, cip6, frame.SYN, nil), frame.ICMPv6TimeExceeded, 0, true, 4},
		{"quote without ports", frametest.UDP(rip6, cip6, nil), frame.ICMPv6TimeExceeded, 0, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []frametest.Option
			if tt.quoteBytes != 0 {
				opts = append(opts, frametest.WithQuote(tt.quoteBytes))
			}
			// A router between director and client complains about the
			// reply as the director sent it (VIP → client); the director
			// translates the error back to the real server's view.
			sent := append([]byte(nil), tt.about...)
			sp := decode(t, sent)
			sp.SetSrc(sent, vip6)
			e := frametest.ICMPv6Error(tt.typ, tt.code, netip.MustParseAddr("2001:db8:ff::1"), sent, append(opts, frametest.WithMTU(1280))...)
			p := decode(t, e)
			if !p.ICMPError || p.InnerPorts != tt.wantPorts {
				t.Fatalf("ICMPError %v InnerPorts %v, want true %v", p.ICMPError, p.InnerPorts, tt.wantPorts)
			}
			p.SetInnerSrc(e, rip6)
			p.SetDst(e, netip.AddrPortFrom(rip6.Addr(), 0))
			wantSrc := rip6
			if !tt.wantPorts {
				wantSrc = noPort(rip6)
			}
			frametest.Check(t, e, frametest.SumsOK(), frametest.DstAddr(rip6.Addr()),
				frametest.Inner(wantSrc, p.InnerDst), frametest.ICMPv6Param(1280))
			if q := decode(t, e); q.InnerSrc != p.InnerSrc || q.InnerDst != p.InnerDst {
				t.Errorf("after rewrite Parsed inner %v → %v, fresh Decode %v → %v", p.InnerSrc, p.InnerDst, q.InnerSrc, q.InnerDst)
			}
			if q := decode(t, e); frame.IPv6(e[q.InnerL3:q.End]).TotalLen() == q.End-q.InnerL3 {
				// The whole datagram is quoted: its L4 checksum must be
				// the real server's again.
				in := e[q.InnerL3:q.End]
				var ip frame.Parsed
				ip.Decode(append(append([]byte(nil), e[:14]...), in...))
				if ip.Kind != frame.KindIPv6 {
					t.Fatal("quoted datagram does not decode")
				}
				frametest.Check(t, append(append([]byte(nil), e[:14]...), in...), frametest.SumsOK(), frametest.SrcAddr(rip6.Addr()))
			}
			p.SetInnerDst(e, netip.AddrPortFrom(nat6, 1))
			frametest.Check(t, e, frametest.SumsOK())
		})
	}
}

func TestToEchoReply6(t *testing.T) {
	f := frametest.ICMPv6Echo(cip6.Addr(), vip6.Addr(), 0x1234, 7, []byte("abcdefgh"), frametest.WithTTL(55))
	p := decode(t, f)
	if !frame.ToEchoReply(f, p, 64) {
		t.Fatal("ToEchoReply = false for an ICMPv6 echo request")
	}
	frametest.Check(t, f, frametest.SumsOK(), frametest.ICMPType(frame.ICMPv6EchoReply, 0),
		frametest.SrcAddr(vip6.Addr()), frametest.DstAddr(cip6.Addr()), frametest.TTL(64),
		frametest.SrcMAC(frametest.DefaultDstMAC), frametest.DstMAC(frametest.DefaultSrcMAC),
		frametest.Payload([]byte("abcdefgh")))
	if c := p.ICMPv6(f); c.ID() != 0x1234 || c.Seq() != 7 {
		t.Errorf("echo id/seq = %#x/%d, want 0x1234/7", c.ID(), c.Seq())
	}
	if frame.ToEchoReply(f, p, 64) {
		t.Error("ToEchoReply = true for an echo reply")
	}
	ns := frametest.NeighborSolicit(mac1, cip6.Addr(), vip6.Addr())
	if frame.ToEchoReply(ns, decode(t, ns), 64) {
		t.Error("ToEchoReply = true for a neighbour solicitation")
	}
}

func TestPutICMPv6Error(t *testing.T) {
	big := make([]byte, 1452)
	tests := []struct {
		name       string
		frame      []byte
		typ, code  uint8
		param      uint32
		wantQuoted int // bytes of the offending datagram quoted
	}{
		{"packet too big for a big tcp segment", frametest.TCP(cip6, vip6, frame.ACK, big), frame.ICMPv6PacketTooBig, 0, 1400, 1280 - 48},
		{"time exceeded for a syn", frametest.TCP(cip6, vip6, frame.SYN, nil, frametest.WithTTL(1)), frame.ICMPv6TimeExceeded, 0, 0, 60},
		{"port unreachable for udp with options", frametest.UDP(cip6, vip6, []byte("q"), frametest.WithVLAN(9), frametest.WithExt(frame.ProtoDstOpts)), frame.ICMPv6DestUnreachable, 4, 0, 57},
		{"parameter problem pointer", frametest.UDP(cip6, vip6, []byte("q")), frame.ICMPv6ParamProblem, 0, 6, 49},
		{"packet too big for a multicast destination", frametest.UDP(cip6, netip.MustParseAddrPort("[ff0e::1]:5000"), big[:1300]), frame.ICMPv6PacketTooBig, 0, 1280, 1232},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decode(t, tt.frame)
			buf := make([]byte, frame.ICMPv6ErrorMaxLen)
			n := frame.PutICMPv6Error(buf, tt.frame, p, tt.typ, tt.code, tt.param, nat6, mac1)
			if want := 14 + 48 + tt.wantQuoted; n != want {
				t.Fatalf("PutICMPv6Error = %d bytes, want %d", n, want)
			}
			e := buf[:n]
			frametest.Check(t, e, frametest.SumsOK(), frametest.ICMPType(tt.typ, tt.code), frametest.SrcAddr(nat6),
				frametest.DstAddr(cip6.Addr()), frametest.Inner(p.Src, p.Dst), frametest.SrcMAC(mac1),
				frametest.DstMAC(frametest.DefaultSrcMAC), frametest.VLAN(0), frametest.ICMPv6Param(tt.param),
				frametest.Payload(tt.frame[p.L3:p.L3+tt.wantQuoted]))
			q := decode(t, e)
			if !q.ICMPError || q.InnerSrc != p.Src || q.InnerDst != p.Dst {
				t.Errorf("Decode of the error: inner %v → %v", q.InnerSrc, q.InnerDst)
			}
			if m := frame.PutICMPv6Error(buf, e, q, frame.ICMPv6DestUnreachable, 4, 0, nat6, mac1); m != 0 {
				t.Errorf("PutICMPv6Error about an ICMPv6 error = %d, want 0", m)
			}
		})
	}
	buf := make([]byte, frame.ICMPv6ErrorMaxLen)
	refused := []struct {
		name  string
		frame []byte
		typ   uint8
	}{
		{"unreachable for a multicast destination", frametest.UDP(cip6, netip.MustParseAddrPort("[ff02::1]:5000"), nil), frame.ICMPv6DestUnreachable},
		{"unreachable for a link-layer multicast", frametest.UDP(cip6, vip6, nil, frametest.WithDstMAC(frame.MulticastMAC(frame.AllNodes))), frame.ICMPv6DestUnreachable},
		{"from the unspecified address", frametest.UDP(netip.MustParseAddrPort("[::]:1"), vip6, nil), frame.ICMPv6PacketTooBig},
		{"ipv4", frametest.UDP(cip, vip, nil), frame.ICMPv6DestUnreachable},
	}
	for _, tt := range refused {
		if n := frame.PutICMPv6Error(buf, tt.frame, decode(t, tt.frame), tt.typ, 0, 0, nat6, mac1); n != 0 {
			t.Errorf("PutICMPv6Error %s = %d, want 0", tt.name, n)
		}
	}
	f := frametest.UDP(cip6, vip6, nil)
	if n := frame.PutICMPv6Error(buf[:100], f, decode(t, f), 1, 4, 0, nat6, mac1); n != 0 {
		t.Errorf("PutICMPv6Error into a short buffer = %d, want 0", n)
	}
	if n := frame.PutICMPv6Error(buf, f, decode(t, f), 1, 4, 0, nat, mac1); n != 0 {
		t.Errorf("PutICMPv6Error from an IPv4 address = %d, want 0", n)
	}
}

// TestParsedSize pins the size of Parsed, which Decode clears for every
// frame: the IPv6 fields fill padding, so IPv4 decoding clears no more
// than it did before them (224 bytes on 64-bit platforms).
func TestParsedSize(t *testing.T) {
	if n := unsafe.Sizeof(frame.Parsed{}); unsafe.Sizeof(uintptr(0)) == 8 && n > 224 {
		t.Errorf("Parsed is %d bytes, want at most 224", n)
	}
}
