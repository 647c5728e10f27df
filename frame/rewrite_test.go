package frame_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// decode returns a fresh Parsed of f.
func decode(t testing.TB, f []byte) *frame.Parsed {
	t.Helper()
	p := new(frame.Parsed)
	p.Decode(f)
	if p.Kind == frame.KindOther {
		t.Fatalf("Decode: KindOther for a test frame")
	}
	return p
}

func TestNATRewrite(t *testing.T) {
	big := make([]byte, 1400)
	for i := range big {
		big[i] = byte(i * 7)
	}
	tests := []struct {
		name    string
		frame   []byte
		partial bool
		dst     bool // rewrite the destination (forward), else the source (reply)
		to      netip.AddrPort
		checks  []frametest.Checker
	}{
		{"tcp forward", frametest.TCP(cip, vip, frame.SYN, nil), false, true, rip,
			[]frametest.Checker{frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port()), frametest.SrcAddr(cip.Addr()), frametest.SrcPort(cip.Port())}},
		{"tcp forward with data and options", frametest.TCP(cip, vip, frame.ACK|frame.PSH, big, frametest.WithIPOptions(3), frametest.WithVLAN(7)), false, true, rip,
			[]frametest.Checker{frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port()), frametest.Payload(big), frametest.VLAN(7)}},
		{"tcp reply", frametest.TCP(rip, cip, frame.SYN|frame.ACK, nil), false, false, vip,
			[]frametest.Checker{frametest.SrcAddr(vip.Addr()), frametest.SrcPort(vip.Port()), frametest.DstAddr(cip.Addr())}},
		{"udp forward", frametest.UDP(cip, vip, big[:333]), false, true, rip,
			[]frametest.Checker{frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port())}},
		{"udp reply", frametest.UDP(rip, cip, big[:1]), false, false, vip,
			[]frametest.Checker{frametest.SrcAddr(vip.Addr()), frametest.SrcPort(vip.Port())}},
		{"icmp echo", frametest.ICMPEcho(cip.Addr(), vip.Addr(), 3, 4, big[:56]), false, true, rip,
			[]frametest.Checker{frametest.DstAddr(rip.Addr()), frametest.ICMPType(frame.ICMPEcho, 0)}},
		{"gso partial tcp forward", gso(cip, vip), true, true, rip,
			[]frametest.Checker{frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port())}},
		{"gso partial tcp reply", gso(rip, cip), true, false, vip,
			[]frametest.Checker{frametest.SrcAddr(vip.Addr()), frametest.SrcPort(vip.Port())}},
		{"partial udp", frametest.MakePartial(frametest.UDP(cip, vip, big[:99])), true, true, rip,
			[]frametest.Checker{frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port())}},
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
			if !frame.IPv4(f[p.L3:]).DecTTL() {
				t.Fatal("DecTTL = false at TTL 64")
			}
			frametest.Check(t, f, append(tt.checks, frametest.TTL(63))...)
			if tt.partial {
				frametest.Check(t, f, frametest.PartialSumOK())
				if !p.CompletePartial(f) {
					t.Fatal("CompletePartial = false")
				}
			}
			frametest.Check(t, f, frametest.SumsOK())
			// p follows the rewrite, and a fresh decode agrees.
			q := decode(t, f)
			if q.Src != p.Src || q.Dst != p.Dst {
				t.Errorf("after rewrite Parsed says %v → %v, fresh Decode %v → %v", p.Src, p.Dst, q.Src, q.Dst)
			}
		})
	}
}

func gso(src, dst netip.AddrPort) []byte {
	f, _ := frametest.GSO(src, dst, frame.ACK, make([]byte, 65160-54), 1448)
	return f
}

// TestPartialNeedsPartialUpdate shows that patching a CHECKSUM_PARTIAL
// field as if it were complete leaves a wrong checksum once completed:
// the test above would fail if SetDst ignored p.Partial.
func TestPartialNeedsPartialUpdate(t *testing.T) {
	f := gso(cip, vip)
	p := decode(t, f)
	p.Partial = false // wrong on purpose
	p.SetDst(f, rip)
	p.Partial = true
	p.CompletePartial(f)
	if msg := frametest.SumsOK()(frametest.Decode(f)); msg == "" {
		t.Error("a partial checksum patched as a complete one came out valid")
	}
}

func TestUDPZeroChecksumStaysZero(t *testing.T) {
	f := frametest.UDP(cip, vip, []byte("hello"), frametest.WithNoUDPChecksum())
	p := decode(t, f)
	p.SetDst(f, rip)
	p.SetSrc(f, netip.AddrPortFrom(nat, 1024))
	if got := p.UDP(f).Checksum(); got != 0 {
		t.Errorf("UDP checksum after rewrite = %#04x, want 0 (none)", got)
	}
	frametest.Check(t, f, frametest.SumsOK(), frametest.DstAddr(rip.Addr()), frametest.SrcPort(1024))
}

// TestUDPComputedZeroSentAsOnes finds a port that makes the patched UDP
// checksum zero, and checks it goes out as 0xffff (RFC 768).
func TestUDPComputedZeroSentAsOnes(t *testing.T) {
	f := frametest.UDP(cip, vip, []byte("hello"))
	p := decode(t, f)
	p.SetDst(f, netip.AddrPortFrom(rip.Addr(), vip.Port()))
	sum := p.UDP(f).Checksum()
	port := -1
	for n := 0; n < 65536; n++ {
		if frame.Update16(sum, vip.Port(), uint16(n)) == 0 {
			port = n
			break
		}
	}
	if port < 0 {
		t.Skip("no port gives a zero checksum for this frame") // cannot happen: Update16 is onto
	}
	p.SetDst(f, netip.AddrPortFrom(rip.Addr(), uint16(port)))
	if got := p.UDP(f).Checksum(); got != 0xffff {
		t.Errorf("UDP checksum = %#04x, want 0xffff", got)
	}
	frametest.Check(t, f, frametest.SumsOK())
	u := frametest.UDP(cip, vip, nil)
	q := decode(t, u)
	frame.UDP(u[q.L4:q.End]).SetChecksum(sum)
	frame.UDP(u[q.L4:q.End]).SetDstPort(vip.Port()) // same port: no change
	if got := frame.UDP(u[q.L4:q.End]).Checksum(); got != sum {
		t.Errorf("SetDstPort to the same port changed the checksum %#04x → %#04x", sum, got)
	}
}

// TestRewriteFragments rewrites every fragment of a UDP datagram, then
// reassembles them and checks the UDP checksum of the whole datagram.
func TestRewriteFragments(t *testing.T) {
	payload := make([]byte, 4000)
	for i := range payload {
		payload[i] = byte(i)
	}
	frags := frametest.Fragments(frametest.UDP(cip, vip, payload, frametest.WithID(42)), 1500)
	for i, g := range frags {
		p := decode(t, g)
		if got := p.IsFirstFragment(); got != (i == 0) {
			t.Errorf("fragment %d: IsFirstFragment = %v", i, got)
		}
		p.SetDst(g, rip)
		frametest.Check(t, g, frametest.SumsOK(), frametest.DstAddr(rip.Addr()))
	}
	whole := reassemble(t, frags)
	frametest.Check(t, whole, frametest.SumsOK(), frametest.DstPort(rip.Port()), frametest.Payload(payload))
}

// reassemble joins the fragments of one datagram, in order, into one frame.
func reassemble(t *testing.T, frags [][]byte) []byte {
	var p frame.Parsed
	p.Decode(frags[0])
	out := append([]byte(nil), frags[0][:p.End]...)
	for _, g := range frags[1:] {
		p.Decode(g)
		out = append(out, g[p.L4:p.End]...)
	}
	ip := frame.IPv4(out[14:])
	binary.BigEndian.PutUint16(ip[6:], 0)
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip.UpdateChecksum()
	return out
}

// TestICMPErrorTranslation translates ICMP errors about a NATed flow in
// both directions, as ip_vs_nat_icmp, with short and long quotes.
func TestICMPErrorTranslation(t *testing.T) {
	for _, quote := range []int{8, 20, 200} {
		// A real server reports an error about C → RIP: the client must see
		// one from the VIP about C → VIP.
		f := frametest.ICMPError(3, 3, rip.Addr(), frametest.TCP(cip, rip, frame.SYN, nil), frametest.WithQuote(quote))
		p := decode(t, f)
		if !p.ICMPError || p.InnerSrc != cip || p.InnerDst != rip {
			t.Fatalf("quote %d: inner = %v %v → %v", quote, p.ICMPError, p.InnerSrc, p.InnerDst)
		}
		p.SetSrc(f, netip.AddrPortFrom(vip.Addr(), 0))
		p.SetInnerDst(f, vip)
		frametest.Check(t, f, frametest.SumsOK(), frametest.SrcAddr(vip.Addr()), frametest.Inner(cip, vip))
		checkInnerL4(t, f, p)

		// The path to the client reports an error about VIP → C: the real
		// server must see one about RIP → C.
		f = frametest.ICMPError(3, 4, cip.Addr(), frametest.UDP(vip, cip, []byte("data")), frametest.WithQuote(quote), frametest.WithMTU(1400))
		p = decode(t, f)
		p.SetDst(f, netip.AddrPortFrom(rip.Addr(), 0))
		p.SetInnerSrc(f, rip)
		frametest.Check(t, f, frametest.SumsOK(), frametest.DstAddr(rip.Addr()), frametest.Inner(rip, cip))
		if got := p.ICMP(f).MTU(); got != 1400 {
			t.Errorf("MTU = %d, want 1400", got)
		}
		checkInnerL4(t, f, p)
	}
}

// checkInnerL4 checks the quoted L4 checksum when the whole quoted segment
// is present.
func checkInnerL4(t *testing.T, f []byte, p *frame.Parsed) {
	t.Helper()
	in := frame.IPv4(f[p.InnerL3:p.End])
	if in.TotalLen() != len(in) {
		return // truncated quote: the L4 checksum cannot be verified
	}
	ok := false
	switch p.InnerProto {
	case frame.ProtoTCP:
		ok = frame.TCP(in.Payload()).ValidChecksum(in)
	case frame.ProtoUDP:
		ok = frame.UDP(in.Payload()).ValidChecksum(in)
	}
	if !ok {
		t.Errorf("quoted %d checksum invalid after translation", p.InnerProto)
	}
}

func TestViewSetters(t *testing.T) {
	f := frametest.TCP(cip, vip, frame.ACK, []byte("abc"), frametest.WithTTL(2))
	p := decode(t, f)
	ip, tcp := p.IPv4(f), p.TCP(f)
	old := ip.Dst()
	ip.SetDst(rip.Addr())
	tcp.UpdateAddr(old, rip.Addr())
	tcp.SetDstPort(rip.Port())
	old = ip.Src()
	ip.SetSrc(nat)
	tcp.UpdateAddr(old, nat)
	tcp.SetSrcPort(4000)
	ip.SetID(0xbeef)
	if !ip.DecTTL() {
		t.Fatal("DecTTL at 2 = false")
	}
	if ip.DecTTL() {
		t.Error("DecTTL at 1 = true, want false (time exceeded)")
	}
	e := p.Ethernet(f)
	e.SetSrc(mac1)
	e.SetDst(frame.BroadcastMAC)
	frametest.Check(t, f, frametest.SumsOK(), frametest.TTL(1), frametest.IPID(0xbeef),
		frametest.SrcAddr(nat), frametest.SrcPort(4000), frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port()),
		frametest.SrcMAC(mac1), frametest.DstMAC(frame.BroadcastMAC))

	u := frametest.UDP(cip, vip, []byte("abc"))
	q := decode(t, u)
	uv, uip := q.UDP(u), q.IPv4(u)
	uip.SetDst(rip.Addr())
	uv.UpdateAddr(vip.Addr(), rip.Addr())
	uv.SetDstPort(rip.Port())
	uv.SetSrcPort(1)
	frametest.Check(t, u, frametest.SumsOK(), frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port()), frametest.SrcPort(1))
}
