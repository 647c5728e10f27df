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

// neighFamily is one address family's side of the neighbour queue tests:
// a site where a service's first connection goes to a next hop nobody
// resolved, and the frames that reach it.
type neighFamily struct {
	name   string
	site   func(t *testing.T) *site // with hop unresolved
	hop    netip.Addr
	hopMAC frame.MAC
	client netip.Addr
	dport  uint16 // hop's port of the service syn connects to
	answer []byte // hop's ARP reply or neighbour advertisement
	syn    func(port uint16) []byte
	held   func(i int) []byte // the i'th of frames from clients that all wait for hop
}

// neighFamilies are IPv4 (the sorry server of withSorry) and IPv6
// (newSite6 with every real server forgotten, rip61 first by rr).
func neighFamilies() []neighFamily {
	return []neighFamily{{
		name: "IPv4", hop: sorry, hopMAC: sorryMAC, client: client.Addr(), dport: 80,
		site: func(t *testing.T) *site {
			s := newSite(t, "rr")
			withSorry(t, s)
			return s
		},
		answer: frametest.ARPReply(sorryMAC, sorry, privMAC, netip.MustParseAddr("10.11.12.9")),
		syn: func(port uint16) []byte {
			return frametest.TCP(netip.AddrPortFrom(client.Addr(), port), web81, frame.SYN, nil,
				frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC), frametest.WithTTL(64))
		},
		// A client's first SYN and its retransmissions, or five clients.
		held: func(i int) []byte {
			return frametest.TCP(netip.AddrPortFrom(client.Addr(), uint16(41000+i)), web81, frame.SYN, nil,
				frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
		},
	}, {
		name: "IPv6", hop: rip61, hopMAC: rip1MAC, client: client6.Addr(), dport: 8080,
		site: func(t *testing.T) *site {
			s := newSite6(t, 4096)
			s.prv.Neigh.Want(nil) // forget every real server
			return s
		},
		answer: frametest.NeighborAdvert(rip1MAC, rip61, privMAC, routerPrv6, frame.NASolicited|frame.NAOverride),
		syn: func(port uint16) []byte {
			return frametest.TCP(netip.AddrPortFrom(client6.Addr(), port), web6, frame.SYN, nil,
				frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC), frametest.WithTTL(64))
		},
		// UDP 53 has rip61 alone (web6's rr would spread SYNs over two hops).
		held: func(i int) []byte {
			return frametest.UDP(netip.AddrPortFrom(client6.Addr(), uint16(41000+i)), netip.AddrPortFrom(vip6, 53), []byte("q"),
				frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
		},
	}}
}

// heldUntilAnswer checks a client's first SYN to fam's unresolved next hop:
// it is held, not dropped; the control loop is asked to resolve the hop;
// SendHeld sends nothing before the answer and the SYN, translated and
// with the hop's MAC, after it. It returns the site and control links for
// the family's own continuation.
func heldUntilAnswer(t *testing.T, fam neighFamily, t0 time.Time) (*site, []dataplane.MetaLink, []*linktest.Link) {
	t.Helper()
	s := fam.site(t)
	ml, ctl := ctlLinks(2)
	out := s.run(0, fam.syn(40001))
	if len(out[1]) != 0 {
		t.Fatalf("SYN to a server without a MAC: %d frames sent at once, want 0 (held)", len(out[1]))
	}
	if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropNoNeigh] != 0 || c.Verdicts[dataplane.Forward] != 1 {
		t.Fatalf("SYN not held (counters %+v)", c)
	}
	// The control loop probes the address the miss asked for, at once.
	if due := s.prv.Neigh.Due(nil, t0); len(due) != 1 || due[0] != fam.hop {
		t.Fatalf("Due after the miss = %v, want [%v]", due, fam.hop)
	}
	s.d.SendHeld(t0, ml) // not answered yet: nothing goes
	if got := ctl[1].Sent(); len(got) != 0 {
		t.Fatalf("SendHeld before the answer sent %d frames", len(got))
	}
	// The answer comes in on the private side (another worker).
	s.run(1, fam.answer)
	s.d.SendHeld(t0.Add(100*time.Millisecond), ml)
	got := ctl[1].Sent()
	if len(got) != 1 {
		t.Fatalf("SendHeld after the answer sent %d frames on the private port, want 1", len(got))
	}
	frametest.Check(t, got[0], frametest.DstAddr(fam.hop), frametest.DstPort(fam.dport), frametest.SrcAddr(fam.client),
		frametest.TTL(63), frametest.SumsOK(), frametest.DstMAC(fam.hopMAC), frametest.SrcMAC(privMAC))
	if c := dataplane.Sum(&s.w.C); c.TX != 1 {
		t.Errorf("TX = %d after the held frame went, want 1", c.TX)
	}
	return s, ml, ctl
}

// TestUnresolvedDestinationHeldUntilARPReply: heldUntilAnswer for the
// sorry server; resolved, the next SYN goes straight out of the worker.
func TestUnresolvedDestinationHeldUntilARPReply(t *testing.T) {
	t0 := time.Now()
	s, ml, ctl := heldUntilAnswer(t, neighFamilies()[0], t0)
	if out := s.run(0, neighFamilies()[0].syn(40002)); len(out[1]) != 1 {
		t.Errorf("SYN to a resolved server: %d frames sent, want 1", len(out[1]))
	}
	s.d.SendHeld(t0.Add(200*time.Millisecond), ml)
	if got := ctl[1].Sent(); len(got) != 0 {
		t.Errorf("SendHeld sent %d frames a second time", len(got))
	}
}

// TestHeldFramesBoundedAndTimedOut: HoldPerHop frames wait per next hop
// (three are kept, the oldest go), and go as neighbour_failed after
// HoldTimeout; an answer after it finds nothing left to send.
func TestHeldFramesBoundedAndTimedOut(t *testing.T) {
	for _, fam := range neighFamilies() {
		t.Run(fam.name, func(t *testing.T) {
			s := fam.site(t)
			ml, ctl := ctlLinks(2)
			t0 := time.Now()
			var frames [][]byte
			for i := range 5 {
				frames = append(frames, fam.held(i))
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
			s.run(1, fam.answer)
			s.d.SendHeld(t0.Add(dataplane.HoldTimeout+time.Second), ml)
			if got := ctl[1].Sent(); len(got) != 0 {
				t.Errorf("SendHeld sent %d timed-out frames", len(got))
			}
		})
	}
}

func TestHoldNoAllocs(t *testing.T) {
	for _, fam := range neighFamilies() {
		t.Run(fam.name, func(t *testing.T) {
			s := fam.site(t)
			syn := fam.syn(40000)
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
		})
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
