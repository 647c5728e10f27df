package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/frame"
	"lvs/internal/frametest"
)

// TestUnresolvedDestinationHeldUntilNA6: a client's first SYN to an IPv6
// real server nobody resolved waits for the neighbour advertisement, then
// leaves through the control link translated, with the server's MAC; the
// next SYN goes straight out.
func TestUnresolvedDestinationHeldUntilNA6(t *testing.T) {
	s := newSite6(t, 4096)
	s.prv.Neigh.Want(nil) // forget every real server
	ml, ctl := ctlLinks(2)
	t0 := time.Now()
	syn := func(port uint16) []byte {
		return frametest.TCP(netip.AddrPortFrom(client6.Addr(), port), web6, frame.SYN, nil,
			frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC), frametest.WithTTL(64))
	}
	out := s.run(0, syn(40001))
	if len(out[1]) != 0 {
		t.Fatalf("SYN to a server without a MAC: %d frames sent at once, want 0 (held)", len(out[1]))
	}
	if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropNoNeigh] != 0 || c.Verdicts[dataplane.Forward] != 1 {
		t.Fatalf("SYN not held (counters %+v)", c)
	}
	if due := s.prv.Neigh.Due(nil, t0); len(due) != 1 || due[0] != rip61 {
		t.Fatalf("Due after the miss = %v, want [%v]", due, rip61)
	}
	s.d.SendHeld(t0, ml)
	if got := ctl[1].Sent(); len(got) != 0 {
		t.Fatalf("SendHeld before the advertisement sent %d frames", len(got))
	}
	// The solicited advertisement comes in on the private side.
	s.run(1, frametest.NeighborAdvert(rip1MAC, rip61, privMAC, routerPrv6, frame.NASolicited|frame.NAOverride))
	s.d.SendHeld(t0.Add(100*time.Millisecond), ml)
	got := ctl[1].Sent()
	if len(got) != 1 {
		t.Fatalf("SendHeld after the advertisement sent %d frames on the private port, want 1", len(got))
	}
	frametest.Check(t, got[0], frametest.DstAddr(rip61), frametest.DstPort(8080), frametest.SrcAddr(client6.Addr()),
		frametest.TTL(63), frametest.SumsOK(), frametest.DstMAC(rip1MAC), frametest.SrcMAC(privMAC))
	if c := dataplane.Sum(&s.w.C); c.TX != 1 {
		t.Errorf("TX = %d after the held frame went, want 1", c.TX)
	}
	// Resolved now: the next client's SYN (to the other server, also
	// unresolved) is held while rip61's traffic goes straight out.
	out = s.run(0, syn(40002))
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
	got = ctl[1].Sent()
	if len(got) != 1 {
		t.Fatalf("SendHeld after rip62's advertisement sent %d frames, want 1", len(got))
	}
	frametest.Check(t, got[0], frametest.DstAddr(rip62), frametest.DstMAC(rip2MAC), frametest.SumsOK())
}

// TestHeldFramesBoundedAndTimedOut6: HoldPerHop frames wait per IPv6 next
// hop, and go as neighbour_failed after HoldTimeout.
func TestHeldFramesBoundedAndTimedOut6(t *testing.T) {
	s := newSite6(t, 4096)
	s.prv.Neigh.Want(nil)
	ml, ctl := ctlLinks(2)
	t0 := time.Now()
	var frames [][]byte
	for i := range 5 {
		frames = append(frames, frametest.UDP(netip.AddrPortFrom(client6.Addr(), uint16(41000+i)), netip.AddrPortFrom(vip6, 53), []byte("q"),
			frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC)))
	}
	s.run(0, frames...)
	c := dataplane.Sum(&s.w.C)
	if c.Drops[dataplane.DropNeighQueueFull] != 2 || c.Drops[dataplane.DropNoNeigh] != 0 {
		t.Fatalf("drops after 5 held frames: queue_full %d no_neighbour %d, want 2 and 0",
			c.Drops[dataplane.DropNeighQueueFull], c.Drops[dataplane.DropNoNeigh])
	}
	s.d.SendHeld(t0.Add(dataplane.HoldTimeout-time.Millisecond), ml)
	if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropNeighFailed] != 0 {
		t.Fatalf("dropped before HoldTimeout: %d", c.Drops[dataplane.DropNeighFailed])
	}
	s.d.SendHeld(t0.Add(dataplane.HoldTimeout+time.Millisecond), ml)
	if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropNeighFailed] != 3 {
		t.Fatalf("neighbour_failed after HoldTimeout = %d, want 3", c.Drops[dataplane.DropNeighFailed])
	}
	s.prv.Neigh.Due(nil, t0)
	s.run(1, frametest.NeighborAdvert(rip1MAC, rip61, privMAC, routerPrv6, frame.NASolicited|frame.NAOverride))
	s.d.SendHeld(t0.Add(dataplane.HoldTimeout+time.Second), ml)
	if got := ctl[1].Sent(); len(got) != 0 {
		t.Errorf("SendHeld sent %d timed-out frames", len(got))
	}
}

// TestHoldNoAllocs6: holding an IPv6 frame does not allocate.
func TestHoldNoAllocs6(t *testing.T) {
	s := newSite6(t, 4096)
	s.prv.Neigh.Want(nil)
	syn := frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
	frames, meta := [][]byte{nil}, make([]dataplane.Meta, 1)
	buf := make([]byte, len(syn))
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, syn)
		frames[0] = buf
		s.w.Process(frames, meta, now)
	}); n != 0 {
		t.Fatalf("Process of an IPv6 frame held for its neighbour allocs = %v, want 0", n)
	}
	if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropNeighQueueFull] == 0 || c.Drops[dataplane.DropNoNeigh] != 0 {
		t.Errorf("the frames were not held (counters %+v)", c)
	}
}
