package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/frame"
	"lvs/internal/frametest"
)

// TestUnresolvedDestinationHeldUntilNA6: heldUntilAnswer
// (neighqueue_test.go) for an IPv6 real server; resolved, rip61's traffic
// goes straight out while the next client's SYN, to the other server (also
// unresolved), is held until its own advertisement.
func TestUnresolvedDestinationHeldUntilNA6(t *testing.T) {
	t0 := time.Now()
	s, ml, ctl := heldUntilAnswer(t, neighFamilies()[1], t0)
	out := s.run(0, neighFamilies()[1].syn(40002))
	if len(out[1]) != 0 {
		t.Fatalf("SYN to rip62 (unresolved): %d frames sent at once", len(out[1]))
	}
	out = s.run(0, frametest.TCP(netip.AddrPortFrom(client6.Addr(), 40001), web6, frame.ACK, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("ACK to the resolved rip61: %d frames sent, want 1", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.DstMAC(rip1MAC))
	s.prv.Neigh.Due(nil, t0) // the control loop solicits it
	s.run(1, frametest.NeighborAdvert(rip2MAC, rip62, privMAC, routerPrv6, frame.NASolicited|frame.NAOverride))
	s.d.SendHeld(t0.Add(200*time.Millisecond), ml)
	got := ctl[1].Sent()
	if len(got) != 1 {
		t.Fatalf("SendHeld after rip62's advertisement sent %d frames, want 1", len(got))
	}
	frametest.Check(t, got[0], frametest.DstAddr(rip62), frametest.DstMAC(rip2MAC), frametest.SumsOK())
}
