package frametest

import (
	"net/netip"
	"testing"

	"lvs/frame"
)

var (
	cli6 = netip.MustParseAddrPort("[2001:db8:c::7]:40000")
	vip6 = netip.MustParseAddrPort("[2001:db8:1::10]:80")
)

// TestCheckers6PassAndFail checks that every checker accepts an IPv6
// frame that has the property and rejects one that does not.
func TestCheckers6PassAndFail(t *testing.T) {
	router := netip.MustParseAddr("2001:db8:ff::1")
	f := TCP(cli6, vip6, frame.SYN, []byte("hi"), WithTTL(63), WithExt(frame.ProtoDstOpts))
	ptb := ICMPv6Error(frame.ICMPv6PacketTooBig, 0, router, f, WithMTU(1280))
	mac := frame.MAC{2, 9, 9, 9, 9, 9}
	na := NeighborAdvert(mac, vip6.Addr(), DefaultSrcMAC, cli6.Addr(), frame.NASolicited|frame.NAOverride)
	ns := NeighborSolicit(mac, cli6.Addr(), vip6.Addr())
	frag := Fragments6(UDP(cli6, vip6, make([]byte, 3000)), 1280, 42)[1]
	tests := []struct {
		name     string
		frame    []byte
		ok, fail Checker
	}{
		{"SrcAddr", f, SrcAddr(cli6.Addr()), SrcAddr(vip6.Addr())},
		{"DstAddr", f, DstAddr(vip6.Addr()), DstAddr(cli6.Addr())},
		{"SrcPort", f, SrcPort(40000), SrcPort(1)},
		{"TTL", f, TTL(63), TTL(64)},
		{"Payload", f, Payload([]byte("hi")), Payload([]byte("ho"))},
		{"ICMPType", ptb, ICMPType(frame.ICMPv6PacketTooBig, 0), ICMPType(frame.ICMPv6PacketTooBig, 1)},
		{"Inner", ptb, Inner(cli6, vip6), Inner(vip6, cli6)},
		{"ICMPv6Param", ptb, ICMPv6Param(1280), ICMPv6Param(1500)},
		{"NDTarget", na, NDTarget(vip6.Addr()), NDTarget(cli6.Addr())},
		{"NAFlags", na, NAFlags(frame.NASolicited | frame.NAOverride), NAFlags(frame.NAOverride)},
		{"LinkAddr of an NA", na, LinkAddr(mac), LinkAddr(DefaultSrcMAC)},
		{"LinkAddr of an NS", ns, LinkAddr(mac), LinkAddr(frame.MAC{})},
		{"Fragment6", frag, Fragment6(1232, true, 42), Fragment6(1232, false, 42)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Decode(tt.frame)
			if msg := tt.ok(l); msg != "" {
				t.Errorf("ok checker failed: %s", msg)
			}
			if msg := tt.fail(l); msg == "" {
				t.Errorf("failing checker passed")
			}
		})
	}
	for _, g := range [][]byte{f, ptb, na, ns, ICMPv6Echo(cli6.Addr(), vip6.Addr(), 1, 2, nil)} {
		if msg := SumsOK()(Decode(g)); msg != "" {
			t.Errorf("SumsOK on a built frame: %s", msg)
		}
		bad := append([]byte(nil), g...)
		bad[len(bad)-1] ^= 0x5a
		if msg := SumsOK()(Decode(bad)); msg == "" {
			t.Errorf("SumsOK passed a corrupted frame %x", bad)
		}
	}
	if msg := SumsOK()(Decode(UDP(cli6, vip6, []byte("x"), WithNoUDPChecksum()))); msg == "" {
		t.Error("SumsOK passed a zero UDP checksum over IPv6")
	}
}

func TestGSO6IsPartial(t *testing.T) {
	f, vnet := GSO(cli6, vip6, frame.ACK|frame.PSH, make([]byte, 60000), 1428)
	l := Decode(f)
	if msg := PartialSumOK()(l); msg != "" {
		t.Error(msg)
	}
	if msg := SumsOK()(l); msg == "" {
		t.Error("SumsOK passed a partial checksum")
	}
	if len(f) != 14+40+20+60000 || vnet[1] != 4 {
		t.Errorf("GSO lengths = %d, GSO type %d", len(f), vnet[1])
	}
}

func TestWalk6(t *testing.T) {
	f := UDP(cli6, vip6, nil, WithExt(frame.ProtoHopOpts, frame.ProtoRouting, frame.ProtoDstOpts))
	proto, off, ok := walk6(f[14:])
	if proto != 17 || off != 40+8+24+8 || !ok {
		t.Errorf("walk6 = %d, %d, %v, want 17, 80, true", proto, off, ok)
	}
	if _, _, ok := walk6(f[14:60]); ok {
		t.Error("walk6 of a truncated chain = ok")
	}
}
