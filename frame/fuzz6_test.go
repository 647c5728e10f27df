package frame_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// checkInvariants6 checks what Decode promises about a KindIPv6 p.
func checkInvariants6(t *testing.T, data []byte, p *frame.Parsed) {
	t.Helper()
	ip := frame.IPv6(data[p.L3:])
	if !ip.Valid() || p.L3+ip.TotalLen() != p.End || p.L4 < p.L3+frame.IPv6Len || p.TTL != ip.HopLimit() {
		t.Fatalf("KindIPv6 with an invalid header or offsets: %x", data[p.L3:min(len(data), p.L3+80)])
	}
	if p.Src.Addr() != ip.Src() || p.Dst.Addr() != ip.Dst() {
		t.Fatalf("Parsed addresses %v → %v differ from the header's", p.Src, p.Dst)
	}
	if fh := int(p.FragHdr); fh != 0 {
		f := frame.IPv6Fragment(data[fh : fh+frame.IPv6FragmentLen])
		if fh+frame.IPv6FragmentLen > p.L4 || f.ID() != p.FragID6 || f.Offset() != p.FragOffset || f.More() != p.MoreFrags {
			t.Fatalf("fragment header at %d disagrees with Parsed %+v", p.FragHdr, p)
		}
	} else if p.IsFragment() {
		t.Fatal("a fragment without a fragment header")
	}
	if p.FragOffset == 0 && p.Proto == frame.ProtoTCP && !p.TCP(data).Valid() {
		t.Fatal("TCP header invalid")
	}
	if p.ICMPError {
		if p.Proto != frame.ProtoICMPv6 || p.InnerL3 != p.L4+frame.ICMPv6Len || p.InnerL4 > p.End ||
			!frame.IPv6(data[p.InnerL3:p.End]).ValidHeader() {
			t.Fatalf("ICMPv6 error inner offsets %d %d, End %d", p.InnerL3, p.InnerL4, p.End)
		}
	}
	// gopacket, where it decodes the frame cleanly, sees the same
	// addresses and, for an unfragmented TCP or UDP datagram, ports.
	if l := frametest.Decode(data); l.Err == nil && l.IP6 != nil {
		frametest.Check(t, data, frametest.SrcAddr(p.Src.Addr()), frametest.DstAddr(p.Dst.Addr()))
		if !p.IsFragment() && (l.TCP != nil || l.UDP != nil) {
			frametest.Check(t, data, frametest.SrcPort(p.Src.Port()), frametest.DstPort(p.Dst.Port()))
		}
	}
}

// wholeQuote6 reports whether the ICMPv6 quote in holds a whole
// unfragmented TCP or UDP datagram, and returns a function that fixes (fix
// true) or verifies its checksum.
func wholeQuote6(in frame.IPv6) (bool, func(fix bool) bool) {
	if !in.Valid() || in.TotalLen() != len(in) {
		return false, nil
	}
	var q frame.Parsed
	q.Decode(append(append(make([]byte, 12), 0x86, 0xdd), in...))
	if q.Kind != frame.KindIPv6 || q.IsFragment() {
		return false, nil
	}
	l4 := in[q.L4-frame.EthernetLen:]
	switch q.Proto {
	case frame.ProtoTCP:
		tc := frame.TCP(l4)
		return true, func(fix bool) bool {
			if fix {
				tc.UpdateChecksum6(in)
			}
			return tc.ValidChecksum6(in)
		}
	case frame.ProtoUDP:
		u := frame.UDP(l4)
		if u.Length() != len(u) {
			return false, nil
		}
		return true, func(fix bool) bool {
			if fix {
				u.UpdateChecksum6(in)
			}
			return u.ValidChecksum6(in)
		}
	}
	return false, nil
}

// fixSums6 is fixSums for IPv6. A UDP checksum is always computed: over
// IPv6 it is mandatory.
func fixSums6(g []byte, p *frame.Parsed, partial bool) {
	ip := p.IPv6(g)
	if p.IsFragment() {
		return
	}
	switch p.Proto {
	case frame.ProtoTCP:
		p.TCP(g).UpdateChecksum6(ip)
	case frame.ProtoUDP:
		p.UDP(g).UpdateChecksum6(ip)
	case frame.ProtoICMPv6:
		if p.ICMPError {
			if ok, l4sum := wholeQuote6(frame.IPv6(g[p.InnerL3:p.End])); ok {
				l4sum(true)
			}
		}
		p.ICMPv6(g).UpdateChecksum(ip)
	}
	if partial && (p.Proto == frame.ProtoTCP || p.Proto == frame.ProtoUDP) {
		off := frame.TCPChecksumOffset
		if p.Proto == frame.ProtoUDP {
			off = frame.UDPChecksumOffset
		}
		binary.BigEndian.PutUint16(g[p.L4+off:], frame.Fold(ip.PseudoHeaderSum(p.Proto, p.End-p.L4)))
		p.Partial = true
	}
}

// sumsValid6 is sumsValid for IPv6.
func sumsValid6(t *testing.T, g []byte, p *frame.Parsed) {
	t.Helper()
	if p.IsFragment() {
		return
	}
	ip := p.IPv6(g)
	switch p.Proto {
	case frame.ProtoTCP:
		if !p.TCP(g).ValidChecksum6(ip) {
			t.Fatalf("TCP checksum invalid")
		}
	case frame.ProtoUDP:
		if !p.UDP(g).ValidChecksum6(ip) {
			t.Fatalf("UDP checksum invalid")
		}
	case frame.ProtoICMPv6:
		if !p.ICMPv6(g).ValidChecksum(ip) {
			t.Fatalf("ICMPv6 checksum invalid")
		}
		if ok, l4sum := wholeQuote6(frame.IPv6(g[p.InnerL3:p.End])); p.ICMPError && ok && !l4sum(false) {
			t.Fatalf("quoted L4 checksum invalid")
		}
	}
}

// FuzzNeighbor: a neighbour solicitation NeighborMessage accepts gets an
// advertisement that NeighborMessage accepts in turn, for the same target
// at our MAC; an accepted advertisement round-trips through
// PutUnsolicitedNA with the same target and link-layer address; gopacket
// sees the same target.
func FuzzNeighbor(f *testing.F) {
	for _, s := range seeds6() {
		f.Add(s)
	}
	buf := make([]byte, frame.NDFrameLen)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p frame.Parsed
		p.Decode(data)
		nd, ok := frame.NeighborMessage(data, &p)
		if !ok {
			return
		}
		if !nd.Valid() || nd.Target().IsMulticast() || p.TTL != frame.NDHopLimit {
			t.Fatalf("NeighborMessage accepted an invalid message: %x", data[p.L4:p.End])
		}
		if l := frametest.Decode(data); l.Err == nil && (l.NS != nil || l.NA != nil) {
			frametest.Check(t, data, frametest.NDTarget(nd.Target()))
		}
		var q frame.Parsed
		if nd.Type() == frame.ICMPv6NeighborSolicit {
			n := frame.PutNeighborAdvert(buf, data, &p, nd, mac1, frame.NAOverride)
			q.Decode(buf[:n])
			na, ok := frame.NeighborMessage(buf[:n], &q)
			if !ok || na.Target() != nd.Target() || q.Src.Addr() != nd.Target() {
				t.Fatalf("answer %x to %x fails or names another target", buf[:n], data)
			}
			if m, ok := na.LinkAddr(); !ok || m != mac1 {
				t.Fatalf("answer's link-layer address = %v, %v", m, ok)
			}
			if solicited := na.Flags()&frame.NASolicited != 0; solicited == p.Src.Addr().IsUnspecified() {
				t.Fatalf("answer to %v: solicited flag %v", p.Src.Addr(), solicited)
			}
			return
		}
		m, has := nd.LinkAddr()
		if !nd.Target().Is6() || nd.Target().Is4In6() {
			return // PutUnsolicitedNA takes only IPv6 addresses
		}
		n := frame.PutUnsolicitedNA(buf, m, nd.Target(), nd.Flags())
		q.Decode(buf[:n])
		na, ok := frame.NeighborMessage(buf[:n], &q)
		if !ok || na.Target() != nd.Target() || na.Flags() != nd.Flags()&frame.NARouter|frame.NAOverride {
			t.Fatalf("unsolicited NA %x does not round-trip %x", buf[:n], data)
		}
		if m2, _ := na.LinkAddr(); has && m2 != m {
			t.Fatalf("link-layer address %v became %v", m, m2)
		}
	})
}

// FuzzICMPv6Error: an error built about any decodable IPv6 frame is
// refused or is a valid ICMPv6 error of at most 1280 bytes that quotes the
// start of the datagram and decodes back to its addresses.
func FuzzICMPv6Error(f *testing.F) {
	for _, s := range seeds6() {
		f.Add(s, uint8(1), uint8(4), uint32(1280))
	}
	buf := make([]byte, frame.ICMPv6ErrorMaxLen)
	f.Fuzz(func(t *testing.T, data []byte, typ, code uint8, param uint32) {
		var p frame.Parsed
		p.Decode(data)
		typ = typ%4 + 1
		n := frame.PutICMPv6Error(buf, data, &p, typ, code, param, nat6, mac1)
		if n == 0 {
			return
		}
		if n > frame.ICMPv6ErrorMaxLen {
			t.Fatalf("error of %d bytes", n)
		}
		e := buf[:n]
		var q frame.Parsed
		q.Decode(e)
		if q.Kind != frame.KindIPv6 || q.Proto != frame.ProtoICMPv6 || q.ICMPType != typ || q.ICMPCode != code {
			t.Fatalf("the error does not decode: %+v", q)
		}
		if !q.ICMPv6(e).ValidChecksum(q.IPv6(e)) || q.ICMPv6(e).Pointer() != param {
			t.Fatal("checksum or parameter wrong")
		}
		quote := q.ICMPv6(e).Body()
		if !bytes.HasPrefix(data[p.L3:p.End], quote) || len(quote) < min(p.End-p.L3, 1232) {
			t.Fatal("the quote is not the start of the datagram")
		}
		if !q.ICMPError || q.InnerSrc.Addr() != p.Src.Addr() || q.InnerDst.Addr() != p.Dst.Addr() || q.Dst.Addr() != p.Src.Addr() {
			t.Fatalf("inner %v → %v, want %v → %v", q.InnerSrc, q.InnerDst, p.Src, p.Dst)
		}
		if l := frametest.Decode(e); l.Err == nil {
			frametest.Check(t, e, frametest.SumsOK())
		}
	})
}
