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
	"lvs/nat"
)

var (
	ftpCtl6     = netip.AddrPortFrom(vip6, 21)
	rip61FTP    = netip.AddrPortFrom(rip61, 21)
	rip61Data   = netip.AddrPortFrom(rip61, 20)
	clientDat6  = netip.MustParseAddrPort("[2001:db8:99::7]:40001")
	otherHost6  = netip.MustParseAddrPort("[2001:db8:12::77]:5353")
	resolver6   = netip.MustParseAddrPort("[2001:db8:53::53]:53")
	clientData6 = netip.MustParseAddrPort("[2001:db8:99::7]:40002")
)

// withNAT6 publishes newSite6's state with an FTP service [vip6]:21 over
// rip61 and rip62 and the given NAT part.
func withNAT6(t testing.TB, s *site, n *dataplane.NAT) {
	t.Helper()
	withFTPService(t, s, n, vip6, rip61, rip62) // masq_test.go
}

// guideMasq6 is the guide's active-FTP rule for IPv6
// (ip6tables -t nat -A POSTROUTING -p tcp -s 2001:db8:12::/64 --sport 20
// -j MASQUERADE) plus an address-less UDP rule for port 53 (every host of
// the private network masqueraded out for DNS), beside the IPv4 rule.
func guideMasq6() *nat.Masquerade {
	return nat.NewMasquerade([]nat.Rule{
		{Proto: frame.ProtoTCP, Src: netip.MustParsePrefix("10.11.12.0/24"), SPortLo: 20, SPortHi: 20, OutPort: -1},
		{Proto: frame.ProtoTCP, Src: netip.MustParsePrefix("2001:db8:12::/64"), SPortLo: 20, SPortHi: 20, OutPort: -1, IPv6: true},
		{Proto: frame.ProtoUDP, DPortLo: 53, DPortHi: 53, OutPort: -1, IPv6: true},
	}, map[netip.Addr]netip.Addr{rip1: vip, rip61: vip6, rip62: vip6}, []netip.Addr{vip, {}}, []netip.Addr{vip6, {}})
}

// TestMasquerade6PrivateHost: a host of the private network that is no
// real server is masqueraded to the public port's IPv6 address by the
// address-less UDP rule, and the answer goes back to it.
// TestMasqueradeActiveFTPBothWays covers the guide's rule in both families.
func TestMasquerade6PrivateHost(t *testing.T) {
	s := newSite6(t, 4096)
	withNAT6(t, s, &dataplane.NAT{Masq: guideMasq6()})
	// A host of the private network that is no real server is masqueraded
	// to the public port's IPv6 address by the address-less UDP rule.
	s.prv.Neigh.Want([]netip.Addr{rip61, rip62, rip63, otherHost6.Addr()})
	s.prv.Neigh.Learn(otherHost6.Addr(), rip2MAC, time.Now())
	out := s.run(1, frametest.UDP(otherHost6, resolver6, []byte("query"), frametest.WithSrcMAC(rip2MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("private host's DNS query: %d frames on the public port, want 1", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SrcPort(otherHost6.Port()), frametest.DstAddr(resolver6.Addr()), frametest.SumsOK())
	out = s.run(0, frametest.UDP(resolver6, netip.AddrPortFrom(vip6, otherHost6.Port()), []byte("answer"), frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("DNS answer: %d frames on the private port, want 1", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(otherHost6.Addr()), frametest.DstPort(otherHost6.Port()), frametest.Payload([]byte("answer")), frametest.SumsOK())
	if got := s.d.NAT.Len(); got != 1 {
		t.Errorf("masquerade table holds %d flows, want 1", got)
	}
}

// Errors about a masqueraded IPv6 flow: a router's packet too big on the
// way to the peer reaches the real server about its own packet; a
// datagram too big for the egress port, or with its hop limit spent, is
// answered to the real server from the router's own address.
func TestMasquerade6Errors(t *testing.T) {
	s := newSite6(t, 4096)
	withNAT6(t, s, &dataplane.NAT{Masq: guideMasq6()})
	out := s.run(1, frametest.TCP(rip61Data, clientDat6, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("masqueraded SYN: %d frames", len(out[0]))
	}
	sent := out[0][0]
	ptb := frametest.ICMPv6Error(frame.ICMPv6PacketTooBig, 0, netip.MustParseAddr("2001:db8:77::1"), sent,
		frametest.WithMTU(1400), frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
	out = s.run(0, ptb)
	if len(out[1]) != 1 {
		t.Fatalf("packet too big about a masqueraded flow: %d frames to the private side, want 1", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.ICMPType(frame.ICMPv6PacketTooBig, 0),
		frametest.SumsOK(), frametest.DstMAC(rip1MAC))
	var p frame.Parsed
	p.Decode(out[1][0])
	if p.InnerSrc != rip61Data || p.InnerDst != clientDat6 {
		t.Errorf("quoted packet %v → %v, want %v → %v", p.InnerSrc, p.InnerDst, rip61Data, clientDat6)
	}

	s.pub.MTU = 1400
	out = s.run(1, frametest.TCP(rip61Data, clientDat6, frame.ACK, make([]byte, 1400), frametest.WithSrcMAC(rip1MAC)))
	if len(out[1]) != 1 || len(out[0]) != 0 {
		t.Fatalf("too big masqueraded datagram: %d public, %d private frames; want one error to the real server", len(out[0]), len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.SrcAddr(routerPrv6), frametest.DstAddr(rip61), frametest.ICMPType(frame.ICMPv6PacketTooBig, 0),
		frametest.ICMPv6Param(1400), frametest.SumsOK())
	s.pub.MTU = 1500
	out = s.run(1, frametest.TCP(rip61Data, clientDat6, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithTTL(1)))
	if len(out[1]) != 1 || len(out[0]) != 0 {
		t.Fatalf("masqueraded datagram with hop limit 1: %d public, %d private frames", len(out[0]), len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.SrcAddr(routerPrv6), frametest.ICMPType(frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded), frametest.SumsOK())
}

func ftpSession6(t *testing.T, s *site) {
	t.Helper()
	ftpSessionTo(t, s, client6, ftpCtl6, rip61) // masq_test.go
}

// TestFTPHelper6EPSV: a 229 reply passes unchanged (it carries no
// address) and the passive data connection it announces reaches the real
// server without a firewall mark; its replies come from the VIP.
func TestFTPHelper6EPSV(t *testing.T) {
	s := newSite6(t, 4096)
	withNAT6(t, s, &dataplane.NAT{FTP: []netip.AddrPort{ftpCtl6}})
	ftpSession6(t, s)
	reply := []byte("229 Entering Extended Passive Mode (|||30000|)\r\n")
	out := s.run(1, frametest.TCP(rip61FTP, client6, frame.ACK|frame.PSH, reply, frametest.WithSrcMAC(rip1MAC), frametest.WithSeq(7000)))
	if len(out[0]) != 1 {
		t.Fatalf("229 reply: %d frames to the client", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SrcPort(21), frametest.Payload(reply), frametest.Seq(7000), frametest.SumsOK())
	dataV := netip.AddrPortFrom(vip6, 30000)
	out = s.run(0, frametest.TCP(clientDat6, dataV, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("EPSV data SYN: %d frames forwarded (counters %+v)", len(out[1]), dataplane.Sum(&s.w.C))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.DstPort(30000), frametest.SrcAddr(clientDat6.Addr()), frametest.TTL(63), frametest.SumsOK())
	out = s.run(1, frametest.TCP(netip.AddrPortFrom(rip61, 30000), clientDat6, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("EPSV data SYN-ACK: %d frames", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SrcPort(30000), frametest.SumsOK())
	// A second connection to the port is not expected any more.
	out = s.run(0, frametest.TCP(netip.MustParseAddrPort("[2001:db8:99::7]:40009"), dataV, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 0 {
		t.Errorf("an unexpected connection to the data port was forwarded")
	}
	// The data connection is counted on the control connection's server.
	d := s.table.Service(ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 21}).Dest(rip61, 21)
	if in := d.C.InPkts.Load(); in < 2 {
		t.Errorf("rip61's FTP destination counted %d packets in, want the control and data SYNs", in)
	}
}

// TestFTPHelper6EPRT: an EPRT |2| command passes unchanged, and the real
// server's connection from port 20 to the address it names leaves from
// [VIP]:20 without a masquerade rule; EPRT |1| on an IPv6 connection (an
// address the real server cannot reach) and unannounced destinations are
// not translated.
func TestFTPHelper6EPRT(t *testing.T) {
	s := newSite6(t, 4096)
	withNAT6(t, s, &dataplane.NAT{FTP: []netip.AddrPort{ftpCtl6}})
	ftpSession6(t, s)
	for _, cmd := range []string{"EPRT |2|2001:db8:99::7|40002|\r\n", "EPRT |1|203.0.113.7|40003|\r\n"} {
		out := s.run(0, frametest.TCP(client6, ftpCtl6, frame.ACK|frame.PSH, []byte(cmd), frametest.WithSrcMAC(gwMAC), frametest.WithSeq(1001)))
		if len(out[1]) != 1 {
			t.Fatalf("%q: %d frames forwarded", cmd, len(out[1]))
		}
		frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.Payload([]byte(cmd)), frametest.SumsOK())
	}
	out := s.run(1, frametest.TCP(rip61Data, clientData6, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("active data SYN to %v: %d frames", clientData6, len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SrcPort(20), frametest.DstAddr(clientData6.Addr()),
		frametest.DstPort(clientData6.Port()), frametest.SumsOK())
	out = s.run(0, frametest.TCP(clientData6, netip.AddrPortFrom(vip6, 20), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("active data SYN-ACK: %d frames", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.DstPort(20), frametest.SumsOK())
	if out := s.run(1, frametest.TCP(rip61Data, netip.MustParseAddrPort("[2001:db8:99::7]:40004"), frame.SYN, nil, frametest.WithSrcMAC(rip1MAC))); len(out[0]) != 0 {
		t.Errorf("an unannounced connection from the real server was translated")
	}
	if _, exp := s.d.FTP.Len(); exp != 0 {
		t.Errorf("%d expectations left, want 0 (the |2| one taken, the |1| one never made)", exp)
	}
}

// FuzzWorkerNAT6 is FuzzWorkerNAT for IPv6: masquerade rules and the FTP
// helper on, an FTP control connection open with an EPRT and a 229 reply
// gone by; nothing may panic and every frame lvsd sends must be well
// formed.
func FuzzWorkerNAT6(f *testing.F) {
	f.Add(frametest.TCP(rip61FTP, client6, frame.ACK|frame.PSH, []byte("229 Entering Extended Passive Mode (|||30000|)\r\n"), frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.TCP(client6, ftpCtl6, frame.ACK|frame.PSH, []byte("EPRT |2|2001:db8:99::7|40002|\r\n"), frametest.WithSrcMAC(gwMAC)), false)
	f.Add(frametest.TCP(rip61Data, clientDat6, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.UDP(otherHost6, resolver6, []byte("q"), frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.TCP(clientDat6, netip.AddrPortFrom(vip6, 20), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC)), false)
	f.Add(frametest.TCP(clientDat6, netip.AddrPortFrom(vip6, 30000), frame.SYN, nil, frametest.WithSrcMAC(gwMAC)), false)
	masqSYN := frametest.TCP(netip.AddrPortFrom(vip6, 20), clientDat6, frame.SYN, nil)
	f.Add(frametest.ICMPv6Error(frame.ICMPv6PacketTooBig, 0, netip.MustParseAddr("2001:db8:77::1"), masqSYN,
		frametest.WithMTU(1400), frametest.WithSrcMAC(gwMAC)), false)
	f.Fuzz(func(t *testing.T, in []byte, private bool) {
		s := newSite6(t, 4096)
		withNAT6(t, s, &dataplane.NAT{Masq: guideMasq6(), FTP: []netip.AddrPort{ftpCtl6}})
		s.run(0, frametest.TCP(client6, ftpCtl6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
		s.run(0, frametest.TCP(client6, ftpCtl6, frame.ACK|frame.PSH, []byte("EPRT |2|2001:db8:99::7|40002|\r\n"), frametest.WithSrcMAC(gwMAC)))
		s.run(1, frametest.TCP(rip61FTP, client6, frame.ACK|frame.PSH, []byte("229 Entering Extended Passive Mode (|||30000|)\r\n"), frametest.WithSrcMAC(rip1MAC)))
		s.run(1, frametest.TCP(rip61Data, clientDat6, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
		port := 0
		if private {
			port = 1
		}
		w := dataplane.NewWorker(s.d, s.d.Ports[port], linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
		valid := validFrame6(in)
		w.Process([][]byte{append([]byte(nil), in...)}, make([]dataplane.Meta, 1), time.Now())
		for _, l := range s.tx {
			for _, out := range l.Sent() {
				var p frame.Parsed
				p.Decode(out)
				if p.Kind != frame.KindIPv6 {
					t.Fatalf("sent a frame that does not decode as IPv6: % x", out)
				}
				if valid || p.Proto == frame.ProtoICMPv6 && !p.ICMPError && p.ICMPType != frame.ICMPv6EchoReply {
					if msg := frametest.SumsOK()(frametest.Decode(out)); msg != "" {
						t.Fatalf("sent %s: % x\nfor % x", msg, out, in)
					}
				}
			}
		}
	})
}

// TestMasquerade6AvoidsServicePorts: a real server's connection from a
// port an IPv6 service of the VIP takes — by address and port, or by an
// IPv6 firewall mark — is masqueraded from another port, whose answers
// come back; a UDP datagram from a port no UDP service takes keeps it.
func TestMasquerade6AvoidsServicePorts(t *testing.T) {
	s := newSite6(t, 4096)
	all := nat.NewMasquerade([]nat.Rule{{Src: netip.MustParsePrefix("2001:db8:12::/64"), OutPort: -1, IPv6: true}},
		map[netip.Addr]netip.Addr{rip61: vip6}, nil, []netip.Addr{vip6, {}})
	withNAT6(t, s, &dataplane.NAT{Masq: all})
	key := ipvs.MarkKey6(6)
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}})
	if err == nil {
		tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: rip62, Method: ipvs.Masq, Weight: 1})
	}
	if err != nil {
		t.Fatal(err)
	}
	st := *s.d.State()
	st.Table = tb
	st.Class = dataplane.NewClassifier([]dataplane.MarkRule{
		{Proto: frame.ProtoTCP, Dst: netip.PrefixFrom(vip6, 128), DPortLo: 9000, DPortHi: 9000, InPort: -1, Mark: 6, IPv6: true},
	})
	s.d.Publish(&st)
	s.table = tb
	dns := netip.MustParseAddrPort("[2001:db8:53::53]:53")
	for _, port := range []uint16{80, 9000} {
		src := netip.AddrPortFrom(rip61, port)
		out := s.run(1, frametest.TCP(src, dns, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
		if len(out[0]) != 1 {
			t.Fatalf("real server's SYN from port %d: %d frames, want 1", port, len(out[0]))
		}
		l := frametest.Decode(out[0][0])
		if l.TCP == nil || uint16(l.TCP.SrcPort) == port {
			t.Fatalf("masqueraded from the service port %d: %+v", port, l.TCP)
		}
		frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SumsOK(), frametest.DstMAC(gwMAC))
		back := frametest.TCP(dns, netip.AddrPortFrom(vip6, uint16(l.TCP.SrcPort)), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC))
		out = s.run(0, back)
		if len(out[1]) != 1 {
			t.Fatalf("answer to the connection from port %d: %d frames to the private side", port, len(out[1]))
		}
		frametest.Check(t, out[1][0], frametest.DstAddr(rip61), frametest.DstPort(port), frametest.SumsOK())
	}
	out := s.run(1, frametest.UDP(netip.AddrPortFrom(rip61, 80), dns, []byte("query"), frametest.WithSrcMAC(rip1MAC)))
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip6), frametest.SrcPort(80), frametest.SumsOK())
}
