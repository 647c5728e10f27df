package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/dataplane/linktest"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

var (
	sorry    = netip.MustParseAddr("10.11.12.4")
	sorryMAC = frame.MAC{0x02, 0, 0, 0, 1, 0x04}
	web81    = netip.AddrPortFrom(vip, 81)
)

// withSorry adds a service VIP:81 whose only destination is a server no
// neighbour table was told about, as when lvsd activates a sorry server or
// lvsadm -a adds one.
func withSorry(t *testing.T, s *site) {
	t.Helper()
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 81}
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}})
	if err == nil {
		tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: sorry, Port: 80, Method: ipvs.Masq, Weight: 1})
	}
	if err != nil {
		t.Fatal(err)
	}
	st := *s.d.State()
	st.Table = tb
	s.d.Publish(&st)
	s.table = tb
}

// ctlLinks are the daemon's control links in memory: SendHeld writes there.
func ctlLinks(n int) ([]dataplane.MetaLink, []*linktest.Link) {
	var ml []dataplane.MetaLink
	var ls []*linktest.Link
	for range n {
		l := linktest.New(linktest.Config{})
		ml, ls = append(ml, l), append(ls, l)
	}
	return ml, ls
}

func TestUnresolvedDestinationHeldUntilARPReply(t *testing.T) {
	s := newSite(t, "rr")
	withSorry(t, s)
	ml, ctl := ctlLinks(2)
	t0 := time.Now()
	syn := func(port uint16) []byte {
		return frametest.TCP(netip.AddrPortFrom(client.Addr(), port), web81, frame.SYN, nil,
			frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC), frametest.WithTTL(64))
	}
	out := s.run(0, syn(40001))
	if len(out[1]) != 0 {
		t.Fatalf("SYN to a server without a MAC: %d frames sent at once, want 0 (held)", len(out[1]))
	}
	if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropNoNeigh] != 0 {
		t.Fatalf("SYN dropped as no_neighbour; want it held (counters %+v)", c)
	}
	// The control loop probes the address the miss asked for, at once.
	if due := s.prv.Neigh.Due(nil, t0); len(due) != 1 || due[0] != sorry {
		t.Fatalf("Due after the miss = %v, want [%v]", due, sorry)
	}
	s.d.SendHeld(t0, ml) // not answered yet: nothing goes
	if got := ctl[1].Sent(); len(got) != 0 {
		t.Fatalf("SendHeld before the ARP reply sent %d frames", len(got))
	}
	// The reply comes in on the private side (another worker).
	s.run(1, frametest.ARPReply(sorryMAC, sorry, privMAC, netip.MustParseAddr("10.11.12.9")))
	s.d.SendHeld(t0.Add(100*time.Millisecond), ml)
	got := ctl[1].Sent()
	if len(got) != 1 {
		t.Fatalf("SendHeld after the ARP reply sent %d frames on the private port, want 1", len(got))
	}
	frametest.Check(t, got[0], frametest.DstAddr(sorry), frametest.DstPort(80), frametest.SrcAddr(client.Addr()),
		frametest.TTL(63), frametest.SumsOK())
	if e := frame.Ethernet(got[0]); e.Dst() != sorryMAC || e.Src() != privMAC {
		t.Errorf("held SYN sent from %v to %v, want %v to %v", e.Src(), e.Dst(), privMAC, sorryMAC)
	}
	if c := dataplane.Sum(&s.w.C); c.TX != 1 {
		t.Errorf("TX = %d after the held frame went, want 1", c.TX)
	}
	// Resolved now: the next SYN goes straight out of the worker.
	if out := s.run(0, syn(40002)); len(out[1]) != 1 {
		t.Errorf("SYN to a resolved server: %d frames sent, want 1", len(out[1]))
	}
	s.d.SendHeld(t0.Add(200*time.Millisecond), ml)
	if got := ctl[1].Sent(); len(got) != 0 {
		t.Errorf("SendHeld sent %d frames a second time", len(got))
	}
}

func TestHeldFramesBoundedAndTimedOut(t *testing.T) {
	s := newSite(t, "rr")
	withSorry(t, s)
	ml, ctl := ctlLinks(2)
	t0 := time.Now()
	// Five SYNs (a client's first and its retransmissions, or five
	// clients) wait for one neighbour: three are kept, the oldest go.
	var frames [][]byte
	for i := range 5 {
		frames = append(frames, frametest.TCP(netip.AddrPortFrom(client.Addr(), uint16(41000+i)), web81, frame.SYN, nil,
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
	// An answer after the timeout finds nothing left to send.
	s.prv.Neigh.Due(nil, t0)
	s.run(1, frametest.ARPReply(sorryMAC, sorry, privMAC, netip.MustParseAddr("10.11.12.9")))
	s.d.SendHeld(t0.Add(dataplane.HoldTimeout+time.Second), ml)
	if got := ctl[1].Sent(); len(got) != 0 {
		t.Errorf("SendHeld sent %d timed-out frames", len(got))
	}
}

func TestHoldNoAllocs(t *testing.T) {
	s := newSite(t, "rr")
	withSorry(t, s)
	syn := frametest.TCP(client, web81, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
	frames, meta := [][]byte{nil}, make([]dataplane.Meta, 1)
	buf := make([]byte, len(syn))
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, syn)
		frames[0] = buf
		s.w.Process(frames, meta, now)
	}); n != 0 {
		t.Fatalf("Process of a frame held for its neighbour allocs = %v, want 0", n)
	}
	if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropNeighQueueFull] == 0 || c.Drops[dataplane.DropNoNeigh] != 0 {
		t.Errorf("the frames were not held (counters %+v)", c)
	}
}

// The worker holds frames while the control side sends and expires them
// and the neighbour comes and goes: run with -race, every frame is
// accounted for (sent, or dropped with a counted reason).
func TestHeldFramesConcurrentWithSendHeld(t *testing.T) {
	s := newSite(t, "rr")
	withSorry(t, s)
	ml, _ := ctlLinks(2)
	const n = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		frames, meta := [][]byte{nil}, make([]dataplane.Meta, 1)
		for i := range n {
			frames[0] = frametest.TCP(netip.AddrPortFrom(client.Addr(), uint16(1024+i)), web81, frame.SYN, nil,
				frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
			s.w.Process(frames, meta, time.Now())
		}
	}()
	t0 := time.Now()
	for i := 0; ; i++ {
		select {
		case <-done:
			s.d.SendHeld(t0.Add(time.Hour), ml) // flush or expire what is left
			c := dataplane.Sum(&s.w.C)
			held := c.TX + c.Drops[dataplane.DropNeighFailed] + c.Drops[dataplane.DropNeighQueueFull] +
				c.Drops[dataplane.DropNoNeigh] + c.Drops[dataplane.DropTxError]
			if held != n || c.Verdicts[dataplane.Forward] != n {
				t.Errorf("%d SYNs: %d forwarded, %d accounted for (counters %+v)", n, c.Verdicts[dataplane.Forward], held, c)
			}
			return
		default:
		}
		s.prv.Neigh.Due(nil, t0)
		if i%2 == 0 {
			s.prv.Neigh.Learn(sorry, sorryMAC, time.Now())
		} else {
			s.prv.Neigh.Want(nil) // forgets it: the next SYNs miss again
		}
		s.d.SendHeld(time.Now(), ml)
	}
}
