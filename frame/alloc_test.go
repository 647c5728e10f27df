package frame_test

import (
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// TestNoAllocs proves the per-packet operations allocate nothing
// (STYLE.md item 7).
func TestNoAllocs(t *testing.T) {
	tcp := frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400))
	udp := frametest.UDP(cip, vip, make([]byte, 100), frametest.WithVLAN(3))
	arp := frametest.ARPRequest(mac1, cip.Addr(), vip.Addr())
	icmpErr := frametest.ICMPError(3, 4, rip.Addr(), frametest.TCP(vip, cip, frame.ACK, nil), frametest.WithQuote(20))
	echo := frametest.ICMPEcho(cip.Addr(), vip.Addr(), 1, 1, nil)
	big, _ := frametest.GSO(rip, cip, frame.ACK, make([]byte, 65160-54), 1448)
	var p, pe, pb, pi frame.Parsed
	pe.Decode(echo)
	pb.Decode(big)
	pi.Decode(icmpErr)
	tcp6 := frametest.TCP(cip6, vip6, frame.ACK, make([]byte, 1400), frametest.WithExt(frame.ProtoHopOpts, frame.ProtoDstOpts))
	frag6 := frametest.Fragments6(frametest.UDP(cip6, vip6, make([]byte, 2000)), 1280, 3)[1]
	err6 := frametest.ICMPv6Error(frame.ICMPv6PacketTooBig, 0, rip6.Addr(), frametest.TCP(vip6, cip6, frame.ACK, nil), frametest.WithMTU(1280))
	echo6 := frametest.ICMPv6Echo(cip6.Addr(), vip6.Addr(), 1, 1, nil)
	ns := frametest.NeighborSolicit(mac1, cip6.Addr(), vip6.Addr())
	var p6, pe6, pi6, pn frame.Parsed
	pe6.Decode(echo6)
	pi6.Decode(err6)
	pn.Decode(ns)
	out6 := make([]byte, frame.ICMPv6ErrorMaxLen)
	tun6 := make([]byte, 2048)
	big6, _ := frametest.GSO(rip6, cip6, frame.ACK, make([]byte, 65000), 1428)
	var pb6 frame.Parsed
	pb6.Decode(big6)
	segs := segBufs(64, 1600)
	out := make([]byte, frame.ICMPErrorMaxLen)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Decode tcp", func() { p.Decode(tcp) }},
		{"Decode udp vlan", func() { p.Decode(udp) }},
		{"Decode arp", func() { p.Decode(arp) }},
		{"Decode icmp error", func() { p.Decode(icmpErr) }},
		{"SetDst tcp", func() { p.Decode(tcp); p.SetDst(tcp, rip) }},
		{"SetSrc udp", func() { p.Decode(udp); p.SetSrc(udp, vip) }},
		{"SetDst partial", func() { pb.Partial = true; pb.SetDst(big, cip) }},
		{"SetInnerSrc", func() { pi.SetInnerSrc(icmpErr, rip) }},
		{"DecTTL", func() { frame.IPv4(tcp[14:]).SetTTL(64); frame.IPv4(tcp[14:]).DecTTL() }},
		{"view setters", func() {
			ip, tv := frame.IPv4(tcp[14:]), frame.TCP(tcp[34:])
			ip.SetSrc(nat)
			tv.UpdateAddr(cip.Addr(), nat)
			tv.SetSrcPort(1)
			frame.Ethernet(tcp).SetDst(mac1)
		}},
		{"checksums", func() {
			frame.IPv4(tcp[14:]).UpdateChecksum()
			frame.TCP(tcp[34:]).UpdateChecksum(frame.IPv4(tcp[14:]))
		}},
		{"CompletePartial", func() { frame.CompletePartial(big[:pb.End], pb.L4, frame.TCPChecksumOffset) }},
		{"Segment", func() { frame.Segment(segs, big, &pb, 1448) }},
		{"ToEchoReply", func() { frame.ToEchoReply(echo, &pe, 64) }},
		{"PutICMPError", func() { p.Decode(tcp); frame.PutICMPError(out, tcp, &p, 3, 4, 1400, nat, mac1) }},
		{"PutARPReply", func() { frame.PutARPReply(out, frame.ARP(arp[14:]), mac1, vip.Addr()) }},
		{"Decode ipv6 tcp with extension headers", func() { p6.Decode(tcp6) }},
		{"Decode ipv6 fragment", func() { p6.Decode(frag6) }},
		{"Decode icmpv6 error", func() { p6.Decode(err6) }},
		{"Decode neighbour solicitation", func() { p6.Decode(ns) }},
		{"SetDst ipv6 tcp", func() { p6.Decode(tcp6); p6.SetDst(tcp6, rip6) }},
		{"SetDst ipv6 partial", func() { p6.Decode(tcp6); p6.Partial = true; p6.SetDst(tcp6, vip6) }},
		{"SetInnerSrc ipv6", func() { pi6.SetInnerSrc(err6, rip6) }},
		{"DecHopLimit", func() { frame.IPv6(tcp6[14:]).SetHopLimit(64); frame.IPv6(tcp6[14:]).DecHopLimit() }},
		{"ToEchoReply ipv6", func() { frame.ToEchoReply(echo6, &pe6, 64) }},
		{"PutICMPv6Error", func() {
			p6.Decode(tcp6)
			if frame.PutICMPv6Error(out6, tcp6, &p6, frame.ICMPv6PacketTooBig, 0, 1280, nat6, mac1) == 0 {
				panic("no error")
			}
		}},
		{"NeighborMessage and PutNeighborAdvert", func() {
			nd, ok := frame.NeighborMessage(ns, &pn)
			if !ok || frame.PutNeighborAdvert(out6, ns, &pn, nd, mac1, frame.NAOverride) == 0 {
				panic("no advertisement")
			}
		}},
		{"PutUnsolicitedNA", func() { frame.PutUnsolicitedNA(out6, mac1, vip6.Addr(), 0) }},
		{"PutNeighborSolicit", func() { frame.PutNeighborSolicit(out6, mac1, nat6, rip6.Addr()) }},
		{"Segment ipv6", func() { frame.Segment(segs, big6, &pb6, 1428) }},
		{"EncapIP6IP6", func() {
			copy(tun6[frame.IP6IP6Inner:], tcp6[14:])
			if frame.EncapIP6IP6(tun6, len(tcp6)-14, mac1, mac1, nat6, rip6.Addr()) == 0 {
				panic("EncapIP6IP6 refused")
			}
		}},
		{"SolicitedNode", func() { frame.MulticastMAC(frame.SolicitedNode(rip6.Addr())) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
				t.Errorf("%s allocs = %v, want 0", tt.name, n)
			}
		})
	}
}
