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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
				t.Errorf("%s allocs = %v, want 0", tt.name, n)
			}
		})
	}
}
