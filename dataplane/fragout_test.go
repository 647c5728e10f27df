package dataplane_test

import (
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// A datagram bigger than the egress MTU goes out in fragments when DF is
// clear (as IPVS hands it to ip_fragment), in both NAT directions, and is
// answered with "fragmentation needed" when DF is set.
func TestOversizeFragmentsWithoutDF(t *testing.T) {
	s := newSite(t, "rr")
	addUDP(t, s)
	s.prv.MTU, s.pub.MTU = 1400, 1400
	client := netip.MustParseAddrPort("203.0.113.9:5353")
	svc := netip.AddrPortFrom(vip, 53)
	payload := make([]byte, 3000)
	for i := range payload {
		payload[i] = byte(i)
	}
	out := s.run(0, frametest.UDP(client, svc, payload))
	if len(out[1]) != 3 {
		t.Fatalf("3,028-byte datagram to a 1,400-byte MTU: %d frames to the real servers, want 3 fragments", len(out[1]))
	}
	var got, head []byte
	var rs netip.AddrPort
	for i, f := range out[1] {
		h := frame.IPv4(f[frame.EthernetLen:])
		if !h.ValidChecksum() || h.TotalLen() > 1400 || h.FragOffset() != len(got) || h.MF() != (i < 2) || h.TTL() != 63 {
			t.Errorf("fragment %d: checksum ok %v, length %d, offset %d, MF %v, TTL %d", i, h.ValidChecksum(), h.TotalLen(), h.FragOffset(), h.MF(), h.TTL())
		}
		if i == 0 {
			frametest.Check(t, f, frametest.SrcAddr(client.Addr()))
			rs = netip.AddrPortFrom(h.Dst(), 53)
			head = append(head, f[:frame.EthernetLen+frame.IPv4MinLen]...)
		}
		got = append(got, h[frame.IPv4MinLen:h.TotalLen()]...)
	}
	// Reassembled, the datagram is the client's, translated: its UDP
	// checksum holds over the new addresses.
	whole := append(head, got...)
	ip := frame.IPv4(whole[frame.EthernetLen:])
	ip.SetTotalLen(frame.IPv4MinLen + len(got))
	whole[frame.EthernetLen+6], whole[frame.EthernetLen+7] = 0, 0 // no longer a fragment
	ip.UpdateChecksum()
	frametest.Check(t, whole, frametest.DstAddr(rs.Addr()), frametest.Len(frame.EthernetLen+3028), frametest.Payload(payload), frametest.SumsOK())
	// The reply, as big, goes back in fragments too.
	out = s.run(1, frametest.UDP(rs, client, payload))
	if len(out[0]) != 3 {
		t.Errorf("the real server's 3,028-byte reply: %d frames to the client, want 3 fragments", len(out[0]))
	}
	// With DF the client is told the MTU, and nothing is forwarded.
	out = s.run(0, frametest.UDP(client, svc, payload, frametest.WithDF()))
	if len(out[1]) != 0 || len(out[0]) != 1 {
		t.Fatalf("DF set: %d frames forwarded, %d answers; want 0 and 1 (fragmentation needed)", len(out[1]), len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPFragNeeded))
}
