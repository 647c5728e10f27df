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
	ftpCtl    = netip.AddrPortFrom(vip, 21)
	rip1FTP   = netip.AddrPortFrom(rip1, 21)
	rip1Data  = netip.AddrPortFrom(rip1, 20)
	clientDat = netip.MustParseAddrPort("203.0.113.7:40001")
)

// natFamily is one address family's side of the masquerading tests that
// cover both: its NAT site, the FTP service withNAT or withNAT6 adds to it,
// and the addresses the tests use.
type natFamily struct {
	name    string
	site    func(t testing.TB, capacity int) *site // with the FTP service and n
	vip     netip.Addr
	rip     netip.Addr     // the first real server (rr sends the first connection there)
	rip2    netip.Addr     // the other
	ripData netip.AddrPort // rip's active FTP data port, 20
	peer    netip.AddrPort // a public host the real server connects to
	masq    func() *nat.Masquerade
	other   func() *nat.Masquerade // rules of the other family only
	unreach [2]uint8               // port unreachable's ICMP type and code
	standby map[netip.Addr]int     // what a router that does not own the VIP holds
}

// natFamilies are IPv4 on newSite and IPv6 on newSite6 (masq6_test.go).
func natFamilies(n *dataplane.NAT) []natFamily {
	return []natFamily{{
		name: "IPv4", vip: vip, rip: rip1, rip2: rip2, ripData: rip1Data, peer: clientDat, masq: guideMasq,
		other:   guideMasq6Only,
		unreach: [2]uint8{frame.ICMPDestUnreachable, frame.ICMPPortUnreachable},
		site: func(t testing.TB, capacity int) *site {
			s := newSiteCap(t, "rr", capacity)
			withNAT(t, s, n)
			return s
		},
	}, {
		name: "IPv6", vip: vip6, rip: rip61, rip2: rip62, ripData: rip61Data, peer: clientDat6, masq: guideMasq6,
		other:   guideMasq,
		unreach: [2]uint8{frame.ICMPv6DestUnreachable, frame.ICMPv6PortUnreachable},
		site: func(t testing.TB, capacity int) *site {
			s := newSite6(t, capacity)
			withNAT6(t, s, n)
			return s
		},
		standby: map[netip.Addr]int{natRouter6: 1},
	}}
}

// withNAT publishes the site's state with an FTP service VIP:21 over rip1
// and rip2 and the given NAT part.
func withNAT(t testing.TB, s *site, n *dataplane.NAT) {
	t.Helper()
	withFTPService(t, s, n, vip, rip1, rip2)
}

// withFTPService publishes the site's state with an FTP service v:21 over
// the real servers rips and the given NAT part.
func withFTPService(t testing.TB, s *site, n *dataplane.NAT, v netip.Addr, rips ...netip.Addr) {
	t.Helper()
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: v, Port: 21}
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rips {
		if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: r, Port: 21, Method: ipvs.Masq, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	st := *s.d.State()
	st.Table, st.NAT = tb, n
	s.d.Publish(&st)
	s.table = tb
}

// guideMasq is the guide's active-FTP rule:
// -t nat -A POSTROUTING -p tcp -s 10.11.12.0/24 --sport 20 -j MASQUERADE.
func guideMasq() *nat.Masquerade {
	return nat.NewMasquerade([]nat.Rule{{Proto: frame.ProtoTCP, Src: netip.MustParsePrefix("10.11.12.0/24"),
		SPortLo: 20, SPortHi: 20, OutPort: -1}}, map[netip.Addr]netip.Addr{rip1: vip, rip2: vip}, []netip.Addr{vip, {}}, nil)
}

// TestMasqueradeActiveFTPBothWays: the guide's rule masquerades a real
// server's connection from port 20 to the VIP, and the peer's answers go
// back to the real server, in both families.
func TestMasqueradeActiveFTPBothWays(t *testing.T) {
	for _, fam := range natFamilies(&dataplane.NAT{}) {
		t.Run(fam.name, func(t *testing.T) {
			s := fam.site(t, 4096)
			withMasq(s, fam.masq())
			syn := frametest.TCP(fam.ripData, fam.peer, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithDstMAC(privMAC), frametest.WithTTL(64))
			out := s.run(1, syn)
			if len(out[0]) != 1 {
				t.Fatalf("real server's SYN from port 20: %d frames on the public port, want 1", len(out[0]))
			}
			frametest.Check(t, out[0][0], frametest.SrcAddr(fam.vip), frametest.SrcPort(20), frametest.DstAddr(fam.peer.Addr()),
				frametest.DstPort(fam.peer.Port()), frametest.TTL(63), frametest.SumsOK(), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC))

			synack := frametest.TCP(fam.peer, netip.AddrPortFrom(fam.vip, 20), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
			out = s.run(0, synack)
			if len(out[1]) != 1 {
				t.Fatalf("client's SYN-ACK to VIP:20: %d frames on the private port, want 1", len(out[1]))
			}
			frametest.Check(t, out[1][0], frametest.DstAddr(fam.rip), frametest.DstPort(20), frametest.SrcAddr(fam.peer.Addr()),
				frametest.TTL(63), frametest.SumsOK(), frametest.DstMAC(rip1MAC), frametest.SrcMAC(privMAC))

			data := frametest.TCP(fam.ripData, fam.peer, frame.ACK|frame.PSH, make([]byte, 1000), frametest.WithSrcMAC(rip1MAC))
			out = s.run(1, data)
			if len(out[0]) != 1 {
				t.Fatalf("data of the masqueraded flow: %d frames", len(out[0]))
			}
			frametest.Check(t, out[0][0], frametest.SrcAddr(fam.vip), frametest.SrcPort(20), frametest.SumsOK())
			if got := s.d.NAT.Len(); got != 1 {
				t.Errorf("masquerade table holds %d flows, want 1", got)
			}
		})
	}
}

// withMasq publishes the site's state with masquerade rules m beside its
// NAT part's FTP services.
func withMasq(s *site, m *nat.Masquerade) {
	st := *s.d.State()
	n := *st.NAT
	n.Masq = m
	st.NAT = &n
	s.d.Publish(&st)
}

func TestMasqueradeForwardsICMPErrors(t *testing.T) {
	s := newSite(t, "rr")
	withNAT(t, s, &dataplane.NAT{Masq: guideMasq()})
	out := s.run(1, frametest.TCP(rip1Data, clientDat, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
	sent := out[0][0]
	// A router on the way answers the translated SYN with "fragmentation
	// needed": the error reaches rs1 about its own packet.
	icmp := frametest.ICMPError(frame.ICMPDestUnreachable, frame.ICMPFragNeeded, netip.MustParseAddr("198.51.100.1"), sent,
		frametest.WithMTU(1400), frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
	out = s.run(0, icmp)
	if len(out[1]) != 1 {
		t.Fatalf("ICMP error about a masqueraded flow: %d frames to the private side, want 1", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip1), frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPFragNeeded),
		frametest.SumsOK(), frametest.DstMAC(rip1MAC))
	var p frame.Parsed
	p.Decode(out[1][0])
	if p.InnerSrc != rip1Data || p.InnerDst != clientDat {
		t.Errorf("quoted packet %v → %v, want %v → %v", p.InnerSrc, p.InnerDst, rip1Data, clientDat)
	}
}

// TestMasqueradeLeavesUncoveredTrafficAlone: what no rule of its family
// covers is left to the kernel, and a packet to VIP:20 with no flow is
// still answered as no service.
func TestMasqueradeLeavesUncoveredTrafficAlone(t *testing.T) {
	tests := []struct {
		name  string
		other bool // the other family's rules only
		f     func(fam natFamily) []byte
	}{
		{"other source port", false, func(fam natFamily) []byte {
			return frametest.TCP(netip.AddrPortFrom(fam.rip, 5555), fam.peer, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC))
		}},
		{"not a SYN", false, func(fam natFamily) []byte {
			return frametest.TCP(fam.ripData, fam.peer, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC))
		}},
		{"udp to another port", false, func(fam natFamily) []byte {
			return frametest.UDP(fam.ripData, fam.peer, []byte("x"), frametest.WithSrcMAC(rip1MAC))
		}},
		{"private to private", false, func(fam natFamily) []byte {
			return frametest.TCP(fam.ripData, netip.AddrPortFrom(fam.rip2, 7000), frame.SYN, nil, frametest.WithSrcMAC(rip1MAC))
		}},
		{"the other family's rule only", true, func(fam natFamily) []byte {
			return frametest.TCP(fam.ripData, fam.peer, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC))
		}},
	}
	for _, fam := range natFamilies(&dataplane.NAT{}) {
		for _, tt := range tests {
			t.Run(fam.name+"/"+tt.name, func(t *testing.T) {
				s := fam.site(t, 4096)
				m := fam.masq()
				if tt.other {
					m = fam.other()
				}
				withMasq(s, m)
				if out := s.run(1, tt.f(fam)); len(out[0])+len(out[1]) != 0 {
					t.Errorf("sent %d+%d frames, want none (left to the kernel)", len(out[0]), len(out[1]))
				}
			})
		}
		t.Run(fam.name+"/stray packet to VIP:20", func(t *testing.T) {
			s := fam.site(t, 4096)
			withMasq(s, fam.masq())
			out := s.run(0, frametest.TCP(fam.peer, netip.AddrPortFrom(fam.vip, 20), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC)))
			if len(out[0]) != 1 || len(out[1]) != 0 {
				t.Fatalf("stray packet to VIP:20: %d/%d frames, want one ICMP error", len(out[0]), len(out[1]))
			}
			frametest.Check(t, out[0][0], frametest.ICMPType(fam.unreach[0], fam.unreach[1]), frametest.SumsOK())
		})
	}
}

// guideMasq6Only is guideMasq6's rule for the guide's active FTP over
// IPv6, without the IPv4 one.
func guideMasq6Only() *nat.Masquerade {
	return nat.NewMasquerade([]nat.Rule{{Proto: frame.ProtoTCP, Src: netip.MustParsePrefix("2001:db8:12::/64"), SPortLo: 20, SPortHi: 20, OutPort: -1, IPv6: true}},
		map[netip.Addr]netip.Addr{rip1: vip, rip2: vip, rip61: vip6}, []netip.Addr{vip, {}}, []netip.Addr{vip6, {}})
}

func TestMasqueradeOutboundAvoidsServicePorts(t *testing.T) {
	s := newSite(t, "rr")
	all := nat.NewMasquerade([]nat.Rule{{Src: netip.MustParsePrefix("10.11.12.0/24"), OutPort: -1}},
		map[netip.Addr]netip.Addr{rip1: vip}, []netip.Addr{vip, {}}, nil)
	withNAT(t, s, &dataplane.NAT{Masq: all})
	// The real server's own connection from port 80 (a service port of
	// the VIP) must not come from VIP:80, whose replies the service takes.
	src := netip.AddrPortFrom(rip1, 80)
	dns := netip.MustParseAddrPort("198.51.100.53:53")
	out := s.run(1, frametest.TCP(src, dns, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("real server's SYN from port 80: %d frames, want 1", len(out[0]))
	}
	l := frametest.Decode(out[0][0])
	if l.TCP == nil || uint16(l.TCP.SrcPort) == 80 || uint16(l.TCP.SrcPort) == 21 {
		t.Fatalf("masqueraded from a service port: %+v", l.TCP)
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip), frametest.SumsOK(), frametest.DstMAC(gwMAC))
	back := frametest.TCP(dns, netip.AddrPortFrom(vip, uint16(l.TCP.SrcPort)), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC))
	out = s.run(0, back)
	if len(out[1]) != 1 {
		t.Fatalf("answer: %d frames to the private side", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip1), frametest.DstPort(80), frametest.SumsOK())
	// UDP port 80 is no service: a UDP query keeps its port.
	out = s.run(1, frametest.UDP(src, dns, []byte("query"), frametest.WithSrcMAC(rip1MAC)))
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip), frametest.SrcPort(80), frametest.SumsOK())
}

// TestMasqueradeNotOnStandby: a router that does not own the VIP leaves
// the real servers' connections to its peer.
func TestMasqueradeNotOnStandby(t *testing.T) {
	for _, fam := range natFamilies(&dataplane.NAT{}) {
		t.Run(fam.name, func(t *testing.T) {
			s := fam.site(t, 4096)
			withMasq(s, fam.masq())
			st := *s.d.State()
			st.Owned = dataplane.NewOwned(fam.standby)
			s.d.Publish(&st)
			if out := s.run(1, frametest.TCP(fam.ripData, fam.peer, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC))); len(out[0]) != 0 {
				t.Errorf("a router that does not own the VIP masqueraded: %d frames", len(out[0]))
			}
		})
	}
}

// ftpSession opens a control connection client → VIP:21 (to rip1 by rr).
func ftpSession(t *testing.T, s *site) {
	t.Helper()
	ftpSessionTo(t, s, client, ftpCtl, rip1)
}

// ftpSessionTo opens a control connection from c to the FTP service ctl,
// which rr gives to rip.
func ftpSessionTo(t *testing.T, s *site, c, ctl netip.AddrPort, rip netip.Addr) {
	t.Helper()
	out := s.run(0, frametest.TCP(c, ctl, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithSeq(1000)))
	if len(out[1]) != 1 {
		t.Fatalf("control SYN: %d frames forwarded", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip), frametest.DstPort(21), frametest.SumsOK())
}

func TestFTPHelperRewritesPASVAndFollowsTheDataConnection(t *testing.T) {
	s := newSite(t, "rr")
	withNAT(t, s, &dataplane.NAT{FTP: []netip.AddrPort{ftpCtl}})
	ftpSession(t, s)
	reply := []byte("227 Entering Passive Mode (10,11,12,1,47,42).\r\n")
	want := []byte("227 Entering Passive Mode (192,168,26,10,47,42).\r\n")
	d := uint32(len(want) - len(reply))
	out := s.run(1, frametest.TCP(rip1FTP, client, frame.ACK|frame.PSH, reply, frametest.WithSrcMAC(rip1MAC), frametest.WithSeq(5000), frametest.WithAck(1001)))
	if len(out[0]) != 1 {
		t.Fatalf("227 reply: %d frames to the client", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip), frametest.SrcPort(21), frametest.Payload(want), frametest.Seq(5000), frametest.SumsOK())

	// The next server segment moves by the growth; the client's ack of it
	// moves back.
	out = s.run(1, frametest.TCP(rip1FTP, client, frame.ACK|frame.PSH, []byte("150 ok\r\n"), frametest.WithSrcMAC(rip1MAC),
		frametest.WithSeq(5000+uint32(len(reply))), frametest.WithAck(1001)))
	frametest.Check(t, out[0][0], frametest.Seq(5000+uint32(len(reply))+d), frametest.SumsOK())
	ack := frametest.TCP(client, ftpCtl, frame.ACK, nil, frametest.WithSrcMAC(gwMAC), frametest.WithSeq(1001),
		frametest.WithAck(5000+uint32(len(reply))+d+8))
	out = s.run(0, ack)
	if len(out[1]) != 1 {
		t.Fatalf("client ACK: %d frames", len(out[1]))
	}
	l := frametest.Decode(out[1][0])
	if l.TCP == nil || l.TCP.Ack != 5000+uint32(len(reply))+8 {
		t.Errorf("client ACK forwarded with ack %d, want %d", l.TCP.Ack, 5000+uint32(len(reply))+8)
	}
	frametest.Check(t, out[1][0], frametest.SumsOK())

	// The passive data connection to VIP:12074 reaches rip1:12074 without
	// any firewall mark, and its replies come from the VIP.
	dataV := netip.AddrPortFrom(vip, 47<<8|42)
	out = s.run(0, frametest.TCP(clientDat, dataV, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("passive data SYN: %d frames forwarded (counters %+v)", len(out[1]), dataplane.Sum(&s.w.C))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip1), frametest.DstPort(dataV.Port()), frametest.SumsOK())
	out = s.run(1, frametest.TCP(netip.AddrPortFrom(rip1, dataV.Port()), clientDat, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)))
	if len(out[0]) != 1 {
		t.Fatalf("passive data SYN-ACK: %d frames", len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip), frametest.SrcPort(dataV.Port()), frametest.SumsOK())
	// A second connection to the port is not expected any more.
	out = s.run(0, frametest.TCP(netip.MustParseAddrPort("203.0.113.7:40002"), dataV, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 0 {
		t.Errorf("an unexpected connection to the data port was forwarded")
	}
}

func TestFTPHelperEPSVAndPartialChecksum(t *testing.T) {
	s := newSite(t, "rr")
	withNAT(t, s, &dataplane.NAT{FTP: []netip.AddrPort{ftpCtl}})
	ftpSession(t, s)
	reply := frametest.TCP(rip1FTP, client, frame.ACK|frame.PSH, []byte("229 Entering Extended Passive Mode (|||30000|)\r\n"),
		frametest.WithSrcMAC(rip1MAC), frametest.WithSeq(7000))
	out := s.run(1, reply)
	frametest.Check(t, out[0][0], frametest.SrcAddr(vip), frametest.Seq(7000), frametest.SumsOK())
	out = s.run(0, frametest.TCP(clientDat, netip.AddrPortFrom(vip, 30000), frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[1]) != 1 {
		t.Fatalf("EPSV data SYN: %d frames forwarded", len(out[1]))
	}
	frametest.Check(t, out[1][0], frametest.DstAddr(rip1), frametest.DstPort(30000))

	// A 227 reply with a partial checksum (TX offload on the real server)
	// leaves complete and correct.
	p227 := frametest.TCP(rip1FTP, client, frame.ACK|frame.PSH, []byte("227 Entering Passive Mode (10,11,12,1,117,49)\r\n"),
		frametest.WithSrcMAC(rip1MAC), frametest.WithSeq(7100))
	m := makePartial(p227)
	w := dataplane.NewWorker(s.d, s.prv, linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
	w.Process([][]byte{p227}, []dataplane.Meta{m}, time.Now())
	fs := s.tx[0].SentFrames()
	if len(fs) != 1 {
		t.Fatalf("partial 227: %d frames", len(fs))
	}
	if fs[0].Meta.Flags&dataplane.NeedsCsum != 0 {
		t.Errorf("rewritten segment still flagged NeedsCsum")
	}
	frametest.Check(t, fs[0].Data, frametest.Payload([]byte("227 Entering Passive Mode (192,168,26,10,117,49)\r\n")), frametest.SumsOK())
}

// makePartial turns a frame's TCP checksum into the pseudo-header sum a
// sender with TX checksum offload leaves, and returns its Meta.
func makePartial(f []byte) dataplane.Meta {
	var p frame.Parsed
	p.Decode(f)
	ip := frame.IPv4(f[p.L3:p.End])
	t := frame.TCP(f[p.L4:p.End])
	t.SetChecksum(frame.Fold(ip.PseudoHeaderSum(len(t))))
	return dataplane.Meta{Flags: dataplane.NeedsCsum, CsumStart: uint16(p.L4), CsumOffset: frame.TCPChecksumOffset}
}

func TestFTPHelperActiveMode(t *testing.T) {
	s := newSite(t, "rr")
	withNAT(t, s, &dataplane.NAT{FTP: []netip.AddrPort{ftpCtl}})
	ftpSession(t, s)
	for _, cmd := range []string{"PORT 203,0,113,7,156,65\r\n", "EPRT |1|203.0.113.7|40002|\r\n"} {
		out := s.run(0, frametest.TCP(client, ftpCtl, frame.ACK|frame.PSH, []byte(cmd), frametest.WithSrcMAC(gwMAC), frametest.WithSeq(1001)))
		frametest.Check(t, out[1][0], frametest.DstAddr(rip1), frametest.Payload([]byte(cmd)), frametest.SumsOK())
	}
	// No masquerade rule: the expectations alone translate the real
	// server's connections from port 20, to VIP:20.
	for _, dst := range []netip.AddrPort{clientDat, netip.MustParseAddrPort("203.0.113.7:40002")} {
		out := s.run(1, frametest.TCP(rip1Data, dst, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
		if len(out[0]) != 1 {
			t.Fatalf("active data SYN to %v: %d frames", dst, len(out[0]))
		}
		frametest.Check(t, out[0][0], frametest.SrcAddr(vip), frametest.SrcPort(20), frametest.DstAddr(dst.Addr()), frametest.DstPort(dst.Port()), frametest.SumsOK())
	}
	// Another destination is not expected.
	if out := s.run(1, frametest.TCP(rip1Data, netip.MustParseAddrPort("203.0.113.7:40003"), frame.SYN, nil, frametest.WithSrcMAC(rip1MAC))); len(out[0]) != 0 {
		t.Errorf("an unannounced connection from the real server was translated")
	}
}

func TestMasqueradedFlowNoAllocs(t *testing.T) {
	for _, fam := range natFamilies(&dataplane.NAT{FTP: []netip.AddrPort{ftpCtl, ftpCtl6}}) {
		t.Run(fam.name, func(t *testing.T) {
			// Transmit queues of one frame drop what does not fit and recycle, so
			// only the worker's own allocations are counted (as TestProcessNoAllocs).
			s := fam.site(t, 1)
			withMasq(s, fam.masq())
			wOut := dataplane.NewWorker(s.d, s.prv, linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
			batch, meta := make([][]byte, 1), make([]dataplane.Meta, 1)
			now := time.Now()
			batch[0] = frametest.TCP(fam.ripData, fam.peer, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC))
			wOut.Process(batch, meta, now)
			out := frametest.TCP(fam.ripData, fam.peer, frame.ACK, make([]byte, 100), frametest.WithSrcMAC(rip1MAC))
			in := frametest.TCP(fam.peer, netip.AddrPortFrom(fam.vip, 20), frame.ACK, nil, frametest.WithSrcMAC(gwMAC))
			buf, rbuf := make([]byte, len(out)), make([]byte, len(in))
			fill := func(b, f []byte) { copy(b, f); batch[0] = b }
			fill(buf, out)
			wOut.Process(batch, meta, now)
			fill(rbuf, in)
			s.w.Process(batch, meta, now)
			if n := testing.AllocsPerRun(500, func() { fill(buf, out); wOut.Process(batch, meta, now) }); n != 0 {
				t.Errorf("masqueraded real server→peer path allocs = %v, want 0", n)
			}
			if n := testing.AllocsPerRun(500, func() { fill(rbuf, in); s.w.Process(batch, meta, now) }); n != 0 {
				t.Errorf("masqueraded peer→real server path allocs = %v, want 0", n)
			}
			if c := dataplane.Sum(&wOut.C, &s.w.C); c.Verdicts[dataplane.Forward] < 1000 {
				t.Errorf("forwarded %d frames, want every one of 1000+", c.Verdicts[dataplane.Forward])
			}
		})
	}
}

// BenchmarkWorkerNAT measures the packet path with masquerade rules and the
// FTP helper configured: the established paths of a virtual service (which
// must cost what they cost without them) and of a masqueraded flow.
func BenchmarkWorkerNAT(b *testing.B) {
	s := newSiteCap(b, "rr", 1)
	withNAT(b, s, &dataplane.NAT{Masq: guideMasq(), FTP: []netip.AddrPort{ftpCtl}})
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	s.run(1, frametest.TCP(rip1Data, clientDat, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
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
			for j := 0; j < k; j++ {
				copy(bufs[j], tmpl)
				frames[j] = bufs[j]
			}
			w.Process(frames[:k], meta[:k], now)
		}
	}
	b.Run("established-in", func(b *testing.B) {
		run(b, wIn, frametest.TCP(client, web, frame.ACK, nil, frametest.WithSrcMAC(gwMAC)))
	})
	b.Run("established-out", func(b *testing.B) {
		run(b, wOut, frametest.TCP(netip.AddrPortFrom(rip1, 8080), client, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)))
	})
	b.Run("masq-out", func(b *testing.B) {
		run(b, wOut, frametest.TCP(rip1Data, clientDat, frame.ACK, nil, frametest.WithSrcMAC(rip1MAC)))
	})
	b.Run("masq-in", func(b *testing.B) {
		run(b, wIn, frametest.TCP(clientDat, netip.AddrPortFrom(vip, 20), frame.ACK, nil, frametest.WithSrcMAC(gwMAC)))
	})
}

// FuzzWorkerNAT is FuzzWorker with masquerade rules and the FTP helper on,
// and an FTP control connection open: nothing may panic and every frame
// lvsd sends must be well formed.
func FuzzWorkerNAT(f *testing.F) {
	f.Add(frametest.TCP(rip1FTP, client, frame.ACK|frame.PSH, []byte("227 Entering Passive Mode (10,11,12,1,47,42).\r\n"), frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.TCP(rip1FTP, client, frame.ACK|frame.PSH, []byte("229 Entering Extended Passive Mode (|||30000|)\r\n"), frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.TCP(client, ftpCtl, frame.ACK|frame.PSH, []byte("PORT 203,0,113,7,156,65\r\n"), frametest.WithSrcMAC(gwMAC)), false)
	f.Add(frametest.TCP(client, ftpCtl, frame.ACK|frame.PSH, []byte("EPRT |1|203.0.113.7|40002|\r\n"), frametest.WithSrcMAC(gwMAC)), false)
	f.Add(frametest.TCP(rip1Data, clientDat, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.UDP(rip1Data, clientDat, []byte("x"), frametest.WithSrcMAC(rip1MAC)), true)
	f.Add(frametest.TCP(clientDat, netip.AddrPortFrom(vip, 20), frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(gwMAC)), false)
	masqSYN := frametest.TCP(netip.AddrPortFrom(vip, 20), clientDat, frame.SYN, nil)
	f.Add(frametest.ICMPError(frame.ICMPDestUnreachable, frame.ICMPFragNeeded, netip.MustParseAddr("198.51.100.1"), masqSYN,
		frametest.WithMTU(1400), frametest.WithSrcMAC(gwMAC)), false)
	f.Fuzz(func(t *testing.T, in []byte, private bool) {
		s := newSite(t, "rr")
		withNAT(t, s, &dataplane.NAT{Masq: guideMasq(), FTP: []netip.AddrPort{ftpCtl}})
		s.run(0, frametest.TCP(client, ftpCtl, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
		s.run(0, frametest.TCP(client, ftpCtl, frame.ACK|frame.PSH, []byte("PORT 203,0,113,7,156,65\r\n"), frametest.WithSrcMAC(gwMAC)))
		s.run(1, frametest.TCP(rip1FTP, client, frame.ACK|frame.PSH, []byte("227 Entering Passive Mode (10,11,12,1,47,42).\r\n"), frametest.WithSrcMAC(rip1MAC)))
		s.run(1, frametest.TCP(rip1Data, clientDat, frame.SYN, nil, frametest.WithSrcMAC(rip1MAC)))
		port := 0
		if private {
			port = 1
		}
		w := dataplane.NewWorker(s.d, s.d.Ports[port], linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
		buf := append([]byte(nil), in...)
		valid := sumsValid(in)
		w.Process([][]byte{buf}, make([]dataplane.Meta, 1), time.Now())
		for _, l := range s.tx {
			for _, out := range l.Sent() {
				if !sameDatagram(in, out) || valid {
					checkSent(t, out)
				}
			}
		}
	})
}
