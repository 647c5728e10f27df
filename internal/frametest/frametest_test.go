package frametest

import (
	"net/netip"
	"testing"

	"lvs/frame"
)

var (
	cli = netip.MustParseAddrPort("198.51.100.7:40000")
	vip = netip.MustParseAddrPort("192.0.2.10:80")
)

// TestCheckersPassAndFail checks that every checker accepts a frame that
// has the property and rejects one that does not.
func TestCheckersPassAndFail(t *testing.T) {
	f := TCP(cli, vip, frame.SYN, []byte("hi"), WithTTL(63), WithID(7), WithVLAN(5), WithSeq(9))
	bad := append([]byte(nil), f...)
	bad[len(bad)-1] ^= 0xff // corrupts the TCP checksum only
	l := Decode(f)
	tests := []struct {
		name     string
		ok, fail Checker
	}{
		{"SrcAddr", SrcAddr(cli.Addr()), SrcAddr(vip.Addr())},
		{"DstAddr", DstAddr(vip.Addr()), DstAddr(cli.Addr())},
		{"SrcPort", SrcPort(40000), SrcPort(1)},
		{"DstPort", DstPort(80), DstPort(81)},
		{"TTL", TTL(63), TTL(64)},
		{"IPID", IPID(7), IPID(8)},
		{"Flags", Flags(frame.SYN), Flags(frame.SYN | frame.ACK)},
		{"Seq", Seq(9), Seq(10)},
		{"Payload", Payload([]byte("hi")), Payload([]byte("ho"))},
		{"Len", Len(len(f)), Len(len(f) + 1)},
		{"VLAN", VLAN(5), VLAN(0)},
		{"SrcMAC", SrcMAC(DefaultSrcMAC), SrcMAC(DefaultDstMAC)},
		{"DstMAC", DstMAC(DefaultDstMAC), DstMAC(DefaultSrcMAC)},
		{"Fragment", Fragment(0, false), Fragment(0, true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if msg := tt.ok(l); msg != "" {
				t.Errorf("ok checker failed: %s", msg)
			}
			if msg := tt.fail(l); msg == "" {
				t.Errorf("failing checker passed")
			}
		})
	}
	if msg := SumsOK()(l); msg != "" {
		t.Errorf("SumsOK on a built frame: %s", msg)
	}
	if msg := SumsOK()(Decode(bad)); msg == "" {
		t.Errorf("SumsOK passed a corrupted frame")
	}
}

func TestGSOIsPartial(t *testing.T) {
	f, vnet := GSO(cli, vip, frame.ACK|frame.PSH, make([]byte, 65000), 1448)
	l := Decode(f)
	if msg := PartialSumOK()(l); msg != "" {
		t.Error(msg)
	}
	if msg := SumsOK()(l); msg == "" {
		t.Error("SumsOK passed a partial checksum")
	}
	if len(f) != 14+20+20+65000 || len(vnet) != frame.VNetHdrLen {
		t.Errorf("GSO lengths = %d, %d", len(f), len(vnet))
	}
}

func TestFragments(t *testing.T) {
	f := UDP(cli, vip, make([]byte, 4000))
	fr := Fragments(f, 1500)
	if len(fr) != 3 {
		t.Fatalf("Fragments(4008-byte UDP, 1500) = %d fragments, want 3", len(fr))
	}
	for i, g := range fr {
		Check(t, g, SumsOK(), Fragment(i*1480, i < 2))
	}
}

func TestICMPErrorQuote(t *testing.T) {
	f := TCP(cli, vip, frame.SYN, nil)
	e := ICMPError(3, 4, netip.MustParseAddr("10.0.0.1"), f, WithMTU(1400))
	Check(t, e, SumsOK(), ICMPType(3, 4), Inner(cli, vip), DstAddr(cli.Addr()), Len(14+20+8+20+8))
}

func TestSynAndARP(t *testing.T) {
	Check(t, TCPSyn(cli, vip), SumsOK(), Flags(frame.SYN), DstPort(80))
	var p frame.Parsed
	mac := frame.MAC{2, 9, 9, 9, 9, 9}
	p.Decode(ARPReply(mac, vip.Addr(), DefaultSrcMAC, cli.Addr()))
	a := p.ARP(ARPReply(mac, vip.Addr(), DefaultSrcMAC, cli.Addr()))
	if p.Kind != frame.KindARP || a.Op() != frame.ARPReply || a.SenderMAC() != mac || a.TargetIP() != cli.Addr() {
		t.Errorf("ARPReply decodes as %+v", p)
	}
	Check(t, ARPReply(mac, vip.Addr(), DefaultSrcMAC, cli.Addr()), SrcMAC(mac), DstMAC(DefaultSrcMAC))
}
