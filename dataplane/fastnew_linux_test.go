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

// kernelUDPSite is fastSite with the rr UDP service of addUDP, whose new
// flows the fast path schedules; it returns that service's address.
func kernelUDPSite(t *testing.T) (*site, *fastpath.FastPath, netip.AddrPort) {
	t.Helper()
	s, fp := fastSite(t)
	addUDP(t, s)
	s.d.ScheduleInKernel(true, false)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	return s, fp, netip.AddrPortFrom(vip, 53)
}

// TestKernelScheduledUDPFlows: with UDP scheduled in the kernel, a UDP
// service's new flows are scheduled by the tcx program in rr order and
// forwarded without the worker; the worker's next batch adopts each into
// the connection table to the server the kernel picked, both directions
// offloaded and counted. A flow the worker schedules itself (a punted
// datagram) is claimed in the fast path from its first datagram, so the
// filter does not schedule its next one elsewhere.
func TestKernelScheduledUDPFlows(t *testing.T) {
	s, fp, svc := kernelUDPSite(t)
	client := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), uint16(6000+i))
	}
	datagram := func(c netip.AddrPort) []byte { return frametest.UDP(c, svc, []byte("q"), frametest.WithDstMAC(lo)) }
	picks := map[netip.AddrPort]netip.AddrPort{}
	var order []netip.Addr
	for i := range 4 {
		d := datagram(client(i))
		fwd, out := simulate(t, fp, d)
		if !fwd {
			t.Fatalf("flow %d: tcx does not forward the datagram the filter scheduled", i)
		}
		picks[client(i)] = parsed(out).Dst
		order = append(order, parsed(out).Dst.Addr())
	}
	if order[0] == order[1] || order[0] != order[2] || order[1] != order[3] {
		t.Errorf("kernel picks %v, want rr's alternation", order)
	}
	s.w.Process(nil, nil, time.Now()) // the next batch adopts first
	for c, real := range picks {
		conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.UDP, Client: c, Virtual: svc})
		if !ok {
			t.Fatalf("flow from %v not adopted", c)
		}
		if conn.Real() != real {
			t.Errorf("flow from %v adopted to %v, the kernel sent it to %v", c, conn.Real(), real)
		}
		if in, out := conn.Offloaded(); !in || !out {
			t.Errorf("flow from %v offloaded %v/%v, want both directions", c, in, out)
		}
	}
	if n := dataplane.Sum(&s.w.C).FastInstalls; n != 4 {
		t.Errorf("FastInstalls = %d after adopting, want 4", n)
	}
	var counted int32
	for _, d := range s.d.State().Table.Lookup(ipvs.UDP, vip, 53).Dests {
		counted += d.C.Active.Load() + d.C.Inactive.Load()
	}
	if counted != 4 {
		t.Errorf("the real servers count %d connections, want the 4 adopted", counted)
	}

	// A datagram the worker gets (punted: here handed to it directly) is
	// scheduled in Go and claimed at once.
	c := client(10)
	out := s.run(0, datagram(c))
	if len(out[1]) != 1 {
		t.Fatalf("the worker sent %d frames to the real servers, want 1", len(out[1]))
	}
	goPick := parsed(out[1][0]).Dst
	if n := dataplane.Sum(&s.w.C).FastInstalls; n != 5 {
		t.Errorf("FastInstalls = %d after the worker's flow, want 5 (its claim)", n)
	}
	fwd, got := simulate(t, fp, datagram(c))
	if a, r := s.d.AdoptNewFlows(s.d.Tick(time.Now())); a+r != 0 {
		t.Errorf("the fast path scheduled the worker's flow again (%d adopted, %d refused)", a, r)
	}
	if !fwd || parsed(got).Dst != goPick {
		t.Errorf("the flow's next datagram forwarded %v to %v, want to the worker's pick %v", fwd, parsed(got).Dst, goPick)
	}
	s.w.Process(nil, nil, time.Now())
	if conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.UDP, Client: c, Virtual: svc}); !ok || conn.Real() != goPick {
		t.Errorf("the worker's flow is now to %v (live %v), want %v", conn.Real(), ok, goPick)
	}
}

// TestRescheduledUDPFlowKeepsItsServer: a UDP flow whose entries left the
// fast path (evicted from the full LRU map; withdrawn here) and that the
// socket filter then schedules to another real server keeps the server
// its connection entry has, as in IPVS: the worker's adoption puts that
// server's entries back and takes the kernel's reply direction away.
func TestRescheduledUDPFlowKeepsItsServer(t *testing.T) {
	s, fp, svc := kernelUDPSite(t)
	c := netip.MustParseAddrPort("203.0.113.9:7000")
	datagram := func(c netip.AddrPort) []byte { return frametest.UDP(c, svc, []byte("q"), frametest.WithDstMAC(lo)) }
	schedule := func(c netip.AddrPort) netip.AddrPort {
		t.Helper()
		fwd, out := simulate(t, fp, datagram(c))
		if !fwd {
			t.Fatalf("flow from %v not forwarded", c)
		}
		return parsed(out).Dst
	}
	first := schedule(c)
	s.w.Process(nil, nil, time.Now())
	key := conntrack.Key{Proto: ipvs.UDP, Client: c, Virtual: svc}
	// Evicted: both directions gone from the fast path, the entry held.
	fp.Withdraw(fastpath.Key{Src: c, Dst: svc, Proto: frame.ProtoUDP})
	fp.Withdraw(fastpath.Key{Src: first, Dst: c, Proto: frame.ProtoUDP})
	again := schedule(c) // rr: the other server
	if again == first {
		t.Fatalf("the kernel picked %v twice in a row; the test needs rr's alternation", first)
	}
	s.w.Process(nil, nil, time.Now())
	conn, ok := s.d.CT.Lookup(key)
	if !ok || conn.Real() != first {
		t.Fatalf("after the re-schedule the flow is to %v (live %v), want still %v", conn.Real(), ok, first)
	}
	if fwd, out := simulate(t, fp, datagram(c)); !fwd || parsed(out).Dst != first {
		t.Errorf("the flow's next datagram forwarded %v to %v, want to %v", fwd, parsed(out).Dst, first)
	}
	answer := func(from netip.AddrPort) []byte { return frametest.UDP(from, c, []byte("a"), frametest.WithDstMAC(lo)) }
	if fwd, out := simulate(t, fp, answer(first)); !fwd || parsed(out).Src != svc {
		t.Errorf("the kept server's answer: forwarded %v from %v, want from %v", fwd, parsed(out).Src, svc)
	}
	if fwd, _ := simulate(t, fp, answer(again)); fwd {
		t.Error("the kernel's reply direction from the server it picked is still there")
	}
	var counted int32
	for _, d := range s.d.State().Table.Lookup(ipvs.UDP, vip, 53).Dests {
		counted += d.C.Active.Load() + d.C.Inactive.Load()
	}
	if counted != 1 {
		t.Errorf("the real servers count %d connections, want the one flow", counted)
	}
}

// TestKernelForwardedRSTClosesTheConnection: a TCP connection the fast
// path scheduled is closed by an RST the fast path forwards (from the
// client, and from the real server on another connection): the worker's
// next batch takes the report, the entry goes to CLOSE with the real
// server's count moved to inactive, and the flow leaves the fast path
// (its next segment is punted) — without the Go path seeing the RST.
func TestKernelForwardedRSTClosesTheConnection(t *testing.T) {
	s, fp := fastSite(t)
	s.d.ScheduleInKernel(true, true)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	open := func(c netip.AddrPort) conntrack.Conn {
		t.Helper()
		syn := frametest.TCPSyn(c, web, frametest.WithDstMAC(lo))
		if fwd, _ := simulate(t, fp, syn); !fwd {
			t.Fatalf("SYN from %v not forwarded", c)
		}
		ack := frametest.TCP(c, web, frame.ACK, nil, frametest.WithDstMAC(lo))
		simulate(t, fp, ack)
		s.w.Process(nil, nil, time.Now()) // adopts
		conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: c, Virtual: web})
		if !ok {
			t.Fatalf("connection from %v not adopted", c)
		}
		return conn
	}
	inactive := func() (n int32) {
		for _, d := range s.d.State().Table.Lookup(ipvs.TCP, vip, 80).Dests {
			n += d.C.Inactive.Load()
		}
		return n
	}
	a := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 7000)
	b := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 7001)
	ca, cb := open(a), open(b)
	before := dataplane.Sum(&s.w.C).Verdicts
	for _, rst := range [][]byte{
		frametest.TCP(a, web, frame.RST|frame.ACK, nil, frametest.WithDstMAC(lo)), // the client's
		frametest.TCP(cb.Real(), b, frame.RST, nil, frametest.WithDstMAC(lo)),     // the real server's
	} {
		if fwd, _ := simulate(t, fp, rst); !fwd {
			t.Fatalf("RST %v not forwarded", parsed(rst).Src)
		}
	}
	// The client's port, reused at once (an RST leaves no TIME_WAIT): the
	// RST deleted the client's direction in the kernel, but the reply
	// direction stays until lvsd withdraws it, so rr's next pick, the same
	// real server, cannot be made there: the SYN goes to the Go path,
	// which takes the report first.
	reused := frametest.TCPSyn(a, web, frametest.WithDstMAC(lo))
	if fwd, _ := simulate(t, fp, reused); fwd {
		t.Error("a SYN from the closing connection's port was taken by the fast path, want the Go path")
	}
	s.w.Process(nil, nil, time.Now())
	if after := dataplane.Sum(&s.w.C).Verdicts; after != before {
		t.Errorf("the worker handled frames (%v → %v); the RSTs were the fast path's", before, after)
	}
	for _, c := range []conntrack.Conn{ca, cb} {
		now, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: c.Client(), Virtual: web})
		if !ok || now.State() != conntrack.StateClose {
			t.Errorf("connection from %v: live %v, state %v; want CLOSE", c.Client(), ok, now.State())
		}
		if in, out := now.Offloaded(); in || out {
			t.Errorf("connection from %v still offloaded %v/%v", c.Client(), in, out)
		}
	}
	if n := inactive(); n != 2 {
		t.Errorf("inactive connections %d, want the 2 closed", n)
	}
	late := frametest.TCP(a, web, frame.ACK, []byte("late"), frametest.WithDstMAC(lo))
	if fwd, _ := simulate(t, fp, late); fwd {
		t.Error("the fast path still forwards a closed connection's segment")
	}
	if out := s.run(0, reused); len(out[1]) != 1 {
		t.Fatalf("the reused port's SYN: %d frames to the real servers, want 1", len(out[1]))
	}
	if c, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: a, Virtual: web}); !ok || c.State() != conntrack.StateSynRecv {
		t.Errorf("the reused port's connection: live %v, state %v; want a new one in SYN_RECV", ok, c.State())
	}
}

// TestKernelForwardedRSTLeavesSynRecv: an RST the fast path forwards
// before the handshake completed leaves the connection in SYN_RECV (as
// IPVS's table does), and the program deleted the RST's direction as it
// went through (fastpath's close.go): the table no longer counts that
// direction as offloaded, while the reply direction, still in the kernel,
// stays offloaded until the connection goes.
func TestKernelForwardedRSTLeavesSynRecv(t *testing.T) {
	s, fp := fastSite(t)
	s.d.ScheduleInKernel(true, true)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	c := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 7100)
	if fwd, _ := simulate(t, fp, frametest.TCPSyn(c, web, frametest.WithDstMAC(lo))); !fwd {
		t.Fatal("SYN not forwarded")
	}
	s.w.Process(nil, nil, time.Now()) // adopts
	if fwd, _ := simulate(t, fp, frametest.TCP(c, web, frame.RST, nil, frametest.WithDstMAC(lo))); !fwd {
		t.Fatal("RST not forwarded")
	}
	s.w.Process(nil, nil, time.Now()) // takes the report
	conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: c, Virtual: web})
	if !ok || conn.State() != conntrack.StateSynRecv {
		t.Fatalf("connection: live %v, state %v; want SYN_RECV", ok, conn.State())
	}
	if in, out := conn.Offloaded(); in || !out {
		t.Errorf("offloaded %v/%v, want the client's direction gone with the RST and the reply's kept", in, out)
	}
	if _, seen := fp.Idle(fastpath.Key{Src: c, Dst: web, Proto: frame.ProtoTCP}); seen {
		t.Error("the client's direction is still in the fast path")
	}
}

// TestKernelScheduledMH: an mh service's new flows are scheduled by the
// tcx program from mh's lookup table (fastpath's mh.go) to the real server
// the Go scheduler picks for the same client, and adopted to it; a server
// of the table set to weight 0 (which mh's Pick would refuse its clients)
// takes the service back to the Go path.
func TestKernelScheduledMH(t *testing.T) {
	s, fp := fastSite(t)
	key := ipvs.ServiceKey{Proto: ipvs.UDP, Addr: vip, Port: 53}
	addService(t, s, key, ipvs.SchedSpec{SchedName: "mh", SchedOpts: ipvs.SchedOptions{Flags: ipvs.SchedFlag2}}, ipvs.Masq)
	s.d.ScheduleInKernel(true, false)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	svc := netip.AddrPortFrom(vip, 53)
	datagram := func(c netip.AddrPort) []byte { return frametest.UDP(c, svc, []byte("q"), frametest.WithDstMAC(lo)) }
	picks := map[netip.AddrPort]netip.Addr{}
	for i := range 40 {
		c := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), uint16(6000+i*17))
		fwd, out := simulate(t, fp, datagram(c))
		if !fwd {
			t.Fatalf("client %v: the datagram was not scheduled in the kernel", c)
		}
		ts := s.d.State().Table.Service(key)
		if want := ts.Sched.Pick(ts, &ipvs.Flow{Src: c, Dst: svc}); parsed(out).Dst.Addr() != want.Addr {
			t.Errorf("client %v: the kernel sent it to %v, mh picks %v", c, parsed(out).Dst, want.Addr)
		}
		picks[c] = parsed(out).Dst.Addr()
	}
	s.w.Process(nil, nil, time.Now()) // adopts
	servers := map[netip.Addr]bool{}
	for c, real := range picks {
		conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.UDP, Client: c, Virtual: svc})
		if !ok || conn.Real().Addr() != real {
			t.Errorf("flow from %v adopted %v to %v, the kernel sent it to %v", c, ok, conn.Real(), real)
		}
		servers[real] = true
	}
	if len(servers) != 2 {
		t.Errorf("40 clients' flows went to %v, want both servers", servers)
	}
	// Quiesce rip2: mh keeps its slots, whose clients Go refuses.
	tb, err := s.table.EditDest(key, ipvs.DestSpec{Addr: rip2, Port: 53, Method: ipvs.Masq, Weight: 0})
	if err != nil {
		t.Fatal(err)
	}
	s.publishTable(tb)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	if fwd, _ := simulate(t, fp, datagram(netip.MustParseAddrPort("203.0.113.8:7000"))); fwd {
		t.Error("with a server at weight 0 the kernel still schedules the mh service")
	}
}
