package dataplane_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// svc4in6 is the IPv4 service newSite64 tunnels to an IPv6 real server.
var svc4in6 = netip.AddrPortFrom(vip, 8464)

// newSite64 is newSite6 with one more service, TCP vip:8464 tunnelled to
// the IPv6 real server rip63 (IPv4 in IPv6, the mix of families IPVS
// allows since Linux 3.18). The private port's own IPv6 address,
// routerPrv6, is the outer source.
func newSite64(t testing.TB, capacity int) *site {
	t.Helper()
	s := newSite6(t, capacity)
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: svc4in6.Port()}
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}})
	if err != nil {
		t.Fatal(err)
	}
	if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: rip63, Port: svc4in6.Port(), Method: ipvs.Tunnel, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	s.table = tb
	old := s.d.State()
	st := *old
	st.Table = tb
	s.d.Publish(&st)
	return s
}

// decap64 checks that f is an IPv4-in-IPv6 frame from the router to rip63
// and returns its outer header and the inner datagram behind an IPv4
// Ethernet header.
func decap64(t *testing.T, f []byte) (*layers.IPv6, []byte) {
	t.Helper()
	l := frametest.Decode(f)
	if l.IP6 == nil || l.IP == nil {
		t.Fatalf("not IPv4 in IPv6: %+v (%v)", l, l.Err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"dst MAC", l.Eth.DstMAC.String(), netMAC(rip63MAC)},
		{"src MAC", l.Eth.SrcMAC.String(), netMAC(privMAC)},
		{"next header", l.IP6.NextHeader, layers.IPProtocolIPv4},
		{"outer src (the router's IPv6 address on the egress port)", addrOf(l.IP6.SrcIP), routerPrv6},
		{"outer dst", addrOf(l.IP6.DstIP), rip63},
		{"outer payload length", int(l.IP6.Length), len(f) - frame.IP6IP6Inner},
		{"outer hop limit (the inner TTL, decremented)", l.IP6.HopLimit, l.IP.TTL},
		{"inner dst (the VIP)", addrOf(l.IP.DstIP), vip},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	inner := append(append([]byte(nil), f[:frame.EthernetLen]...), f[frame.IP6IP6Inner:]...)
	inner[12], inner[13] = 0x08, 0x00 // the copied Ethernet header said IPv6
	return l.IP6, inner
}

// TestTunnel4in6: an IPv4 client's datagram for an IPv4 service goes to
// its IPv6 real server inside an IPv6 header (next header 4) from the
// router's own IPv6 address, the inner datagram unchanged but for its
// TTL; path MTU as IPVS: with DF the client gets "fragmentation needed"
// with MTU-40, without it the datagram goes as IPv4 fragments, each
// tunnelled. Checked by gopacket.
func TestTunnel4in6(t *testing.T) {
	s := newSite64(t, 4096)
	syn := frametest.TCP(client, svc4in6, frame.SYN, []byte("y"), frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC), frametest.WithTOS(0x10))
	out := s.run(0, syn)
	if len(out[1]) != 1 || len(out[0]) != 0 {
		t.Fatalf("SYN: %d frames on the private port, %d public; want 1 private (drops %v)", len(out[1]), len(out[0]), dataplane.Sum(&s.w.C).Drops)
	}
	f := out[1][0]
	o, inner := decap64(t, f)
	n := frame.IPv4(syn[frame.EthernetLen:]).TotalLen() // the SYN's frame is padded to 60 bytes
	if len(f) != frame.IP6IP6Inner+n || o.TrafficClass != 0x10 {
		t.Errorf("frame %d bytes, traffic class %#x; want %d and the inner TOS 0x10", len(f), o.TrafficClass, frame.IP6IP6Inner+n)
	}
	frametest.Check(t, inner, frametest.SumsOK(), frametest.Flags(frame.SYN), frametest.TTL(63), frametest.DstAddr(vip))
	if !bytes.Equal(inner[frame.EthernetLen+20:], syn[frame.EthernetLen+20:frame.EthernetLen+n]) {
		t.Errorf("the inner TCP segment changed")
	}
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: svc4in6.Port()}
	if d := s.table.Service(key).Dest(rip63, svc4in6.Port()); d.C.InPkts.Load() != 1 || d.C.InBytes.Load() != uint64(n) {
		t.Errorf("rip63 counters: %d packets %d bytes, want 1 and the inner datagram's bytes", d.C.InPkts.Load(), d.C.InBytes.Load())
	}
	c, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: client, Virtual: svc4in6})
	if a, _ := s.d.CT.Addrs(c); !ok || !c.Real6() || a.Real.Addr() != rip63 {
		t.Errorf("the connection: %v Real6 %v addrs %v; want rip63", c, c.Real6(), a)
	}

	const fit = 1500 - 40 - 20 - 20 // TCP payload of a datagram of exactly MTU-40
	for _, c := range []struct {
		name    string
		payload int
		df      bool
		frags   int // tunnelled frames; 0: fragmentation needed
	}{
		{"fits with 40 bytes to spare", fit, true, 1},
		{"one byte too big with DF", fit + 1, true, 0},
		{"a full-sized datagram with DF", 1460, true, 0},
		{"one byte too big without DF", fit + 1, false, 2},
		{"a full-sized datagram without DF", 1460, false, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			payload := make([]byte, c.payload)
			for i := range payload {
				payload[i] = byte(i)
			}
			opts := []frametest.Option{frametest.WithSrcMAC(gwMAC), frametest.WithID(0x4242)}
			if c.df {
				opts = append(opts, frametest.WithDF())
			}
			ack := frametest.TCP(client, svc4in6, frame.ACK, payload, opts...)
			out := s.run(0, ack)
			if c.frags == 0 {
				if len(out[0]) != 1 || len(out[1]) != 0 {
					t.Fatalf("%d forwarded, %d answers; want fragmentation needed", len(out[1]), len(out[0]))
				}
				frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPFragNeeded),
					frametest.SrcAddr(vip), frametest.DstAddr(client.Addr()), frametest.SumsOK())
				if mtu := binary.BigEndian.Uint16(out[0][0][34+6:]); mtu != 1460 {
					t.Errorf("fragmentation needed MTU = %d, want 1460", mtu)
				}
				return
			}
			if len(out[1]) != c.frags || len(out[0]) != 0 {
				t.Fatalf("%d forwarded, %d answers; want %d tunnelled frames (drops %v)", len(out[1]), len(out[0]), c.frags, dataplane.Sum(&s.w.C).Drops)
			}
			var data []byte // the inner datagrams' payloads, reassembled by offset
			for i, f := range out[1] {
				if len(f) > 1514 {
					t.Errorf("frame %d is %d bytes, more than the MTU", i, len(f))
				}
				_, in := decap64(t, f)
				ip := frame.IPv4(in[frame.EthernetLen:])
				if !ip.ValidChecksum() || ip.ID() != 0x4242 || ip.TTL() != 63 || ip.MF() != (i < c.frags-1) || ip.FragOffset() != len(data) {
					t.Fatalf("inner fragment %d: checksum ok %v, id %#x, TTL %d, MF %v, offset %d (want %d)",
						i, ip.ValidChecksum(), ip.ID(), ip.TTL(), ip.MF(), ip.FragOffset(), len(data))
				}
				data = append(data, ip[20:ip.TotalLen()]...)
			}
			if !bytes.Equal(data, ack[frame.EthernetLen+20:]) {
				t.Errorf("the fragments do not carry the datagram's payload")
			}
		})
	}
}

// TestTunnel4in6TTL: a datagram arriving with TTL 1 is not tunnelled; the
// client gets time exceeded.
func TestTunnel4in6TTL(t *testing.T) {
	s := newSite64(t, 16)
	syn := frametest.TCP(client, svc4in6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithTTL(1))
	out := s.run(0, syn)
	if len(out[1]) != 0 || len(out[0]) != 1 {
		t.Fatalf("%d forwarded, %d answers; want time exceeded", len(out[1]), len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPTimeExceeded, 0), frametest.SumsOK())
}

// TestTunnelGSOAcrossFamilies: a TCP GSO super-frame through each IPv6
// tunnel (IPv6 in IPv6, IPv6 in IPv4, IPv4 in IPv6) is cut into segments
// that each fit the egress MTU with the outer header, every checksum
// complete and the stream intact, where it used to be dropped; a sender
// whose segments cannot fit learns the path MTU.
func TestTunnelGSOAcrossFamilies(t *testing.T) {
	tests := []struct {
		name     string
		site     func(testing.TB, int) *site
		client   netip.AddrPort
		svc      netip.AddrPort
		overhead int
		decap    func(t *testing.T, f []byte) []byte
	}{
		{"6in6", newSite6, client6, netip.AddrPortFrom(vip6, 8443), 40, func(t *testing.T, f []byte) []byte {
			l := frametest.Decode(f)
			if l.IP6 == nil || l.IP6.NextHeader != layers.IPProtocolIPv6 || addrOf(l.IP6.DstIP) != rip63 || addrOf(l.IP6.SrcIP) != routerPrv6 {
				t.Fatalf("not IPv6 in IPv6 to rip63: %+v", l.IP6)
			}
			return append(append([]byte(nil), f[:frame.EthernetLen]...), f[frame.IP6IP6Inner:]...)
		}},
		{"6in4", func(tb testing.TB, _ int) *site { return newSite46(tb.(*testing.T)) }, client6, netip.AddrPortFrom(vip6, 8446), 20, func(t *testing.T, f []byte) []byte {
			o := decapIPv4Outer(t, f, frame.ProtoIPv6)
			in := append(append([]byte(nil), f[:frame.EthernetLen]...), f[frame.IPIPInner:]...)
			in[12], in[13] = 0x86, 0xdd
			if o.Dst() != rip1 || o.Src() != prvOwn {
				t.Fatalf("outer %v → %v, want %v → %v", o.Src(), o.Dst(), prvOwn, rip1)
			}
			return in
		}},
		{"4in6", newSite64, client, svc4in6, 40, func(t *testing.T, f []byte) []byte {
			_, in := decap64(t, f)
			return in
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.site(t, 1<<12)
			s.run(0, frametest.TCP(tt.client, tt.svc, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
			const mss, size = 1400, 65000
			payload := make([]byte, size)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			g, vnet := frametest.GSO(tt.client, tt.svc, frame.ACK|frame.PSH, payload, mss, frametest.WithSrcMAC(gwMAC),
				frametest.WithDF(), frametest.WithSeq(1000))
			out := s.runMeta([][]byte{g}, []dataplane.Meta{dataplane.DecodeVirtioNetHdr(vnet)})
			fit := 1500 - tt.overhead - 40 - 20 // TCP payload per segment: the MTU less outer, IP and TCP headers
			if tt.client.Addr().Is4() {
				fit = 1500 - tt.overhead - 20 - 20
			}
			want := (size + min(mss, fit) - 1) / min(mss, fit)
			if len(out[1]) != want {
				t.Fatalf("%d frames sent, want %d segments (drops %v)", len(out[1]), want, dataplane.Sum(&s.w.C).Drops)
			}
			seq := uint32(1000)
			for i, f := range out[1] {
				if len(f) > 1514 {
					t.Fatalf("segment %d: %d-byte frame, more than the MTU", i, len(f))
				}
				in := tt.decap(t, f)
				frametest.Check(t, in, frametest.SumsOK(), frametest.Seq(seq), frametest.TTL(63))
				var p frame.Parsed
				p.Decode(in)
				for j := range p.End - p.Payload {
					if in[p.Payload+j] != byte((int(seq-1000)+j)*7) {
						t.Fatalf("segment %d: payload byte %d wrong", i, j)
					}
				}
				seq += uint32(p.End - p.Payload)
			}
			if seq-1000 != size {
				t.Errorf("segments carry %d payload bytes, want %d", seq-1000, size)
			}

			// Segments too big to fit once encapsulated: the sender learns the MTU.
			g, vnet = frametest.GSO(tt.client, tt.svc, frame.ACK, make([]byte, 5000), fit+1, frametest.WithSrcMAC(gwMAC), frametest.WithDF())
			out = s.runMeta([][]byte{g}, []dataplane.Meta{dataplane.DecodeVirtioNetHdr(vnet)})
			if len(out[1]) != 0 || len(out[0]) != 1 {
				t.Fatalf("GSO of %d-byte segments: %d sent, %d answers; want the path MTU", fit+1, len(out[1]), len(out[0]))
			}
			if tt.client.Addr().Is4() {
				frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPFragNeeded), frametest.SumsOK())
				if mtu := binary.BigEndian.Uint16(out[0][0][34+6:]); int(mtu) != 1500-tt.overhead {
					t.Errorf("fragmentation needed MTU = %d, want %d", mtu, 1500-tt.overhead)
				}
				return
			}
			frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPv6PacketTooBig, 0), frametest.ICMPv6Param(uint32(1500-tt.overhead)), frametest.SumsOK())
		})
	}
}

// decapIPv4Outer checks that f carries protocol proto in an outer IPv4
// header covering the frame, and returns that header.
func decapIPv4Outer(t *testing.T, f []byte, proto uint8) frame.IPv4 {
	t.Helper()
	if len(f) < frame.IPIPInner || frame.Ethernet(f).Type() != frame.EtherTypeIPv4 {
		t.Fatalf("not an IPv4 frame")
	}
	ip := frame.IPv4(f[frame.EthernetLen:])
	if !ip.Valid() || ip.HeaderLen() != 20 || ip.Protocol() != proto || !ip.ValidChecksum() || frame.EthernetLen+ip.TotalLen() != len(f) {
		t.Fatalf("outer header is not a valid 20-byte header for protocol %d covering the frame", proto)
	}
	return ip
}

// TestTunnel4in6NoAllocs: the IPv4-in-IPv6 path, single frames and GSO
// super-frames, allocates nothing.
func TestTunnel4in6NoAllocs(t *testing.T) {
	s := newSite64(t, 1)
	s.run(0, frametest.TCP(client, svc4in6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	in := frametest.TCP(client, svc4in6, frame.ACK, make([]byte, 1400), frametest.WithSrcMAC(gwMAC), frametest.WithDF())
	g, vnet := frametest.GSO(client, svc4in6, frame.ACK, make([]byte, 60000), 1400, frametest.WithSrcMAC(gwMAC), frametest.WithDF())
	gm := dataplane.DecodeVirtioNetHdr(vnet)
	batch, meta := make([][]byte, 1), make([]dataplane.Meta, 1)
	buf, gbuf := make([]byte, len(in)), make([]byte, len(g))
	now := time.Now()
	if n := testing.AllocsPerRun(300, func() {
		copy(buf, in)
		batch[0], meta[0] = buf, dataplane.Meta{}
		s.w.Process(batch, meta, now)
	}); n != 0 {
		t.Errorf("4in6 path allocs = %v, want 0", n)
	}
	if n := testing.AllocsPerRun(50, func() {
		copy(gbuf, g)
		batch[0], meta[0] = gbuf, gm
		s.w.Process(batch, meta, now)
	}); n != 0 {
		t.Errorf("4in6 GSO path allocs = %v, want 0", n)
	}
	if got := dataplane.Sum(&s.w.C).Verdicts[dataplane.Forward]; got != 1+301+51 {
		t.Errorf("forwarded %d frames, want %d (the loops must exercise the tunnel path)", got, 1+301+51)
	}
}

// FuzzWorker4in6 feeds arbitrary frames to the site with an IPv6 real
// server behind an IPv4 VIP: nothing may panic, every IPv6 frame sent with
// next header 4 carries a valid IPv4 datagram filling its payload, and
// every frame sent decodes as IPv4 or IPv6.
func FuzzWorker4in6(f *testing.F) {
	f.Add(frametest.TCP(client, svc4in6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)), uint8(0), uint16(0))
	f.Add(frametest.TCP(client, svc4in6, frame.ACK, make([]byte, 1441), frametest.WithSrcMAC(gwMAC)), uint8(0), uint16(0))
	f.Add(frametest.TCP(client, svc4in6, frame.ACK, make([]byte, 1441), frametest.WithDF()), uint8(0), uint16(0))
	f.Add(frametest.TCP(client, svc4in6, frame.SYN, nil, frametest.WithTTL(1)), uint8(0), uint16(0))
	f.Add(frametest.UDP(client, svc4in6, []byte("x")), uint8(0), uint16(0))
	g, vnet := frametest.GSO(client, svc4in6, frame.ACK, make([]byte, 5000), 1400, frametest.WithSrcMAC(gwMAC))
	gm := dataplane.DecodeVirtioNetHdr(vnet)
	f.Add(g, uint8(gm.GSOType), gm.GSOSize)
	f.Fuzz(func(t *testing.T, in []byte, gso uint8, size uint16) {
		s := newSite64(t, 256)
		// A SYN first, so that arbitrary segments find the flow.
		syn := frametest.TCP(client, svc4in6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC))
		m := dataplane.Meta{GSOType: dataplane.GSOType(gso), GSOSize: size}
		s.w.Process([][]byte{syn, append([]byte(nil), in...)}, []dataplane.Meta{{}, m}, time.Now())
		for _, l := range s.tx {
			for _, out := range l.Sent() {
				var p frame.Parsed
				p.Decode(out)
				switch {
				case p.Kind == frame.KindIPv6 && len(out) >= frame.IP6IP6Inner && out[frame.EthernetLen+6] == frame.ProtoIPIP:
					ip := frame.IPv4(out[frame.IP6IP6Inner:])
					plen := int(binary.BigEndian.Uint16(out[frame.EthernetLen+4:]))
					if !ip.ValidHeader() || !ip.ValidChecksum() || ip.TotalLen() != plen || frame.IP6IP6Inner+plen != len(out) || len(out) > 1514 {
						t.Fatalf("sent an IPv4-in-IPv6 frame whose inner datagram is not a valid IPv4 one filling it: % x\nfor % x", out, in)
					}
				case p.Kind != frame.KindIPv4 && p.Kind != frame.KindIPv6:
					t.Fatalf("sent a frame that decodes as neither: % x\nfor % x", out, in)
				}
			}
		}
	})
}
