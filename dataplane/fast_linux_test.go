package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/dataplane/fastpath"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// The workers and the real eBPF fast path together: the flow directions a
// worker installs are the ones the kernel program then forwards exactly as
// the Go path would, FIN takes a flow back, and expiry asks the program.
// The program runs through BPF_PROG_TEST_RUN on interface 1 (lo), so the
// test frames go to lo's all-zero MAC.

var lo = frame.MAC{}

func fastSite(t *testing.T) (*site, *fastpath.FastPath) {
	t.Helper()
	return fastSiteSched(t, "rr")
}

// fastSiteSched is fastSite with scheduler sched.
func fastSiteSched(t *testing.T, sched string) (*site, *fastpath.FastPath) {
	t.Helper()
	if testing.Short() {
		t.Skip("loads eBPF programs")
	}
	s := newSite(t, sched)
	fp, err := fastpath.Open(fastpath.Config{MaxFlows: 256, Slots: 1024})
	if err != nil {
		t.Skipf("skipped: %v (needs root and a kernel with BPF)", err)
	}
	t.Cleanup(func() { fp.Close() })
	s.pub.Ifindex, s.prv.Ifindex = 1, 1
	s.d.SetFastPath(fp)
	return s, fp
}

// simulate runs the fast path on f and reports whether it forwards it.
func simulate(t *testing.T, fp *fastpath.FastPath, f []byte) (bool, []byte) {
	t.Helper()
	fwd, out, err := fp.Simulate(f, 1)
	if err != nil {
		t.Fatal(err)
	}
	return fwd, out
}

func TestFastPathTakesEstablishedTCP(t *testing.T) {
	s, fp := fastSite(t)
	dst := lo
	syn := frametest.TCPSyn(client, web, frametest.WithDstMAC(dst))
	out := s.run(0, syn)
	if len(out[1]) != 1 {
		t.Fatalf("SYN: %d frames to the real servers, want 1", len(out[1]))
	}
	rs := parsed(out[1][0]).Dst
	// The real server's SYN-ACK goes back through the kernel: the worker
	// installed the reply direction with the SYN (offerSynAck).
	synAck := frametest.TCP(rs, client, frame.SYN|frame.ACK, nil, frametest.WithDstMAC(dst))
	fwd, got := simulate(t, fp, synAck)
	if !fwd {
		t.Fatal("the fast path does not forward the SYN-ACK of a connection the worker opened")
	}
	frametest.Check(t, got, frametest.SrcAddr(vip), frametest.SrcPort(80), frametest.DstAddr(client.Addr()),
		frametest.Flags(frame.SYN|frame.ACK), frametest.DstMAC(gwMAC), frametest.SumsOK())
	if fwd, _ := simulate(t, fp, frametest.TCP(rs, client, frame.SYN, nil, frametest.WithDstMAC(dst))); fwd {
		t.Fatal("the fast path forwards a bare SYN from a real server")
	}
	// The client's direction was installed with the SYN too
	// (synOfferable): its handshake ACK goes through the kernel, which
	// marks the handshake complete for the connection table.
	ack := frametest.TCP(client, web, frame.ACK, nil, frametest.WithDstMAC(dst))
	if fwd, got := simulate(t, fp, ack); !fwd {
		t.Fatal("the fast path does not forward the handshake's ACK of a connection the worker opened")
	} else {
		frametest.Check(t, got, frametest.DstAddr(rs.Addr()), frametest.DstPort(rs.Port()), frametest.SumsOK())
	}
	if acked, ok := fp.Acked(fastpath.Key{Src: client, Dst: web, Proto: frame.ProtoTCP}); !ok || !acked {
		t.Errorf("Acked = %v, %v after the client's ACK, want the handshake marked complete", acked, ok)
	}
	data := frametest.TCP(client, web, frame.ACK|frame.PSH, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithDstMAC(dst))
	fwd, got = simulate(t, fp, data)
	if !fwd {
		t.Fatal("the fast path does not forward an established flow's segment")
	}
	frametest.Check(t, got, frametest.DstAddr(rs.Addr()), frametest.DstPort(rs.Port()), frametest.SrcAddr(client.Addr()),
		frametest.TTL(63), frametest.SrcMAC(privMAC), frametest.SumsOK())
	if mac := frame.Ethernet(got).Dst(); mac != rip1MAC && mac != rip2MAC {
		t.Errorf("fast path sends to MAC %v, want a real server's", mac)
	}
	reply := frametest.TCP(rs, client, frame.ACK|frame.PSH, []byte("HTTP/1.0 200 OK\r\n\r\n"), frametest.WithDstMAC(dst))
	fwd, got = simulate(t, fp, reply)
	if !fwd {
		t.Fatal("the fast path does not forward the established reply direction")
	}
	frametest.Check(t, got, frametest.SrcAddr(vip), frametest.SrcPort(80), frametest.DstAddr(client.Addr()),
		frametest.DstPort(client.Port()), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC), frametest.SumsOK())
	if n := dataplane.Sum(&s.w.C).FastInstalls; n < 1 {
		t.Errorf("FastInstalls = %d on the public worker, want ≥ 1", n)
	}
	closesInKernel(t, s, fp, client, web, rs, data, reply, dst)
}

// closesInKernel sends an established connection's FINs (from client to
// virtual, then from the real server rs) through the fast path. FINs are
// forwarded and reported (fastpath's close.go), with no kernel scheduling
// at all: the worker steps the connection as IPVS does, the client's FIN
// to CLOSE_WAIT, leaving the half-closed flow in the fast path (data and
// reply still forwarded), the real server's to TIME_WAIT, taking it back.
func closesInKernel(t *testing.T, s *site, fp *fastpath.FastPath, client, virtual, rs netip.AddrPort, data, reply []byte, dst frame.MAC) {
	t.Helper()
	key := conntrack.Key{Proto: ipvs.TCP, Client: client, Virtual: virtual}
	for _, step := range []struct {
		src, dst netip.AddrPort
		flags    frame.TCPFlags
		state    conntrack.State
		offload  bool
	}{
		{client, virtual, frame.FIN | frame.ACK, conntrack.StateCloseWait, true},
		{rs, client, frame.FIN | frame.ACK, conntrack.StateTimeWait, false},
	} {
		seg := frametest.TCP(step.src, step.dst, step.flags, nil, frametest.WithDstMAC(dst))
		if fwd, _ := simulate(t, fp, seg); !fwd {
			t.Fatalf("the fast path does not forward an established flow's %v", step.flags)
		}
		before := dataplane.Sum(&s.w.C).Verdicts
		s.w.Process(nil, nil, time.Now())
		if after := dataplane.Sum(&s.w.C).Verdicts; after != before {
			t.Errorf("%v: the worker handled frames (%v → %v); the segment was the fast path's", step.flags, before, after)
		}
		c, ok := s.d.CT.Lookup(key)
		if !ok || c.State() != step.state {
			t.Fatalf("after %v: live %v, state %v; want %v", step.flags, ok, c.State(), step.state)
		}
		if in, out := c.Offloaded(); in != step.offload || out != step.offload {
			t.Errorf("after %v: offloaded %v/%v, want %v", step.flags, in, out, step.offload)
		}
		for _, f := range [][]byte{data, reply} {
			if fwd, _ := simulate(t, fp, f); fwd != step.offload {
				t.Errorf("after %v the fast path forwards %v: %v, want %v", step.flags, parsed(f).Src, fwd, step.offload)
			}
		}
	}
}

func TestFastPathKeepsIdleCheckedFlows(t *testing.T) {
	s, fp := fastSite(t)
	addUDP(t, s)
	keepsIdleCheckedFlows(t, s, fp, netip.AddrPortFrom(vip, 53),
		netip.MustParseAddrPort("203.0.113.8:5000"), netip.MustParseAddrPort("203.0.113.9:5000"))
}

// keepsIdleCheckedFlows installs UDP flows from busy and idle to svc, sends
// more of busy's through the fast path only, and checks that expiry asks
// the fast path: the busy flow stays, the idle one goes and is withdrawn.
func keepsIdleCheckedFlows(t *testing.T, s *site, fp *fastpath.FastPath, svc, busy, idle netip.AddrPort) {
	t.Helper()
	s.d.CT.SetTimeouts(0, 0, 5*time.Second)
	past := time.Now().Add(-10 * time.Second)
	for _, c := range []netip.AddrPort{busy, idle} {
		for range 4 { // installed from the fourth packet on
			s.w.Process([][]byte{frametest.UDP(c, svc, []byte("q"), frametest.WithDstMAC(lo))}, make([]dataplane.Meta, 1), past)
		}
	}
	// Only the busy flow's packets go through the kernel since then.
	if fwd, _ := simulate(t, fp, frametest.UDP(busy, svc, []byte("q"), frametest.WithDstMAC(lo))); !fwd {
		t.Fatal("the fast path does not forward an installed UDP flow")
	}
	s.d.CT.Expire(s.d.Tick(time.Now()), 1<<20)
	for _, tt := range []struct {
		c    netip.AddrPort
		live bool
	}{{busy, true}, {idle, false}} {
		_, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.UDP, Client: tt.c, Virtual: svc})
		if ok != tt.live {
			t.Errorf("flow from %v in the table after expiry: %v, want %v", tt.c, ok, tt.live)
		}
		fwd, _ := simulate(t, fp, frametest.UDP(tt.c, svc, []byte("q"), frametest.WithDstMAC(lo)))
		if fwd != tt.live {
			t.Errorf("fast path forwards %v after expiry: %v, want %v", tt.c, fwd, tt.live)
		}
	}
}

func parsed(f []byte) *frame.Parsed {
	var p frame.Parsed
	p.Decode(f)
	return &p
}

// TestSynAckOfferStopsUnderSYNFlood: while the table holds more half-open
// connections than a real connection rate keeps, a SYN's reply direction
// is no longer installed with it (a flood's SYN-ACKs would each cost an
// install, a look and a withdrawal); below that it is.
// TestHandshakeEstablishedAtItsACK: a connection the Go path schedules
// (wlc, the guide's default, which the program cannot run) has its client
// direction installed with its SYN, so its handshake's ACK is the fast
// path's; the program reports it (fastpath's ackReport) and the next
// worker batch steps the connection to ESTABLISHED (its timeout, what
// `lvsadm -L -c` shows and what the sync daemon sends the backup), as
// IPVS steps it on that ACK, not seconds later when the sweep asks. Both
// states count active, as in IPVS (tcp_state_active).
func TestHandshakeEstablishedAtItsACK(t *testing.T) {
	s, fp := fastSiteSched(t, "wlc")
	out := s.run(0, frametest.TCPSyn(client, web, frametest.WithDstMAC(lo)))
	if len(out[1]) != 1 {
		t.Fatalf("SYN: %d frames to the real servers, want 1", len(out[1]))
	}
	rs := parsed(out[1][0]).Dst
	key := conntrack.Key{Proto: ipvs.TCP, Client: client, Virtual: web}
	var dst *ipvs.Dest
	for _, d := range s.d.State().Table.Lookup(ipvs.TCP, vip, 80).Dests {
		if d.Addr == rs.Addr() {
			dst = d
		}
	}
	if dst == nil {
		t.Fatalf("no real server %v", rs)
	}
	counts := func() (int32, int32, int64) { return dst.C.Active.Load(), dst.C.Inactive.Load(), dst.C.SchedOverhead() }
	if c, ok := s.d.CT.Lookup(key); !ok || c.State() != conntrack.StateSynRecv {
		t.Fatalf("after the SYN: live %v, state %v; want SYN_RECV", ok, c.State())
	}
	if a, i, o := counts(); a != 1 || i != 0 || o != 256 {
		t.Fatalf("after the SYN: active %d, inactive %d, overhead %d; want 1, 0, 256", a, i, o)
	}
	ack := frametest.TCP(client, web, frame.ACK, nil, frametest.WithDstMAC(lo))
	if fwd, _ := simulate(t, fp, ack); !fwd {
		t.Fatal("the fast path does not forward the handshake's ACK")
	}
	s.w.Process(nil, nil, time.Now()) // a worker's next batch drains the ring first
	if c, ok := s.d.CT.Lookup(key); !ok || c.State() != conntrack.StateEstablished {
		t.Errorf("after the ACK and a worker batch: live %v, state %v; want ESTABLISHED", ok, c.State())
	}
	if a, i, o := counts(); a != 1 || i != 0 || o != 256 {
		t.Errorf("after the ACK: active %d, inactive %d, overhead %d; want 1, 0, 256", a, i, o)
	}
}

func TestSynAckOfferStopsUnderSYNFlood(t *testing.T) {
	s, fp := fastSite(t)
	installs := func() uint64 { return dataplane.Sum(&s.w.C).FastInstalls }
	flood := make([][]byte, 0, 64)
	sent := 0
	for s.d.CT.HalfOpen() <= 4096 {
		flood = flood[:0]
		for range 64 {
			sent++
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64, byte(sent >> 8), byte(sent)}), uint16(1024+sent))
			flood = append(flood, frametest.TCPSyn(src, web, frametest.WithDstMAC(lo)))
		}
		s.run(0, flood...)
		if sent > 10000 {
			t.Fatalf("%d SYNs sent, %d half-open", sent, s.d.CT.HalfOpen())
		}
	}
	before := installs()
	other := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.77"), 40000)
	out := s.run(0, frametest.TCPSyn(other, web, frametest.WithDstMAC(lo)))
	if len(out[1]) != 1 {
		t.Fatalf("SYN under the flood: %d frames to the real servers, want 1", len(out[1]))
	}
	if got := installs() - before; got != 0 {
		t.Errorf("SYN with %d half-open connections: %d fast-path installs, want none", s.d.CT.HalfOpen(), got)
	}
	rs := parsed(out[1][0]).Dst
	if fwd, _ := simulate(t, fp, frametest.TCP(rs, other, frame.SYN|frame.ACK, nil, frametest.WithDstMAC(lo))); fwd {
		t.Error("the fast path forwards the SYN-ACK of a SYN that arrived during a flood")
	}
	if fwd, _ := simulate(t, fp, frametest.TCP(other, web, frame.ACK, nil, frametest.WithDstMAC(lo))); fwd {
		t.Error("the fast path forwards the client's ACK of a SYN that arrived during a flood")
	}
}

// TestEvictedFlowOfferedAgain: an established TCP connection's direction
// the fast path lost while the table still marks it offloaded (its LRU
// map evicted it) is installed again by the worker its frames reach, not
// left on the Go path to the connection's end; a frame of a direction the
// fast path still holds (punted for a reason of its own) installs nothing.
// (A UDP flow's frame on the Go path takes the flow back from the fast
// path anyway, and offers it again: leaveFast.)
func TestEvictedFlowOfferedAgain(t *testing.T) {
	s, fp := fastSite(t)
	data := func() []byte { // a worker rewrites the frame it forwards
		return frametest.TCP(client, web, frame.ACK|frame.PSH, []byte("GET"), frametest.WithDstMAC(lo))
	}
	if out := s.run(0, frametest.TCPSyn(client, web, frametest.WithDstMAC(lo))); len(out[1]) != 1 {
		t.Fatalf("SYN: %d frames to the real servers, want 1", len(out[1]))
	}
	if fwd, _ := simulate(t, fp, frametest.TCP(client, web, frame.ACK, nil, frametest.WithDstMAC(lo))); !fwd {
		t.Fatal("the fast path does not forward the handshake's ACK")
	}
	installs := dataplane.Sum(&s.w.C).FastInstalls
	// A segment the program punted although it holds the connection (the
	// batch first learns the handshake completed: ESTABLISHED).
	s.run(0, data())
	if got := dataplane.Sum(&s.w.C); got.FastEvicted != 0 || got.FastInstalls != installs {
		t.Errorf("a segment of a held connection: evicted %d, installs %d → %d; want nothing done", got.FastEvicted, installs, got.FastInstalls)
	}
	if err := fp.Withdraw(fastpath.Key{Src: client, Dst: web, Proto: frame.ProtoTCP}); err != nil { // as the LRU evicts: the table is not told
		t.Fatal(err)
	}
	if fwd, _ := simulate(t, fp, data()); fwd {
		t.Fatal("the fast path forwards a connection it no longer holds")
	}
	// The worker finds it gone at the next segment, and offers it again
	// from the connection's fourth client packet on, as any.
	for range 2 {
		if out := s.run(0, data()); len(out[1]) != 1 {
			t.Fatalf("the evicted connection's segment: %d frames to the real servers, want 1", len(out[1]))
		}
	}
	if got := dataplane.Sum(&s.w.C); got.FastEvicted != 1 || got.FastInstalls != installs+1 {
		t.Errorf("after the evicted connection's segments: evicted %d, installs %d → %d; want 1 and one more", got.FastEvicted, installs, got.FastInstalls)
	}
	if fwd, _ := simulate(t, fp, data()); !fwd {
		t.Error("the fast path does not forward the evicted connection again")
	}
}
