package daemon

import (
	"net/netip"
	"testing"
	"time"

	"lvs/dataplane/linktest"
	"lvs/frame"
	"lvs/internal/frametest"
)

// nat6Cf is a dual-stack router with one IPv6 NAT service.
const nat6Cf = `serial_no = 1
primary = 192.168.26.9
service = lvs
network = nat
nat_router6 = fd00:11:12::10 eth1:1
nat_nmask6 = 64
virtual web6 {
     active = 1
     address = 2001:db8:26::10 eth0:1
     port = 80
     scheduler = rr
     protocol = tcp
     server web6a {
         address = fd00:11:12::1
         active = 1
         weight = 1
     }
}
`

// test6Host is testHost with an IPv6 address on each interface.
var test6Host = host{
	iface: func(name string) (iface, error) {
		ifc, err := testIface(name)
		a := "2001:db8:26::9/64"
		if name == "eth1" {
			a = "fd00:11:12::9/64"
		}
		ifc.addrs = append(ifc.addrs, netip.MustParsePrefix(a), netip.MustParsePrefix("fe80::9/64"))
		return ifc, err
	},
	addrs: testHost.addrs,
	guard: testHost.guard,
}

// An lvsd with IPv6 addresses announces them with unsolicited neighbour
// advertisements (where it sends gratuitous ARP for IPv4), resolves its
// IPv6 real servers with neighbour solicitations, and forwards a client's
// IPv6 connection once the real server answered.
func TestControlLoopIPv6(t *testing.T) {
	td := newTestDaemonOn(t, nat6Cf, test6Host)
	vip, natRouter6, rip := netip.MustParseAddr("2001:db8:26::10"), netip.MustParseAddr("fd00:11:12::10"), netip.MustParseAddr("fd00:11:12::1")
	if p := td.site.ports[1]; p.Addr6 != netip.MustParseAddr("fd00:11:12::9") {
		t.Errorf("eth1's IPv6 source = %v, want its global address", p.Addr6)
	}
	ctl := func(i int) *linktest.Link { return td.ctl[i].(*linktest.Link) }
	type seen struct{ na, ns bool }
	var pub, prv seen
	for end := time.Now().Add(10 * time.Second); !(pub.na && prv.na && prv.ns) && time.Now().Before(end); {
		for i, s := range []*seen{&pub, &prv} {
			for _, f := range ctl(i).Sent() {
				l := frametest.Decode(f)
				switch {
				case l.NA != nil && netip.AddrFrom16([16]byte(l.NA.TargetAddress)) == []netip.Addr{vip, natRouter6}[i]:
					frametest.Check(t, f, frametest.NAFlags(frame.NAOverride|frame.NARouter), frametest.DstAddr(frame.AllNodes),
						frametest.LinkAddr([]frame.MAC{testPubMAC, testPrivMAC}[i]), frametest.SumsOK())
					s.na = true
				case l.NS != nil && i == 1 && netip.AddrFrom16([16]byte(l.NS.TargetAddress)) == rip:
					frametest.Check(t, f, frametest.SrcAddr(netip.MustParseAddr("fd00:11:12::9")), frametest.DstAddr(frame.SolicitedNode(rip)), frametest.SumsOK())
					s.ns = true
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !pub.na || !prv.na || !prv.ns {
		t.Fatalf("advertised the VIP %v, nat_router6 %v; solicited the real server %v", pub.na, prv.na, prv.ns)
	}

	// The real server answers; a client on the public segment asks for
	// the VIP, and its SYN then reaches the real server, NATed.
	ripMAC := frame.MAC{2, 0, 0, 0, 1, 1}
	td.rx[1].Inject(frametest.NeighborAdvert(ripMAC, rip, testPrivMAC, netip.MustParseAddr("fd00:11:12::9"), frame.NASolicited|frame.NAOverride))
	client := netip.MustParseAddrPort("[2001:db8:26::100]:40000")
	clientMAC := frame.MAC{2, 0, 0, 0, 0, 0x64}
	td.rx[0].Inject(frametest.NeighborSolicit(clientMAC, client.Addr(), vip))
	frametest.Check(t, td.waitFrame(t, 0, "the answer to the client's solicitation"), frametest.NDTarget(vip),
		frametest.DstAddr(client.Addr()), frametest.DstMAC(clientMAC), frametest.LinkAddr(testPubMAC), frametest.SumsOK())
	for end := time.Now().Add(10 * time.Second); ; {
		if _, ok := td.site.ports[1].Neigh.Lookup6(rip.As16()); ok {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the real server's advertisement was not learned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	td.rx[0].Inject(frametest.TCPSyn(client, netip.AddrPortFrom(vip, 80), frametest.WithSrcMAC(clientMAC), frametest.WithDstMAC(testPubMAC)))
	fwd := td.waitFrame(t, 1, "the client's SYN")
	frametest.Check(t, fwd, frametest.DstAddr(rip), frametest.DstPort(80), frametest.SrcAddr(client.Addr()), frametest.DstMAC(ripMAC),
		frametest.SrcMAC(testPrivMAC), frametest.TTL(63), frametest.SumsOK())
}
