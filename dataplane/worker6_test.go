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
	vip6       = netip.MustParseAddr("2001:db8:26::10")
	natRouter6 = netip.MustParseAddr("2001:db8:12::10")
	rip61      = netip.MustParseAddr("2001:db8:12::1")
	rip62      = netip.MustParseAddr("2001:db8:12::2")
	rip63      = netip.MustParseAddr("2001:db8:12::3")
	gw6        = netip.MustParseAddr("2001:db8:26::fe")
	routerPub6 = netip.MustParseAddr("2001:db8:26::9")
	routerPrv6 = netip.MustParseAddr("2001:db8:12::9")
	client6    = netip.MustParseAddrPort("[2001:db8:99::7]:40000")
	web6       = netip.AddrPortFrom(vip6, 80)
	rip63MAC   = frame.MAC{0x02, 0, 0, 0, 1, 0x03}
)

// newSite6 is newSite for IPv6: port 0 public (the VIP, clients behind
// gw6), port 1 private (nat_router6, the real servers). Services on the
// VIP: TCP 80 NAT66 rr over rip61, rip62 port 8080; UDP 53 NAT66 to
// rip61; TCP 443 direct routing to rip61; TCP 8443 IPv6-in-IPv6 to rip63.
func newSite6(t testing.TB, capacity int) *site {
	t.Helper()
	reg := ipvs.NewRegistry()
	tb := ipvs.NewTable(reg, sched.New)
	add := func(proto ipvs.Proto, port uint16, method ipvs.Method, dports uint16, rips ...netip.Addr) {
		key := ipvs.ServiceKey{Proto: proto, Addr: vip6, Port: port}
		var err error
		if tb, err = tb.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}}); err != nil {
			t.Fatal(err)
		}
		for _, r := range rips {
			if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: r, Port: dports, Method: method, Weight: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(ipvs.TCP, 80, ipvs.Masq, 8080, rip61, rip62)
	add(ipvs.UDP, 53, ipvs.Masq, 53, rip61)
	add(ipvs.TCP, 443, ipvs.Route, 443, rip61)
	add(ipvs.TCP, 8443, ipvs.Tunnel, 8443, rip63)
	pub := &dataplane.Port{Index: 0, Name: "eth0", MAC: pubMAC, MTU: 1500, Addr: routerPub, Addr6: routerPub6, Neigh: neigh.New()}
	prv := &dataplane.Port{Index: 1, Name: "eth1", MAC: privMAC, MTU: 1500, Addr6: routerPrv6, Neigh: neigh.New()}
	now := time.Now()
	prv.Neigh.Want([]netip.Addr{rip61, rip62, rip63})
	prv.Neigh.Learn(rip61, rip1MAC, now)
	prv.Neigh.Learn(rip62, rip2MAC, now)
	prv.Neigh.Learn(rip63, rip63MAC, now)
	pub.Neigh.Want([]netip.Addr{gw6})
	pub.Neigh.Learn(gw6, gwMAC, now)
	st := &dataplane.State{
		Table: tb,
		Owned: dataplane.NewOwned(map[netip.Addr]int{vip6: 0, natRouter6: 1, vip: 0}),
		Class: dataplane.NewClassifier(nil),
		Routes: dataplane.NewRoutes([]dataplane.Route{
			{Prefix: netip.MustParsePrefix("2001:db8:12::/64"), Port: 1},
			{Prefix: netip.MustParsePrefix("2001:db8:26::/64"), Port: 0},
			{Prefix: netip.MustParsePrefix("::/0"), Port: 0, Via: gw6},
		}),
		Local:  map[[4]byte]bool{},
		Local6: map[[16]byte]bool{routerPub6.As16(): true, routerPrv6.As16(): true},
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

func TestNDAnswersOwnedAddresses6(t *testing.T) {
	s := newSite6(t, 4096)
	out := s.run(0, frametest.NeighborSolicit(gwMAC, gw6, vip6))
	if len(out[0]) != 1 || len(out[1]) != 0 {
		t.Fatalf("NS for the VIP on the public port: %d/%d answers, want 1 on the public port", len(out[0]), len(out[1]))
	}
	frametest.Check(t, out[0][0], frametest.NDTarget(vip6), frametest.SrcAddr(vip6), frametest.DstAddr(gw6),
		frametest.NAFlags(frame.NASolicited|frame.NAOverride|frame.NARouter), frametest.LinkAddr(pubMAC),
		frametest.SrcMAC(pubMAC), frametest.DstMAC(gwMAC), frametest.TTL(255), frametest.SumsOK())

	// Duplicate address detection (from ::) is answered to all-nodes.
	out = s.run(0, frametest.NeighborSolicit(gwMAC, netip.IPv6Unspecified(), vip6))
	if len(out[0]) != 1 {
		t.Fatalf("DAD NS for the VIP: %d answers, want 1", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.DstAddr(frame.AllNodes), frametest.DstMAC(frame.MulticastMAC(frame.AllNodes)),
		frametest.NAFlags(frame.NAOverride|frame.NARouter), frametest.SumsOK())

	if out := s.run(1, frametest.NeighborSolicit(rip1MAC, rip61, vip6)); len(out[0])+len(out[1]) != 0 {
		t.Error("answered an NS for the VIP on the private port")
	}
	out = s.run(1, frametest.NeighborSolicit(rip1MAC, rip61, natRouter6))
	if len(out[1]) != 1 {
		t.Fatalf("NS for nat_router6 on the private port: %d answers, want 1", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.NDTarget(natRouter6), frametest.LinkAddr(privMAC), frametest.DstMAC(rip1MAC), frametest.SumsOK())
	if out := s.run(0, frametest.NeighborSolicit(gwMAC, gw6, routerPub6)); len(out[0]) != 0 {
		t.Error("answered an NS for the router's own address (the kernel's job)")
	}
	bad := frametest.NeighborSolicit(gwMAC, gw6, vip6, frametest.WithTTL(64))
	if out := s.run(0, bad); len(out[0]) != 0 {
		t.Error("answered an NS with hop limit 64 (RFC 4861 §7.1.1: not from the link)")
	}
}

// A host on the link that solicits a VIP is kept resolved (its replies
// go straight to it); an advertisement from a wanted neighbour is learned.
func TestNDLearns6(t *testing.T) {
	s := newSite6(t, 4096)
	host := netip.MustParseAddr("2001:db8:26::100")
	hostMAC := frame.MAC{0x02, 0, 0, 0, 0, 0x64}
	s.run(0, frametest.NeighborSolicit(hostMAC, host, vip6))
	if m, ok := s.pub.Neigh.Lookup6(host.As16()); !ok || m != hostMAC {
		t.Errorf("host that solicited the VIP: Lookup6 = %v %v, want %v", m, ok, hostMAC)
	}
	rip64 := netip.MustParseAddr("2001:db8:12::4")
	mac64 := frame.MAC{0x02, 0, 0, 0, 1, 0x04}
	s.prv.Neigh.Want([]netip.Addr{rip61, rip62, rip63, rip64})
	s.run(1, frametest.NeighborAdvert(mac64, rip64, privMAC, natRouter6, frame.NASolicited|frame.NAOverride))
	if m, ok := s.prv.Neigh.Lookup6(rip64.As16()); !ok || m != mac64 {
		t.Errorf("after the real server's NA: Lookup6 = %v %v, want %v", m, ok, mac64)
	}
}

func TestNAT66BothDirections(t *testing.T) {
	s := newSite6(t, 4096)
	syn := frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
	out := s.run(0, syn)
	if len(out[1]) != 1 {
		t.Fatalf("SYN to the VIP: %d frames on the private port, want 1 (counters %+v)", len(out[1]), dataplane.Sum(&s.w.C))
	}
	frametest.Check(t, out[1][0], frametest.SrcAddr(client6.Addr()), frametest.SrcPort(client6.Port()), frametest.DstAddr(rip61),
		frametest.DstPort(8080), frametest.TTL(63), frametest.SumsOK(), frametest.DstMAC(rip1MAC), frametest.SrcMAC(privMAC))

	real := netip.AddrPortFrom(rip61, 8080)
	out = s.run(1, frametest.TCP(real, client6, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithDstMAC(privMAC)))
	if len(out[0]) != 1 {
		t.Fatalf("SYN-ACK from the real server: %d frames on the public port, want 1", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SrcPort(80), frametest.DstAddr(client6.Addr()),
		frametest.DstPort(client6.Port()), frametest.TTL(63), frametest.SumsOK(), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC))

	out = s.run(0, frametest.TCP(client6, web6, frame.ACK, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("ACK: %d frames forwarded", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.SumsOK(), frametest.Payload([]byte("GET / HTTP/1.0\r\n\r\n")))
	other := netip.AddrPortFrom(client6.Addr(), 40001)
	out = s.run(0, frametest.TCP(other, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	frametest.Check(t, out[1][0], frametest.DstAddr(rip62), frametest.DstMAC(rip2MAC), frametest.SumsOK())

	// UDP, both directions.
	dns := netip.AddrPortFrom(vip6, 53)
	out = s.run(0, frametest.UDP(client6, dns, []byte("query"), frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("UDP to the VIP: %d frames forwarded", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.DstPort(53), frametest.SumsOK())
	out = s.run(1, frametest.UDP(netip.AddrPortFrom(rip61, 53), client6, []byte("answer"), frametest.WithSrcMAC(rip1MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("UDP answer: %d frames on the public port", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SrcPort(53), frametest.SumsOK(), frametest.Payload([]byte("answer")))

	d1 := s.table.Service(ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 80}).Dest(rip61, 8080)
	if d1.C.InPkts.Load() != 2 || d1.C.OutPkts.Load() != 1 || d1.C.Active.Load() != 1 {
		t.Errorf("rip61 counters: in %d out %d active %d, want 2 1 1", d1.C.InPkts.Load(), d1.C.OutPkts.Load(), d1.C.Active.Load())
	}
	// A stranger's IPv6 packet from a real server is the kernel's.
	stray := frametest.UDP(netip.MustParseAddrPort("[2001:db8:12::1]:5000"), netip.MustParseAddrPort("[2001:db8:99::1]:53"), nil)
	if out := s.run(1, stray); len(out[0])+len(out[1]) != 0 {
		t.Error("forwarded a real server's IPv6 packet that belongs to no connection")
	}
}

func TestAnswersForTheVIP6(t *testing.T) {
	s := newSite6(t, 4096)
	tests := []struct {
		name  string
		frame []byte
		check []frametest.Checker
	}{
		{"ping", frametest.ICMPv6Echo(client6.Addr(), vip6, 7, 1, []byte("hi"), frametest.WithSrcMAC(gwMAC)),
			[]frametest.Checker{frametest.SrcAddr(vip6), frametest.DstAddr(client6.Addr()), frametest.ICMPType(frame.ICMPv6EchoReply, 0),
				frametest.SumsOK(), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC)}},
		{"ping nat_router6 from outside", frametest.ICMPv6Echo(client6.Addr(), natRouter6, 7, 1, nil, frametest.WithSrcMAC(gwMAC)),
			[]frametest.Checker{frametest.SrcAddr(natRouter6), frametest.ICMPType(frame.ICMPv6EchoReply, 0), frametest.SumsOK()}},
		{"no service on the port", frametest.TCP(client6, netip.AddrPortFrom(vip6, 81), frame.SYN, nil, frametest.WithSrcMAC(gwMAC)),
			[]frametest.Checker{frametest.SrcAddr(vip6), frametest.ICMPType(frame.ICMPv6DestUnreachable, frame.ICMPv6PortUnreachable), frametest.SumsOK(), frametest.DstMAC(gwMAC)}},
		{"hop limit expires", frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithTTL(1)),
			[]frametest.Checker{frametest.SrcAddr(vip6), frametest.ICMPType(frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded), frametest.SumsOK()}},
		{"packet too big", frametest.TCP(client6, web6, frame.SYN, make([]byte, 1600), frametest.WithSrcMAC(gwMAC)),
			[]frametest.Checker{frametest.ICMPType(frame.ICMPv6PacketTooBig, 0), frametest.ICMPv6Param(1500), frametest.SumsOK(), frametest.DstAddr(client6.Addr())}},
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

// A real server's reply too big for the client's side, or with its hop
// limit spent, is answered to the real server from the router's own
// address on the private port.
func TestReplyErrors6(t *testing.T) {
	s := newSite6(t, 4096)
	s.run(0, frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	real := netip.AddrPortFrom(rip61, 8080)
	s.pub.MTU = 1400
	out := s.run(1, frametest.TCP(real, client6, frame.ACK, make([]byte, 1400), frametest.WithSrcMAC(rip1MAC)))
	if len(out[1]) != 1 || len(out[0]) != 0 {
		t.Fatalf("too big reply: %d public, %d private frames; want one error to the real server", len(out[0]), len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.SrcAddr(routerPrv6), frametest.DstAddr(rip61), frametest.ICMPType(frame.ICMPv6PacketTooBig, 0),
		frametest.ICMPv6Param(1400), frametest.DstMAC(rip1MAC), frametest.SumsOK())
	s.pub.MTU = 1500
	out = s.run(1, frametest.TCP(real, client6, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithTTL(1)))
	if len(out[1]) != 1 {
		t.Fatalf("reply with hop limit 1: %d errors", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.ICMPType(frame.ICMPv6TimeExceeded, 0), frametest.SumsOK())
}

// ICMPv6 errors about a translated flow are translated both ways, as
// ip_vs_out_icmp_v6 and ip_vs_in_icmp_v6.
func TestICMPv6ErrorsTranslated(t *testing.T) {
	s := newSite6(t, 4096)
	syn := frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC))
	out := s.run(0, syn)
	fwd := out[1][0]
	real := netip.AddrPortFrom(rip61, 8080)

	// The real server's error about the client's packet as it got it.
	e := frametest.ICMPv6Error(frame.ICMPv6DestUnreachable, frame.ICMPv6AdminProhibited, rip61, fwd, frametest.WithSrcMAC(rip1MAC))
	out = s.run(1, e)
	if len(out[0]) != 1 {
		t.Fatalf("real server's error: %d frames to the client side, want 1", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.DstAddr(client6.Addr()),
		frametest.ICMPType(frame.ICMPv6DestUnreachable, frame.ICMPv6AdminProhibited), frametest.Inner(client6, web6), frametest.SumsOK())

	// A packet too big from the client's path about lvsd's reply.
	reply := frametest.TCP(web6, client6, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(pubMAC))
	ptb := frametest.ICMPv6Error(frame.ICMPv6PacketTooBig, 0, gw6, reply, frametest.WithMTU(1280), frametest.WithSrcMAC(gwMAC))
	out = s.run(0, ptb)
	if len(out[1]) != 1 {
		t.Fatalf("packet too big about a reply: %d frames to the real server, want 1", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.SrcAddr(gw6), frametest.Inner(real, client6),
		frametest.ICMPv6Param(1280), frametest.DstMAC(rip1MAC), frametest.SumsOK())
}

// The fragments of a client's datagram follow its first fragment's
// connection; a real server's likewise back.
func TestFragments6(t *testing.T) {
	s := newSite6(t, 4096)
	dns := netip.AddrPortFrom(vip6, 53)
	big := frametest.UDP(client6, dns, make([]byte, 3000), frametest.WithSrcMAC(gwMAC))
	frags := frametest.Fragments6(big, 1280, 77)
	if len(frags) < 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	over := append([]byte(nil), frags[1]...) // before the run rewrites frags in place
	var fp frame.Parsed
	fp.Decode(over)
	over[int(fp.FragHdr)+2], over[int(fp.FragHdr)+3] = 0, 8|1 // offset 8, more fragments
	out := s.run(0, frags...)
	if len(out[1]) != len(frags) {
		t.Fatalf("forwarded %d of %d fragments (drops %v)", len(out[1]), len(frags), dataplane.Sum(&s.w.C).Drops)
	}
	for i, f := range out[1] {
		frametest.Check(t, f, frametest.DstAddr(rip61), frametest.DstMAC(rip1MAC), frametest.TTL(63))
		if i == 0 {
			frametest.Check(t, f, frametest.Fragment6(0, true, 77))
		}
	}
	// A later fragment overlapping the first (RFC 5722) is dropped.
	if out := s.run(0, over); len(out[1]) != 0 {
		t.Error("forwarded a fragment overlapping its first fragment")
	}
	if got := dataplane.Sum(&s.w.C).Drops[dataplane.DropFragOverlap]; got != 1 {
		t.Errorf("fragment_overlap drops = %d, want 1 (drops %v)", got, dataplane.Sum(&s.w.C).Drops)
	}
	// A later fragment of a datagram whose first fragment never came.
	lost := frametest.Fragments6(frametest.UDP(client6, dns, make([]byte, 3000), frametest.WithSrcMAC(gwMAC)), 1280, 78)
	if out := s.run(0, lost[1]); len(out[1]) != 0 {
		t.Error("forwarded a fragment without its first fragment")
	}
	back := frametest.Fragments6(frametest.UDP(netip.AddrPortFrom(rip61, 53), client6, make([]byte, 3000), frametest.WithSrcMAC(rip1MAC)), 1280, 9)
	out = s.run(1, back...)
	if len(out[0]) != len(back) {
		t.Fatalf("forwarded %d of %d reply fragments", len(out[0]), len(back))
	}
	for _, f := range out[0] {
		frametest.Check(t, f, frametest.SrcAddr(vip6), frametest.DstMAC(gwMAC))
	}
}

func TestDirectRoutingAndTunnel6(t *testing.T) {
	s := newSite6(t, 4096)
	syn := frametest.TCP(client6, netip.AddrPortFrom(vip6, 443), frame.SYN, []byte("x"), frametest.WithSrcMAC(gwMAC))
	out := s.run(0, syn)
	if len(out[1]) != 1 {
		t.Fatalf("DR: %d frames forwarded", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(vip6), frametest.DstPort(443), frametest.SrcAddr(client6.Addr()), frametest.TTL(64),
		frametest.DstMAC(rip1MAC), frametest.SrcMAC(privMAC), frametest.SumsOK())

	tsyn := frametest.TCP(client6, netip.AddrPortFrom(vip6, 8443), frame.SYN, []byte("y"), frametest.WithSrcMAC(gwMAC))
	out = s.run(0, tsyn)
	if len(out[1]) != 1 {
		t.Fatalf("tunnel: %d frames forwarded (drops %v)", len(out[1]), dataplane.Sum(&s.w.C).Drops)
	}
	f := out[1][0]
	frametest.Check(t, f, frametest.SrcAddr(routerPrv6), frametest.DstAddr(rip63), frametest.DstMAC(rip63MAC), frametest.Len(len(tsyn)+40))
	inner := frametest.Decode(append(append([]byte(nil), f[:frame.EthernetLen]...), f[frame.IP6IP6Inner:]...))
	if inner.IP6 == nil || netip.AddrFrom16([16]byte(inner.IP6.DstIP)) != vip6 || inner.IP6.HopLimit != 63 || inner.TCP == nil || inner.TCP.DstPort != 8443 {
		t.Fatalf("inner datagram: %+v", inner.IP6)
	}
	big := frametest.TCP(client6, netip.AddrPortFrom(vip6, 8443), frame.ACK, make([]byte, 1440), frametest.WithSrcMAC(gwMAC))
	out = s.run(0, big)
	if len(out[0]) != 1 {
		t.Fatalf("tunnel, too big once encapsulated: %d answers", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPv6PacketTooBig, 0), frametest.ICMPv6Param(1460), frametest.SumsOK())
}

func TestFirewallMark6(t *testing.T) {
	s := newSite6(t, 4096)
	key := ipvs.MarkKey6(6) // -f 6 -6: the IPv6 path looks up the IPv6 service of the mark
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}})
	if err != nil {
		t.Fatal(err)
	}
	if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: rip62, Port: 0, Method: ipvs.Masq, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	st := *s.d.State()
	st.Table = tb
	st.Class = dataplane.NewClassifier([]dataplane.MarkRule{
		{Proto: frame.ProtoTCP, Dst: netip.PrefixFrom(vip6, 128), DPortLo: 8000, DPortHi: 8999, InPort: -1, Mark: 6, IPv6: true},
	})
	s.d.Publish(&st)
	out := s.run(0, frametest.TCP(client6, netip.AddrPortFrom(vip6, 8080), frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("marked SYN: %d frames forwarded", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip62), frametest.DstPort(8080), frametest.SumsOK())
}

func TestNAT66MissResolves(t *testing.T) {
	s := newSite6(t, 4096)
	s.prv.Neigh.Want(nil) // forget every real server
	out := s.run(0, frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 0 {
		t.Fatalf("forwarded to an unresolved real server")
	}
	if got := dataplane.Sum(&s.w.C).Drops[dataplane.DropNoNeigh]; got != 0 {
		t.Errorf("no_neighbour drops = %d, want 0 (the SYN is held: neighqueue6_test.go)", got)
	}
	due := s.prv.Neigh.Due(nil, time.Now())
	if len(due) != 1 || due[0] != rip61 {
		t.Fatalf("Due after the miss = %v, want [%v]", due, rip61)
	}
	buf := make([]byte, frame.NDFrameLen)
	n := dataplane.PutProbe6(buf, s.prv, due[0], natRouter6)
	frametest.Check(t, buf[:n], frametest.SrcAddr(routerPrv6), frametest.DstAddr(frame.SolicitedNode(rip61)), frametest.NDTarget(rip61),
		frametest.LinkAddr(privMAC), frametest.DstMAC(frame.MulticastMAC(frame.SolicitedNode(rip61))), frametest.SumsOK())
	n = dataplane.PutAnnouncement6(buf, s.pub, vip6)
	frametest.Check(t, buf[:n], frametest.SrcAddr(vip6), frametest.DstAddr(frame.AllNodes), frametest.NDTarget(vip6),
		frametest.NAFlags(frame.NAOverride|frame.NARouter), frametest.LinkAddr(pubMAC), frametest.SumsOK())
}

func TestEstablishedPathNoAllocs6(t *testing.T) {
	s := newSite6(t, 1)
	s.run(0, frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	in := frametest.TCP(client6, web6, frame.ACK, nil, frametest.WithSrcMAC(gwMAC))
	reply := frametest.TCP(netip.AddrPortFrom(rip61, 8080), client6, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC))
	wOut := dataplane.NewWorker(s.d, s.prv, linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
	batch, meta := make([][]byte, 1), make([]dataplane.Meta, 1)
	buf, rbuf := make([]byte, len(in)), make([]byte, len(reply))
	now := time.Now()
	fill := func(b, f []byte) { copy(b, f); batch[0] = b }
	fill(buf, in)
	s.w.Process(batch, meta, now)
	fill(rbuf, reply)
	wOut.Process(batch, meta, now)
	if n := testing.AllocsPerRun(500, func() { fill(buf, in); s.w.Process(batch, meta, now) }); n != 0 {
		t.Errorf("client→server IPv6 path allocs = %v, want 0", n)
	}
	if n := testing.AllocsPerRun(500, func() { fill(rbuf, reply); wOut.Process(batch, meta, now) }); n != 0 {
		t.Errorf("server→client IPv6 path allocs = %v, want 0", n)
	}
	if got := dataplane.Sum(&s.w.C, &wOut.C).Verdicts[dataplane.Forward]; got != 1005 {
		t.Errorf("forwarded %d frames, want 1005", got)
	}
}

// BenchmarkWorker6 is BenchmarkWorker for an established NAT66 flow in
// each direction.
func BenchmarkWorker6(b *testing.B) {
	s := newSite6(b, 1)
	s.run(0, frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	tx := []dataplane.MetaLink{&discard{}, &discard{}}
	wIn := dataplane.NewWorker(s.d, s.pub, linktest.New(linktest.Config{}), tx)
	wOut := dataplane.NewWorker(s.d, s.prv, linktest.New(linktest.Config{}), tx)
	now := time.Now()
	run := func(b *testing.B, w *dataplane.Worker, tmpl []byte) {
		const batch = 32
		frames, meta := make([][]byte, batch), make([]dataplane.Meta, batch)
		bufs := make([][]byte, batch)
		for i := range bufs {
			bufs[i] = make([]byte, len(tmpl))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i += batch {
			k := min(batch, b.N-i)
			for j := range k {
				copy(bufs[j], tmpl)
				frames[j] = bufs[j]
			}
			w.Process(frames[:k], meta[:k], now)
		}
	}
	b.Run("established-in", func(b *testing.B) {
		run(b, wIn, frametest.TCP(client6, web6, frame.ACK, nil, frametest.WithSrcMAC(gwMAC)))
	})
	b.Run("established-out", func(b *testing.B) {
		run(b, wOut, frametest.TCP(netip.AddrPortFrom(rip61, 8080), client6, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)))
	})
}
