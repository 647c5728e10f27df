package frame_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// seeds returns a frame of every kind the builders make.
func seeds() [][]byte {
	big := make([]byte, 3000)
	g, _ := frametest.GSO(rip, cip, frame.ACK|frame.PSH|frame.FIN, big, 1448)
	out := [][]byte{
		frametest.TCP(cip, vip, frame.SYN, nil, frametest.WithMSS(1460)),
		frametest.TCP(cip, vip, frame.ACK, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithVLAN(10), frametest.WithIPOptions(1)),
		frametest.UDP(cip, vip, []byte("dns?")),
		frametest.UDP(cip, vip, []byte("x"), frametest.WithNoUDPChecksum()),
		frametest.ICMPEcho(cip.Addr(), vip.Addr(), 1, 2, []byte("ping")),
		frametest.ICMPError(3, 4, rip.Addr(), frametest.TCP(vip, cip, frame.ACK, nil), frametest.WithMTU(1400), frametest.WithQuote(20)),
		frametest.ICMPError(11, 0, rip.Addr(), frametest.UDP(vip, cip, []byte("abc"))),
		frametest.ARPRequest(mac1, cip.Addr(), vip.Addr()),
		g,
	}
	out = append(out, frametest.Fragments(frametest.UDP(cip, vip, big), 1000)...)
	return append(out, seeds6()...)
}

// seeds6 returns an IPv6 frame of every kind the builders make.
func seeds6() [][]byte {
	big := make([]byte, 3000)
	ext := frametest.WithExt(frame.ProtoHopOpts, frame.ProtoRouting, frame.ProtoDstOpts)
	out := [][]byte{
		frametest.TCP(cip6, vip6, frame.SYN, nil, frametest.WithMSS(1440)),
		frametest.TCP(cip6, vip6, frame.ACK, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithVLAN(10), ext),
		frametest.MakePartial(frametest.TCP(rip6, cip6, frame.ACK, big[:1200])),
		frametest.UDP(cip6, vip6, []byte("dns?")),
		frametest.ICMPv6Echo(cip6.Addr(), vip6.Addr(), 1, 2, []byte("ping")),
		frametest.ICMPv6Error(frame.ICMPv6PacketTooBig, 0, rip6.Addr(), frametest.TCP(vip6, cip6, frame.ACK, big[:1300]), frametest.WithMTU(1280)),
		frametest.ICMPv6Error(frame.ICMPv6DestUnreachable, 4, rip6.Addr(), frametest.UDP(vip6, cip6, []byte("abc"), ext)),
		frametest.NeighborSolicit(mac1, cip6.Addr(), vip6.Addr()),
		frametest.NeighborSolicit(mac1, netip.IPv6Unspecified(), vip6.Addr()),
		frametest.NeighborAdvert(mac1, vip6.Addr(), frametest.DefaultDstMAC, cip6.Addr(), frame.NASolicited|frame.NAOverride),
	}
	return append(out, frametest.Fragments6(frametest.UDP(cip6, vip6, big), 1280, 7)...)
}

// FuzzDecode: Decode never panics, its offsets stay inside the frame, a
// KindIPv4 frame has a valid header, and nothing downstream of Decode
// panics on what it accepted.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	// Reused across inputs: a worker runs them one at a time.
	icmpBuf, bufs := make([]byte, frame.ICMPErrorMaxLen), segBufs(8, 2000)
	icmp6Buf := make([]byte, frame.ICMPv6ErrorMaxLen)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p frame.Parsed
		p.Decode(data)
		checkInvariants(t, data, &p)
		if !p.IsIP() {
			return
		}
		// Every operation on a decoded frame must be safe.
		g := append([]byte(nil), data...)
		q := p
		q.Partial = len(g)%2 == 0
		if p.Kind == frame.KindIPv6 {
			q.SetDst(g, rip6)
			q.SetSrc(g, vip6)
			q.SetInnerSrc(g, cip6)
			q.SetInnerDst(g, rip6)
			q.IPv6(g).DecHopLimit()
			frame.PutICMPv6Error(icmp6Buf, g, &q, frame.ICMPv6PacketTooBig, 0, 1280, nat6, mac1)
			if nd, ok := frame.NeighborMessage(g, &q); ok {
				frame.PutNeighborAdvert(icmp6Buf, g, &q, nd, mac1, frame.NAOverride)
			}
		} else {
			q.SetDst(g, rip)
			q.SetSrc(g, vip)
			q.SetInnerSrc(g, cip)
			q.SetInnerDst(g, rip)
			q.IPv4(g).DecTTL()
			frame.PutICMPError(icmpBuf, g, &q, 3, 4, 1400, nat, mac1)
		}
		q.CompletePartial(g)
		frame.ToEchoReply(g, &q, 64)
		frame.Segment(bufs, g, &q, 536)
		var r frame.Parsed
		r.Decode(g)
		if r.Kind != p.Kind {
			t.Fatalf("a frame stopped decoding after rewrites: %x", g)
		}
	})
}

// checkInvariants checks what Decode promises about p.
func checkInvariants(t *testing.T, data []byte, p *frame.Parsed) {
	t.Helper()
	switch p.Kind {
	case frame.KindOther:
		return
	case frame.KindARP:
		if !frame.ARP(data[p.L3:]).Valid() || p.End != p.L3+frame.ARPLen {
			t.Fatalf("KindARP with invalid ARP at %d", p.L3)
		}
		return
	}
	if !(0 < p.L3 && p.L3 < p.L4 && p.L4 <= p.Payload && p.Payload <= p.End && p.End <= len(data)) {
		t.Fatalf("offsets L3 %d L4 %d Payload %d End %d outside %d-byte frame", p.L3, p.L4, p.Payload, p.End, len(data))
	}
	if p.Kind == frame.KindIPv6 {
		checkInvariants6(t, data, p)
		return
	}
	ip := frame.IPv4(data[p.L3:])
	if !ip.Valid() || !ip.ValidChecksum() || p.L3+ip.TotalLen() != p.End || p.L3+ip.HeaderLen() != p.L4 {
		t.Fatalf("KindIPv4 with an invalid header: %x", data[p.L3:min(len(data), p.L3+60)])
	}
	if p.Src.Addr() != ip.Src() || p.Dst.Addr() != ip.Dst() || p.Proto != ip.Protocol() {
		t.Fatalf("Parsed addresses %v → %v differ from the header's", p.Src, p.Dst)
	}
	if p.FragOffset == 0 && p.Proto == frame.ProtoTCP && !p.TCP(data).Valid() {
		t.Fatal("TCP header invalid")
	}
	if p.ICMPError {
		if p.InnerL3 != p.L4+frame.ICMPLen || p.InnerL4 > p.End || !frame.IPv4(data[p.InnerL3:p.End]).ValidHeader() {
			t.Fatalf("ICMP error inner offsets %d %d, End %d", p.InnerL3, p.InnerL4, p.End)
		}
	}
	// gopacket, where it decodes the frame cleanly, sees the same addresses.
	if l := frametest.Decode(data); l.Err == nil && l.IP != nil {
		frametest.Check(t, data, frametest.SrcAddr(p.Src.Addr()), frametest.DstAddr(p.Dst.Addr()))
	}
}

// fixSums makes every checksum of the decoded frame g complete and valid,
// by full computation, so that any decodable input becomes a frame with
// valid checksums. With partial, the TCP/UDP field is made
// CHECKSUM_PARTIAL instead.
func fixSums(g []byte, p *frame.Parsed, partial bool) {
	if p.Kind == frame.KindIPv6 {
		fixSums6(g, p, partial)
		return
	}
	ip := p.IPv4(g)
	if p.FragOffset != 0 || p.MoreFrags {
		return // L4 checksums of fragments cover the whole datagram
	}
	switch p.Proto {
	case frame.ProtoTCP:
		p.TCP(g).UpdateChecksum(ip)
	case frame.ProtoUDP:
		if u := p.UDP(g); u.Checksum() != 0 || partial {
			u.UpdateChecksum(ip)
		}
	case frame.ProtoICMP:
		if p.ICMPError {
			in := frame.IPv4(g[p.InnerL3:p.End])
			in.UpdateChecksum()
			if ok, l4sum := wholeQuote(in); ok {
				l4sum(true)
			}
		}
		p.ICMP(g).UpdateChecksum()
	}
	if partial && (p.Proto == frame.ProtoTCP || p.Proto == frame.ProtoUDP) {
		off := frame.TCPChecksumOffset
		if p.Proto == frame.ProtoUDP {
			off = frame.UDPChecksumOffset
		}
		binary.BigEndian.PutUint16(g[p.L4+off:], frame.Fold(ip.PseudoHeaderSum(p.End-p.L4)))
		p.Partial = true
	}
}

// wholeQuote reports whether the ICMP quote in holds a whole unfragmented
// TCP or UDP datagram with a checksum, and returns a function that fixes
// (fix true) or verifies that checksum.
func wholeQuote(in frame.IPv4) (bool, func(fix bool) bool) {
	if !in.Valid() || in.TotalLen() != len(in) || in.IsFragment() {
		return false, nil
	}
	switch in.Protocol() {
	case frame.ProtoTCP:
		if tc := frame.TCP(in.Payload()); tc.Valid() {
			return true, func(fix bool) bool {
				if fix {
					tc.UpdateChecksum(in)
				}
				return tc.ValidChecksum(in)
			}
		}
	case frame.ProtoUDP:
		if u := frame.UDP(in.Payload()); u.Valid() && u.Checksum() != 0 {
			return true, func(fix bool) bool {
				if fix {
					u.UpdateChecksum(in)
				}
				return u.ValidChecksum(in)
			}
		}
	}
	return false, nil
}

// sumsValid checks every checksum of g by full computation.
func sumsValid(t *testing.T, g []byte, p *frame.Parsed) {
	t.Helper()
	if p.Kind == frame.KindIPv6 {
		sumsValid6(t, g, p)
		return
	}
	ip := p.IPv4(g)
	if !ip.ValidChecksum() {
		t.Fatalf("IP header checksum invalid")
	}
	if p.IsFragment() {
		return
	}
	switch p.Proto {
	case frame.ProtoTCP:
		if !p.TCP(g).ValidChecksum(ip) {
			t.Fatalf("TCP checksum invalid")
		}
	case frame.ProtoUDP:
		if !frame.UDP(g[p.L4:p.End]).ValidChecksum(ip) {
			t.Fatalf("UDP checksum invalid")
		}
	case frame.ProtoICMP:
		if !p.ICMP(g).ValidChecksum() {
			t.Fatalf("ICMP checksum invalid")
		}
		if p.ICMPError && !frame.IPv4(g[p.InnerL3:p.End]).ValidChecksum() {
			t.Fatalf("quoted IP header checksum invalid")
		}
		if ok, l4sum := wholeQuote(frame.IPv4(g[p.InnerL3:p.End])); p.ICMPError && ok && !l4sum(false) {
			t.Fatalf("quoted L4 checksum invalid")
		}
	}
}

// FuzzRewrite: after any NAT rewrite of a frame with valid checksums
// (complete or partial), the checksums are still valid by full
// computation, and gopacket agrees where it decodes the frame.
func FuzzRewrite(f *testing.F) {
	for i, s := range seeds() {
		f.Add(s, []byte{10, 1, 2, byte(i)}, uint16(8080+i), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data, addr []byte, port uint16, mode uint8) {
		if len(addr) < 4 {
			return
		}
		g := append([]byte(nil), data...)
		var p frame.Parsed
		p.Decode(g)
		if !p.IsIP() {
			return
		}
		if p.Proto == frame.ProtoUDP && p.FragOffset == 0 && len(p.UDP(g)) > p.UDP(g).Length() {
			return // trailing bytes after the UDP length: not a frame a sender makes
		}
		fixSums(g, &p, mode&1 != 0)
		to := netip.AddrPortFrom(netip.AddrFrom4([4]byte(addr)), port)
		if p.Kind == frame.KindIPv6 {
			var a [16]byte
			copy(a[:], addr)
			a[0] = 0x20 // not IPv4-mapped
			to = netip.AddrPortFrom(netip.AddrFrom16(a), port)
		}
		switch mode >> 1 & 3 {
		case 0:
			p.SetDst(g, to)
		case 1:
			p.SetSrc(g, to)
		case 2:
			p.SetInnerDst(g, to)
			p.SetSrc(g, to)
		case 3:
			p.SetInnerSrc(g, to)
			p.SetDst(g, to)
		}
		if mode&8 != 0 && p.Kind == frame.KindIPv4 {
			p.IPv4(g).DecTTL()
		}
		if mode&8 != 0 && p.Kind == frame.KindIPv6 {
			p.IPv6(g).DecHopLimit()
		}
		if p.Partial {
			frametest.Check(t, g, frametest.PartialSumOK())
			if !p.CompletePartial(g) {
				t.Fatal("CompletePartial = false")
			}
		}
		sumsValid(t, g, &p)
		var q frame.Parsed
		q.Decode(g)
		if q.Kind != p.Kind || q.Src != p.Src || q.Dst != p.Dst || q.InnerSrc != p.InnerSrc || q.InnerDst != p.InnerDst {
			t.Fatalf("after rewrite Parsed %v→%v (inner %v→%v), decoded %v→%v (inner %v→%v)",
				p.Src, p.Dst, p.InnerSrc, p.InnerDst, q.Src, q.Dst, q.InnerSrc, q.InnerDst)
		}
		if l := frametest.Decode(g); l.Err == nil && (l.IP != nil || l.IP6 != nil && (l.UDP == nil || l.UDP.Checksum != 0)) {
			frametest.Check(t, g, frametest.SumsOK())
		}
	})
}

// FuzzSegment: segmenting any decodable TCP frame either refuses or
// yields valid segments that carry the payload in order within the MSS.
func FuzzSegment(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s, uint16(536))
	}
	bufs := segBufs(16, 2100)
	f.Fuzz(func(t *testing.T, data []byte, mss uint16) {
		var p frame.Parsed
		p.Decode(data)
		for i := range bufs {
			bufs[i] = bufs[i][:cap(bufs[i])]
		}
		n := frame.Segment(bufs, data, &p, int(mss))
		if n == 0 {
			return
		}
		var joined []byte
		var q frame.Parsed
		seq := p.TCP(data).Seq()
		for i, s := range bufs[:n] {
			q.Decode(s)
			if q.Kind != p.Kind || q.Proto != frame.ProtoTCP || q.Src != p.Src || q.Dst != p.Dst {
				t.Fatalf("segment %d does not decode as the flow: %+v", i, q)
			}
			sumsValid(t, s, &q)
			if q.End-q.Payload > int(mss) || q.Payload != p.Payload {
				t.Fatalf("segment %d: %d payload bytes (mss %d), headers %d (want %d)", i, q.End-q.Payload, mss, q.Payload, p.Payload)
			}
			if got := q.TCP(s).Seq(); got != seq+uint32(len(joined)) {
				t.Fatalf("segment %d: seq %d, want %d", i, got, seq+uint32(len(joined)))
			}
			if i < n-1 && q.Flags&(frame.FIN|frame.PSH) != 0 || i > 0 && q.Flags&frame.CWR != 0 {
				t.Fatalf("segment %d of %d: flags %v", i, n, q.Flags)
			}
			joined = append(joined, s[q.Payload:q.End]...)
		}
		if !bytes.Equal(joined, data[p.Payload:p.End]) {
			t.Fatal("segments do not carry the payload")
		}
	})
}
