package dataplane_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"lvs/dataplane"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// newSite46 is newSite6 with one more service, TCP [vip6]:8446 tunnelled
// to the IPv4 real server rip1 (IPv6 in IPv4, the mix of families IPVS
// allows), and the private port holding prvOwn with a route to rip1's
// network.
func newSite46(t *testing.T) *site {
	t.Helper()
	s := newSite6(t, 4096)
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 8446}
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}})
	if err != nil {
		t.Fatal(err)
	}
	if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: rip1, Port: 8446, Method: ipvs.Tunnel, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	s.table = tb
	s.prv.Addr = prvOwn
	s.prv.Neigh.Want([]netip.Addr{rip61, rip62, rip63, rip1})
	s.prv.Neigh.Learn(rip1, rip1MAC, time.Now())
	old := s.d.State()
	s.d.Publish(&dataplane.State{
		Table: tb,
		Owned: old.Owned,
		Class: old.Class,
		Routes: dataplane.NewRoutes([]dataplane.Route{
			{Prefix: netip.MustParsePrefix("2001:db8:12::/64"), Port: 1},
			{Prefix: netip.MustParsePrefix("2001:db8:26::/64"), Port: 0},
			{Prefix: netip.MustParsePrefix("::/0"), Port: 0, Via: gw6},
			{Prefix: netip.MustParsePrefix("10.11.12.0/24"), Port: 1},
		}),
		Local:  old.Local,
		Local6: old.Local6,
	})
	return s
}

// TestTunnel6in4: an IPv6 client's datagram for an IPv6 service goes to
// its IPv4 real server inside an IPv4 header (protocol 41) from the
// router's own IPv4 address, the inner datagram unchanged but for its hop
// limit; one too big once encapsulated is answered with packet too big
// carrying MTU-20. Checked by gopacket.
func TestTunnel6in4(t *testing.T) {
	s := newSite46(t)
	svc := netip.AddrPortFrom(vip6, 8446)
	syn := frametest.TCP(client6, svc, frame.SYN, []byte("y"), frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
	out := s.run(0, syn)
	if len(out[1]) != 1 || len(out[0]) != 0 {
		t.Fatalf("SYN: %d frames on the private port, %d public; want 1 private (drops %v)", len(out[1]), len(out[0]), dataplane.Sum(&s.w.C).Drops)
	}
	f := out[1][0]
	l := frametest.Decode(f)
	if l.IP == nil || l.IP6 == nil || l.TCP == nil {
		t.Fatalf("not IPv6-in-IPv4 TCP: %+v (%v)", l, l.Err)
	}
	inner := append(append([]byte(nil), f[:frame.EthernetLen]...), f[frame.IPIPInner:]...)
	inner[12], inner[13] = 0x86, 0xdd // the copied Ethernet header said IPv4
	in := frametest.Decode(inner)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"dst MAC", l.Eth.DstMAC.String(), netMAC(rip1MAC)},
		{"src MAC", l.Eth.SrcMAC.String(), netMAC(privMAC)},
		{"outer protocol", l.IP.Protocol, layers.IPProtocolIPv6},
		{"outer src (the router's IPv4 address on the egress port)", addrOf(l.IP.SrcIP), prvOwn},
		{"outer dst", addrOf(l.IP.DstIP), rip1},
		{"outer TTL (the inner hop limit, decremented)", l.IP.TTL, uint8(63)},
		{"outer DF (clear for an IPv6 datagram)", l.IP.Flags & layers.IPv4DontFragment, layers.IPv4Flag(0)},
		{"outer length", int(l.IP.Length), len(syn) - frame.EthernetLen + 20},
		{"frame length", len(f), len(syn) + 20},
		{"inner src", addrOf(l.IP6.SrcIP), client6.Addr()},
		{"inner dst (the VIP)", addrOf(l.IP6.DstIP), vip6},
		{"inner hop limit", l.IP6.HopLimit, uint8(63)},
		{"inner dst port", uint16(l.TCP.DstPort), uint16(8446)},
		{"inner decodes", in.IP6 != nil && in.TCP != nil, true},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if !frame.IPv4(f[frame.EthernetLen:frame.IPIPInner]).ValidChecksum() {
		t.Errorf("outer header checksum invalid")
	}
	frametest.Check(t, inner, frametest.SumsOK(), frametest.Flags(frame.SYN))
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 8446}
	if d := s.table.Service(key).Dest(rip1, 8446); d.C.InPkts.Load() != 1 || d.C.InBytes.Load() != uint64(len(syn)-frame.EthernetLen) {
		t.Errorf("rip1 counters: %d packets %d bytes, want 1 and the inner datagram's bytes", d.C.InPkts.Load(), d.C.InBytes.Load())
	}

	for _, c := range []struct {
		name    string
		payload int
		fits    bool
	}{
		{"fits with 20 bytes to spare", 1500 - 40 - 20 - 20, true},
		{"one byte too big once encapsulated", 1500 - 40 - 20 - 20 + 1, false},
		{"a full-sized datagram of the link", 1500 - 40 - 20, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ack := frametest.TCP(client6, svc, frame.ACK, make([]byte, c.payload), frametest.WithSrcMAC(gwMAC))
			out := s.run(0, ack)
			if c.fits {
				if len(out[1]) != 1 || len(out[0]) != 0 || len(out[1][0]) != len(ack)+20 {
					t.Fatalf("%d forwarded, %d answers", len(out[1]), len(out[0]))
				}
				return
			}
			if len(out[0]) != 1 || len(out[1]) != 0 {
				t.Fatalf("%d forwarded, %d answers; want packet too big", len(out[1]), len(out[0]))
			}
			frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPv6PacketTooBig, 0), frametest.ICMPv6Param(1480),
				frametest.SrcAddr(vip6), frametest.DstAddr(client6.Addr()), frametest.SumsOK())
		})
	}
}

// TestTunnel6in4HopLimit: a datagram arriving with hop limit 1 is not
// tunnelled; the client gets time exceeded.
func TestTunnel6in4HopLimit(t *testing.T) {
	s := newSite46(t)
	syn := frametest.TCP(client6, netip.AddrPortFrom(vip6, 8446), frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithTTL(1))
	out := s.run(0, syn)
	if len(out[1]) != 0 || len(out[0]) != 1 {
		t.Fatalf("%d forwarded, %d answers; want time exceeded", len(out[1]), len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPv6TimeExceeded, 0), frametest.SumsOK())
}

// netMAC is m as gopacket prints it.
func netMAC(m frame.MAC) string { return net.HardwareAddr(m[:]).String() }

// addrOf is a gopacket address as a netip.Addr.
func addrOf(b []byte) netip.Addr { a, _ := netip.AddrFromSlice(b); return a.Unmap() }

// FuzzWorker6in4 feeds arbitrary frames to the site with an IPv4 real
// server behind the IPv6 VIP: nothing may panic, every IPv4 frame sent is
// IPv6 in IPv4 with a valid outer header around a datagram that decodes
// as IPv6, and every other frame sent decodes as IPv6.
func FuzzWorker6in4(f *testing.F) {
	svc := netip.AddrPortFrom(vip6, 8446)
	f.Add(frametest.TCP(client6, svc, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	f.Add(frametest.TCP(client6, svc, frame.ACK, make([]byte, 1441), frametest.WithSrcMAC(gwMAC)))
	f.Add(frametest.TCP(client6, svc, frame.SYN, nil, frametest.WithTTL(1)))
	f.Add(frametest.UDP(client6, svc, []byte("x")))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newSite46(t)
		s.w.Process([][]byte{append([]byte(nil), in...)}, make([]dataplane.Meta, 1), time.Now())
		for _, l := range s.tx {
			for _, out := range l.Sent() {
				var p frame.Parsed
				p.Decode(out)
				switch {
				case p.Kind == frame.KindIPv4:
					ip := frame.IPv4(out[frame.EthernetLen:])
					if ip.Protocol() != frame.ProtoIPv6 || !ip.ValidChecksum() || frame.EthernetLen+ip.TotalLen() != len(out) {
						t.Fatalf("sent an IPv4 frame that is not IPv6 in IPv4: % x\nfor % x", out, in)
					}
					if len(out) < frame.IPIPInner+frame.IPv6Len || out[frame.IPIPInner]>>4 != 6 {
						t.Fatalf("the inner datagram is not IPv6: % x", out)
					}
				case p.Kind != frame.KindIPv6:
					t.Fatalf("sent a frame that decodes as neither: % x\nfor % x", out, in)
				}
			}
		}
	})
}
