package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/dataplane/linktest"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
	"lvs/neigh"
	"lvs/sched"
)

var (
	vip       = netip.MustParseAddr("192.168.26.10")
	natRouter = netip.MustParseAddr("10.11.12.10")
	rip1      = netip.MustParseAddr("10.11.12.1")
	rip2      = netip.MustParseAddr("10.11.12.2")
	client    = netip.MustParseAddrPort("203.0.113.7:40000")
	web       = netip.AddrPortFrom(vip, 80)

	pubMAC    = frame.MAC{0x02, 0, 0, 0, 0, 0x09}
	privMAC   = frame.MAC{0x02, 0, 0, 0, 1, 0x09}
	gwMAC     = frame.MAC{0x02, 0, 0, 0, 0, 0xfe} // the client's packets come through the gateway
	rip1MAC   = frame.MAC{0x02, 0, 0, 0, 1, 0x01}
	rip2MAC   = frame.MAC{0x02, 0, 0, 0, 1, 0x02}
	routerPub = netip.MustParseAddr("192.168.26.9")
)

// site is the guide's NAT router in memory: port 0 public, port 1 private,
// one TCP service VIP:80 (rr) over two real servers.
type site struct {
	d        *dataplane.Dataplane
	w        *dataplane.Worker
	tx       []*linktest.Link
	pub, prv *dataplane.Port
	table    *ipvs.Table
}

func newSite(t testing.TB, schedName string) *site { return newSiteCap(t, schedName, 4096) }

// publishTable publishes the site's state with table tb, which becomes the
// site's table.
func (s *site) publishTable(tb *ipvs.Table) {
	st := *s.d.State()
	st.Table = tb
	s.d.Publish(&st)
	s.table = tb
}

// newSiteCap is newSite with transmit queues of capacity frames; writes past
// it are dropped by the test link, which then recycles its buffers.
func newSiteCap(t testing.TB, schedName string, capacity int) *site {
	t.Helper()
	reg := ipvs.NewRegistry()
	tb := ipvs.NewTable(reg, sched.New)
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}
	var err error
	if tb, err = tb.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: schedName}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []netip.Addr{rip1, rip2} {
		if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: r, Port: 8080, Method: ipvs.Masq, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	pub := &dataplane.Port{Index: 0, Name: "eth0", MAC: pubMAC, MTU: 1500, Addr: routerPub, Neigh: neigh.New()}
	prv := &dataplane.Port{Index: 1, Name: "eth1", MAC: privMAC, MTU: 1500, Addr: netip.MustParseAddr("10.11.12.9"), Neigh: neigh.New()}
	prv.Neigh.Want([]netip.Addr{rip1, rip2})
	prv.Neigh.Learn(rip1, rip1MAC, time.Now())
	prv.Neigh.Learn(rip2, rip2MAC, time.Now())
	gw := netip.MustParseAddr("192.168.26.254")
	pub.Neigh.Want([]netip.Addr{gw})
	pub.Neigh.Learn(gw, gwMAC, time.Now())
	st := &dataplane.State{
		Table: tb,
		Owned: dataplane.NewOwned(map[netip.Addr]int{vip: 0, natRouter: 1}),
		Class: dataplane.NewClassifier(nil),
		Routes: dataplane.NewRoutes([]dataplane.Route{
			{Prefix: netip.MustParsePrefix("10.11.12.0/24"), Port: 1},
			{Prefix: netip.MustParsePrefix("192.168.26.0/24"), Port: 0},
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Port: 0, Via: gw},
		}),
		Local: map[[4]byte]bool{routerPub.As4(): true, {10, 11, 12, 9}: true},
	}
	ct := conntrack.NewTable(reg, conntrack.Config{MaxEntries: 1 << 16, Seed: 1})
	d := dataplane.New([]*dataplane.Port{pub, prv}, ct, st)
	s := &site{d: d, pub: pub, prv: prv, table: tb}
	var tx []dataplane.MetaLink
	for range d.Ports {
		l := linktest.New(linktest.Config{Capacity: capacity})
		s.tx = append(s.tx, l)
		tx = append(tx, l)
	}
	s.w = dataplane.NewWorker(d, pub, linktest.New(linktest.Config{}), tx)
	return s
}

// run processes frames arriving on port in and returns what each port sent.
func (s *site) run(in int, frames ...[]byte) [][][]byte {
	port := s.d.Ports[in]
	w := s.w
	if in != 0 {
		w = dataplane.NewWorker(s.d, port, linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
	}
	meta := make([]dataplane.Meta, len(frames))
	w.Process(frames, meta, time.Now())
	out := make([][][]byte, len(s.tx))
	for i, l := range s.tx {
		out[i] = l.Sent()
	}
	return out
}

func TestARPAnswersOwnedAddressesOnTheirPortOnly(t *testing.T) {
	s := newSite(t, "rr")
	req := frametest.ARPRequest(gwMAC, netip.MustParseAddr("192.168.26.254"), vip)
	out := s.run(0, req)
	if len(out[0]) != 1 {
		t.Fatalf("ARP for the VIP on the public port: %d replies, want 1", len(out[0]))
	}
	a := frame.ARP(out[0][0][frame.EthernetLen:])
	if a.Op() != frame.ARPReply || a.SenderIP() != vip || a.SenderMAC() != pubMAC || frame.Ethernet(out[0][0]).Dst() != gwMAC {
		t.Errorf("reply: op %d %v is-at %v to %v", a.Op(), a.SenderIP(), a.SenderMAC(), frame.Ethernet(out[0][0]).Dst())
	}
	if out := s.run(1, frametest.ARPRequest(rip1MAC, rip1, vip)); len(out[1]) != 0 {
		t.Errorf("answered ARP for the VIP on the private port")
	}
	out = s.run(1, frametest.ARPRequest(rip1MAC, rip1, natRouter))
	if len(out[1]) != 1 || frame.ARP(out[1][0][frame.EthernetLen:]).SenderMAC() != privMAC {
		t.Errorf("ARP for the nat_router address on the private port: %d replies", len(out[1]))
	}
	if out := s.run(0, frametest.ARPRequest(gwMAC, netip.MustParseAddr("192.168.26.254"), routerPub)); len(out[0]) != 0 {
		t.Errorf("answered ARP for the router's own address (the kernel's job)")
	}
}

func TestNATBothDirections(t *testing.T) {
	s := newSite(t, "rr")
	syn := frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC), frametest.WithTTL(64))
	out := s.run(0, syn)
	if len(out[1]) != 1 {
		t.Fatalf("SYN to the VIP: %d frames on the private port, want 1 (counters %+v)", len(out[1]), dataplane.Sum(&s.w.C))
	}
	fwd := out[1][0]
	frametest.Check(t, fwd, frametest.SrcAddr(client.Addr()), frametest.DstAddr(rip1), frametest.DstPort(8080),
		frametest.SrcPort(client.Port()), frametest.TTL(63), frametest.SumsOK(), frametest.DstMAC(rip1MAC), frametest.SrcMAC(privMAC))

	real := netip.AddrPortFrom(rip1, 8080)
	synack := frametest.TCP(real, client, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithDstMAC(privMAC))
	out = s.run(1, synack)
	if len(out[0]) != 1 {
		t.Fatalf("SYN-ACK from the real server: %d frames on the public port, want 1", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip), frametest.SrcPort(80), frametest.DstAddr(client.Addr()),
		frametest.DstPort(client.Port()), frametest.SumsOK(), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC))

	// The same client flow keeps its real server; a new one goes to the next (rr).
	ack := frametest.TCP(client, web, frame.ACK, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithSrcMAC(gwMAC))
	out = s.run(0, ack)
	if len(out[1]) != 1 {
		t.Fatalf("ACK: %d frames forwarded", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip1), frametest.SumsOK())
	other := netip.AddrPortFrom(client.Addr(), 40001)
	out = s.run(0, frametest.TCP(other, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	frametest.Check(t, out[1][0], frametest.DstAddr(rip2), frametest.DstMAC(rip2MAC))

	d1 := s.table.Service(ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}).Dest(rip1, 8080)
	if d1.C.InPkts.Load() != 2 || d1.C.OutPkts.Load() != 1 || d1.C.Active.Load() != 1 {
		t.Errorf("rip1 counters: in %d out %d active %d, want 2 1 1", d1.C.InPkts.Load(), d1.C.OutPkts.Load(), d1.C.Active.Load())
	}
}

func TestAnswersForTheVIP(t *testing.T) {
	s := newSite(t, "rr")
	tests := []struct {
		name  string
		frame []byte
		check []frametest.Checker
	}{
		{"ping", frametest.ICMPEcho(client.Addr(), vip, 7, 1, []byte("hi"), frametest.WithSrcMAC(gwMAC)),
			[]frametest.Checker{frametest.SrcAddr(vip), frametest.DstAddr(client.Addr()), frametest.ICMPType(frame.ICMPEchoReply, 0), frametest.SumsOK(), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC)}},
		{"no service on the port", frametest.TCP(client, netip.AddrPortFrom(vip, 81), frame.SYN, nil, frametest.WithSrcMAC(gwMAC)),
			[]frametest.Checker{frametest.SrcAddr(vip), frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPPortUnreachable), frametest.SumsOK(), frametest.DstMAC(gwMAC)}},
		{"ttl expires", frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithTTL(1)),
			[]frametest.Checker{frametest.ICMPType(frame.ICMPTimeExceeded, 0), frametest.SumsOK()}},
		{"too big with DF", frametest.TCP(client, web, frame.SYN, make([]byte, 1600), frametest.WithSrcMAC(gwMAC), frametest.WithDF()),
			[]frametest.Checker{frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPFragNeeded), frametest.SumsOK()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := s.run(0, tt.frame)
			if len(out[0]) != 1 || len(out[1]) != 0 {
				t.Fatalf("got %d public, %d private frames; want one answer on the public port", len(out[0]), len(out[1]))
			}
			frametest.Check(t, out[0][0], tt.check...)
		})
	}
}

func TestLeavesTheHostsTrafficAlone(t *testing.T) {
	s := newSite(t, "rr")
	ssh := frametest.TCP(client, netip.AddrPortFrom(routerPub, 22), frame.SYN, nil)
	out := s.run(0, ssh)
	if len(out[0])+len(out[1]) != 0 {
		t.Errorf("touched a frame to the router's own address")
	}
	if got := dataplane.Sum(&s.w.C).Verdicts[dataplane.Pass]; got != 1 {
		t.Errorf("pass verdicts = %d, want 1", got)
	}
	stray := frametest.UDP(netip.MustParseAddrPort("10.11.12.1:5000"), netip.MustParseAddrPort("198.51.100.1:53"), nil)
	if out := s.run(1, stray); len(out[0])+len(out[1]) != 0 {
		t.Errorf("forwarded a real server's packet that belongs to no connection")
	}
}

func TestEstablishedPathNoAllocs(t *testing.T) {
	// Transmit queues of one frame: once full, the test links drop and
	// recycle, so only the worker's own allocations are counted.
	s := newSiteCap(t, "rr", 1)
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	in := frametest.TCP(client, web, frame.ACK, nil, frametest.WithSrcMAC(gwMAC))
	reply := frametest.TCP(netip.AddrPortFrom(rip1, 8080), client, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC))
	wOut := dataplane.NewWorker(s.d, s.prv, linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
	batch, meta := make([][]byte, 1), make([]dataplane.Meta, 1)
	buf, rbuf := make([]byte, len(in)), make([]byte, len(reply))
	now := time.Now()
	fill := func(b, f []byte) { copy(b, f); batch[0] = b }
	// Fill both transmit queues.
	fill(buf, in)
	s.w.Process(batch, meta, now)
	fill(rbuf, reply)
	wOut.Process(batch, meta, now)
	if n := testing.AllocsPerRun(500, func() { fill(buf, in); s.w.Process(batch, meta, now) }); n != 0 {
		t.Errorf("client→server path allocs = %v, want 0", n)
	}
	if n := testing.AllocsPerRun(500, func() { fill(rbuf, reply); wOut.Process(batch, meta, now) }); n != 0 {
		t.Errorf("server→client path allocs = %v, want 0", n)
	}
	// The SYN, the two fills and 2×501 runs (AllocsPerRun runs once more
	// to warm up): every one of them must have taken the forwarding path.
	if got := dataplane.Sum(&s.w.C, &wOut.C).Verdicts[dataplane.Forward]; got != 1005 {
		t.Errorf("forwarded %d frames, want 1005 (the loops must exercise the forwarding path)", got)
	}
}

// BenchmarkWorker measures the per-frame cost of the packet path, with
// transmit links that discard (the real links' cost is measured in afpacket):
// an established NAT flow in each direction, and a new connection (SYN)
// from a fresh client port every frame.
func BenchmarkWorker(b *testing.B) {
	s := newSiteCap(b, "rr", 1)
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	tx := []dataplane.MetaLink{&discard{}, &discard{}}
	wIn := dataplane.NewWorker(s.d, s.pub, linktest.New(linktest.Config{}), tx)
	wOut := dataplane.NewWorker(s.d, s.prv, linktest.New(linktest.Config{}), tx)
	now := time.Now()
	run := func(b *testing.B, w *dataplane.Worker, tmpl []byte, vary func([]byte, int)) {
		const batch = 32
		frames, meta := make([][]byte, batch), make([]dataplane.Meta, batch)
		bufs := make([][]byte, batch)
		for i := range bufs {
			bufs[i] = make([]byte, len(tmpl))
		}
		b.ReportAllocs()
		b.ResetTimer()
		n := 0
		for i := 0; i < b.N; i += batch {
			k := min(batch, b.N-i)
			for j := 0; j < k; j++ {
				copy(bufs[j], tmpl)
				if vary != nil {
					vary(bufs[j], n)
				}
				n++
				frames[j] = bufs[j]
			}
			w.Process(frames[:k], meta[:k], now)
		}
	}
	b.Run("established-in", func(b *testing.B) {
		run(b, wIn, frametest.TCP(client, web, frame.ACK, nil, frametest.WithSrcMAC(gwMAC)), nil)
	})
	b.Run("established-out", func(b *testing.B) {
		run(b, wOut, frametest.TCP(netip.AddrPortFrom(rip1, 8080), client, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)), nil)
	})
	b.Run("new-flow", func(b *testing.B) {
		syn := frametest.TCP(netip.AddrPortFrom(client.Addr(), 1), web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC))
		var p frame.Parsed
		run(b, wIn, syn, func(f []byte, n int) {
			// A new client address and port per frame (checksums patched),
			// so every frame is a connection the table has not seen.
			p.Decode(f)
			a := netip.AddrFrom4([4]byte{198, 18, byte(n >> 16), byte(n >> 8)})
			p.SetSrc(f, netip.AddrPortFrom(a, 1024+uint16(n&0x3fff)))
		})
	})
}

// discard is a transmit Link that drops what it is given, so benchmarks
// measure the worker and not a test link's queue.
type discard struct{ n int }

func (d *discard) ReadBatch([][]byte) (int, error)                       { select {} }
func (d *discard) ReadBatchMeta([][]byte, []dataplane.Meta) (int, error) { select {} }
func (d *discard) WriteBatch(f [][]byte) (int, error)                    { d.n += len(f); return len(f), nil }
func (d *discard) WriteBatchMeta(f [][]byte, _ []dataplane.Meta) (int, error) {
	d.n += len(f)
	return len(f), nil
}
func (d *discard) BatchSize() int { return 64 }
func (d *discard) Close() error   { return nil }

// A client on the public segment whose ARP cache holds the VIP statically
// never asks lvsd for it: its MAC is learned from its first connection, so
// the replies reach it.
func TestLearnsOnLinkClientFromNewConnection(t *testing.T) {
	s := newSite(t, "rr")
	lanClient := netip.MustParseAddrPort("192.168.26.100:40000")
	lanMAC := frame.MAC{0x02, 0, 0, 0, 0, 0x64}
	s.run(0, frametest.TCP(lanClient, web, frame.SYN, nil, frametest.WithSrcMAC(lanMAC)))
	out := s.run(1, frametest.TCP(netip.AddrPortFrom(rip1, 8080), lanClient, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("SYN-ACK to an on-link client: %d frames on the public port, want 1 (drops %v)", len(out[0]), dataplane.Sum(&s.w.C).Drops)
	}
	frametest.Check(t, out[0][0], frametest.DstMAC(lanMAC), frametest.DstAddr(lanClient.Addr()), frametest.SrcAddr(vip))
}

// addUDP adds a UDP service VIP:53 over the two real servers.
func addUDP(t *testing.T, s *site) {
	t.Helper()
	addService(t, s, ipvs.ServiceKey{Proto: ipvs.UDP, Addr: vip, Port: 53}, ipvs.SchedSpec{SchedName: "rr"}, ipvs.Masq)
}

// addService adds service key, scheduled by sc, over rip1 and rip2 on the
// service's port by method m at weight 1, and publishes the table.
func addService(t *testing.T, s *site, key ipvs.ServiceKey, sc ipvs.SchedSpec, m ipvs.Method) {
	t.Helper()
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: sc})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []netip.Addr{rip1, rip2} {
		if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: r, Port: key.Port, Method: m, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	s.publishTable(tb)
}
