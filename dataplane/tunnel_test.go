package dataplane_test

import (
	"encoding/binary"
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
	// ripFar is a tunnelled real server on another segment, behind the
	// router wan on the public segment: IPIP crosses L3.
	ripFar = netip.MustParseAddr("10.20.30.3")
	wan    = netip.MustParseAddr("192.168.26.253")
	wanMAC = frame.MAC{0x02, 0, 0, 0, 0, 0xfd}
	prvOwn = netip.MustParseAddr("10.11.12.9")
)

// newTunnelSite is newSite with the service's destinations tunnelled (rr):
// rip1 on the private segment, then ripFar through the router wan.
func newTunnelSite(t testing.TB, capacity int) *site {
	t.Helper()
	reg := ipvs.NewRegistry()
	tb := ipvs.NewTable(reg, sched.New)
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}
	var err error
	if tb, err = tb.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []netip.Addr{rip1, ripFar} {
		if tb, err = tb.AddDest(key, ipvs.DestSpec{Addr: r, Port: 80, Method: ipvs.Tunnel, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	pub := &dataplane.Port{Index: 0, Name: "eth0", MAC: pubMAC, MTU: 1500, Addr: routerPub, Neigh: neigh.New()}
	prv := &dataplane.Port{Index: 1, Name: "eth1", MAC: privMAC, MTU: 1500, Addr: prvOwn, Neigh: neigh.New()}
	gw := netip.MustParseAddr("192.168.26.254")
	prv.Neigh.Want([]netip.Addr{rip1})
	prv.Neigh.Learn(rip1, rip1MAC, time.Now())
	pub.Neigh.Want([]netip.Addr{gw, wan})
	pub.Neigh.Learn(gw, gwMAC, time.Now())
	pub.Neigh.Learn(wan, wanMAC, time.Now())
	st := &dataplane.State{
		Table: tb,
		Owned: dataplane.NewOwned(map[netip.Addr]int{vip: 0}),
		Class: dataplane.NewClassifier(nil),
		Routes: dataplane.NewRoutes([]dataplane.Route{
			{Prefix: netip.MustParsePrefix("10.11.12.0/24"), Port: 1},
			{Prefix: netip.MustParsePrefix("192.168.26.0/24"), Port: 0},
			{Prefix: netip.MustParsePrefix("10.20.30.0/24"), Port: 0, Via: wan},
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Port: 0, Via: gw},
		}),
		Local: map[[4]byte]bool{routerPub.As4(): true, prvOwn.As4(): true},
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

// runMeta processes frames with their Meta on the public port and returns
// what each port sent.
func (s *site) runMeta(frames [][]byte, meta []dataplane.Meta) [][][]byte {
	s.w.Process(frames, meta, time.Now())
	out := make([][][]byte, len(s.tx))
	for i, l := range s.tx {
		out[i] = l.Sent()
	}
	return out
}

// outer is the decoded outer header of an IPIP frame.
type outer struct {
	dstMAC, srcMAC frame.MAC
	ip             frame.IPv4
	inner          []byte // the inner datagram behind an Ethernet header copied from the frame
}

func decap(t *testing.T, f []byte) outer {
	t.Helper()
	e := frame.Ethernet(f)
	if len(f) < frame.IPIPInner || e.Type() != frame.EtherTypeIPv4 {
		t.Fatalf("not an IPv4 frame: %x", f[:min(len(f), 40)])
	}
	ip := frame.IPv4(f[frame.EthernetLen:])
	if !ip.Valid() || ip.HeaderLen() != 20 || ip.Protocol() != frame.ProtoIPIP || frame.EthernetLen+ip.TotalLen() != len(f) {
		t.Fatalf("outer header is not a 20-byte IPIP header covering the frame: %x", f[14:34])
	}
	inner := append(append([]byte(nil), f[:frame.EthernetLen]...), f[frame.IPIPInner:]...)
	return outer{dstMAC: e.Dst(), srcMAC: e.Src(), ip: ip, inner: inner}
}

func TestTunnelEncapsulates(t *testing.T) {
	s := newTunnelSite(t, 4096)
	syn := frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC),
		frametest.WithTTL(60), frametest.WithDF(), frametest.WithTOS(0x10), frametest.WithMSS(1460))
	out := s.run(0, syn)
	if len(out[1]) != 1 || len(out[0]) != 0 {
		t.Fatalf("SYN: %d frames on the private port, %d public; want 1 private (drops %v)", len(out[1]), len(out[0]), dataplane.Sum(&s.w.C).Drops)
	}
	o := decap(t, out[1][0])
	id1 := o.ip.ID()
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"dst MAC", o.dstMAC, rip1MAC},
		{"src MAC", o.srcMAC, privMAC},
		{"outer src (the router's own address on the egress port)", o.ip.Src(), prvOwn},
		{"outer dst", o.ip.Dst(), rip1},
		{"outer TTL (the inner's, decremented)", o.ip.TTL(), uint8(59)},
		{"outer DF", o.ip.DF(), true},
		{"outer TOS", o.ip.TOS(), uint8(0x10)},
		{"outer total length", o.ip.TotalLen(), 20 + len(syn) - 14},
		{"outer checksum valid", o.ip.ValidChecksum(), true},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	// The inner datagram still goes to the VIP: the real server holds it.
	frametest.Check(t, o.inner, frametest.SrcAddr(client.Addr()), frametest.SrcPort(client.Port()),
		frametest.DstAddr(vip), frametest.DstPort(80), frametest.TTL(59), frametest.SumsOK(), frametest.Flags(frame.SYN))

	// The same flow stays on rip1; a new one goes (rr) to the far real
	// server, through the router wan on the public segment.
	ack := frametest.TCP(client, web, frame.ACK, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithSrcMAC(gwMAC))
	out = s.run(0, ack)
	if len(out[1]) != 1 {
		t.Fatalf("ACK: %d frames on the private port, want 1", len(out[1]))
	}
	if o := decap(t, out[1][0]); o.ip.Dst() != rip1 || o.ip.ID() == id1 {
		t.Errorf("ACK: outer dst %v ID %d (SYN's ID %d), want %v and a new ID", o.ip.Dst(), o.ip.ID(), id1, rip1)
	}
	other := netip.AddrPortFrom(client.Addr(), 40001)
	out = s.run(0, frametest.TCP(other, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	if len(out[0]) != 1 {
		t.Fatalf("second SYN: %d frames on the public port, want 1 to the far real server", len(out[0]))
	}
	o = decap(t, out[0][0])
	if o.dstMAC != wanMAC || o.srcMAC != pubMAC || o.ip.Src() != routerPub || o.ip.Dst() != ripFar {
		t.Errorf("far real server: %v → %v, outer %v → %v; want %v → %v, %v → %v",
			o.srcMAC, o.dstMAC, o.ip.Src(), o.ip.Dst(), pubMAC, wanMAC, routerPub, ripFar)
	}
	frametest.Check(t, o.inner, frametest.DstAddr(vip), frametest.SrcPort(40001), frametest.SumsOK())

	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}
	if d := s.table.Service(key).Dest(rip1, 80); d.C.InPkts.Load() != 2 || d.C.InBytes.Load() != uint64(len(syn)-14+len(ack)-14) {
		t.Errorf("rip1 counters: %d packets %d bytes, want 2 and the inner datagrams' bytes", d.C.InPkts.Load(), d.C.InBytes.Load())
	}
}

func TestTunnelMTU(t *testing.T) {
	df := []frametest.Option{frametest.WithSrcMAC(gwMAC), frametest.WithDF()}
	tests := []struct {
		name    string
		payload int // TCP payload: the datagram is 40 bytes more
		df      bool
		fwd     bool // forwarded encapsulated
		icmp    bool // answered with fragmentation needed, MTU 1480
		drop    dataplane.DropReason
	}{
		{"fits exactly", 1440, true, true, false, 0},
		{"one byte over with DF", 1441, true, false, true, dataplane.DropTooBig},
		{"full-sized client segment", 1460, true, false, true, dataplane.DropTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTunnelSite(t, 4096)
			s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
			s.run(0) // drain
			opts := df
			if !tc.df {
				opts = df[:1]
			}
			out := s.run(0, frametest.TCP(client, web, frame.ACK, make([]byte, tc.payload), opts...))
			if got := len(out[1]) == 1; got != tc.fwd {
				t.Errorf("forwarded = %v, want %v", got, tc.fwd)
			}
			if tc.fwd {
				if o := decap(t, out[1][0]); o.ip.TotalLen() != 20+40+tc.payload || len(out[1][0]) > 1514 {
					t.Errorf("encapsulated datagram of %d bytes in a %d-byte frame", o.ip.TotalLen(), len(out[1][0]))
				}
			}
			if got := len(out[0]) == 1; got != tc.icmp {
				t.Fatalf("ICMP answer = %v, want %v", got, tc.icmp)
			}
			if tc.icmp {
				frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPFragNeeded),
					frametest.SrcAddr(vip), frametest.DstAddr(client.Addr()), frametest.DstMAC(gwMAC), frametest.SumsOK())
				icmp := frame.ICMP(out[0][0][34:])
				if icmp.MTU() != 1480 {
					t.Errorf("fragmentation needed MTU = %d, want 1480 (1500 less the outer header)", icmp.MTU())
				}
			}
			if !tc.fwd && dataplane.Sum(&s.w.C).Drops[tc.drop] != 1 {
				t.Errorf("drops = %v, want one %v", dataplane.Sum(&s.w.C).Drops, tc.drop)
			}
		})
	}
}

func TestTunnelTTL(t *testing.T) {
	s := newTunnelSite(t, 4096)
	out := s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithTTL(1)))
	if len(out[1]) != 0 || len(out[0]) != 1 {
		t.Fatalf("TTL 1: %d forwarded, %d answers; want none forwarded and time exceeded", len(out[1]), len(out[0]))
	}
	frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPTimeExceeded, 0), frametest.DstAddr(client.Addr()), frametest.SumsOK())
	out = s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithTTL(2)))
	if len(out[1]) != 1 {
		t.Fatalf("TTL 2: %d forwarded, want 1", len(out[1]))
	}
	if o := decap(t, out[1][0]); o.ip.TTL() != 1 {
		t.Errorf("outer TTL = %d, want 1 (the inner's after the decrement)", o.ip.TTL())
	}
}

// A partial checksum (the client's TX offload, seen on veth) is completed:
// a real server decapsulating in software gets the bytes as sent.
func TestTunnelCompletesPartialChecksum(t *testing.T) {
	s := newTunnelSite(t, 4096)
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	s.run(0)
	f := frametest.MakePartial(frametest.TCP(client, web, frame.ACK, []byte("partial"), frametest.WithSrcMAC(gwMAC)))
	m := dataplane.Meta{Flags: dataplane.NeedsCsum, CsumStart: 34, CsumOffset: 16}
	out := s.runMeta([][]byte{f}, []dataplane.Meta{m})
	if len(out[1]) != 1 {
		t.Fatalf("%d frames forwarded, want 1", len(out[1]))
	}
	frametest.Check(t, decap(t, out[1][0]).inner, frametest.SumsOK(), frametest.Payload([]byte("partial")))
}

// TestTunnelGSO: a TCP super-frame is cut into segments that each fit the
// egress MTU with the outer header, with every checksum complete, and a
// batch needing more transmit buffers than the worker keeps still sends
// every segment intact.
func TestTunnelGSO(t *testing.T) {
	s := newTunnelSite(t, 1<<14)
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	s.run(0)
	const mss, size, supers = 1400, 65000, 4 // 47 segments each: more than the worker's 128 buffers in all
	var frames [][]byte
	var meta []dataplane.Meta
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for i := range supers {
		g, vnet := frametest.GSO(client, web, frame.ACK|frame.PSH, payload, mss, frametest.WithSrcMAC(gwMAC),
			frametest.WithDF(), frametest.WithSeq(uint32(1000+i*size)))
		frames = append(frames, g)
		meta = append(meta, dataplane.DecodeVirtioNetHdr(vnet))
	}
	out := s.runMeta(frames, meta)
	want := supers * ((size + mss - 1) / mss)
	if len(out[1]) != want {
		t.Fatalf("%d frames sent, want %d segments (drops %v)", len(out[1]), want, dataplane.Sum(&s.w.C).Drops)
	}
	seq := uint32(1000)
	for i, f := range out[1] {
		o := decap(t, f)
		if len(f) > 1514 || !o.ip.ValidChecksum() || !o.ip.DF() || o.ip.Dst() != rip1 {
			t.Fatalf("segment %d: %d-byte frame, outer checksum ok %v, DF %v, dst %v", i, len(f), o.ip.ValidChecksum(), o.ip.DF(), o.ip.Dst())
		}
		frametest.Check(t, o.inner, frametest.SumsOK(), frametest.Seq(seq), frametest.DstAddr(vip), frametest.TTL(63))
		var p frame.Parsed
		p.Decode(o.inner)
		n := p.End - p.Payload
		for j := range n {
			if o.inner[p.Payload+j] != byte((int(seq-1000)%size+j)*7) {
				t.Fatalf("segment %d: payload byte %d wrong", i, j)
			}
		}
		seq += uint32(n)
	}
	if got := uint32(supers * size); seq-1000 != got {
		t.Errorf("segments carry %d payload bytes, want %d", seq-1000, got)
	}
	if v := dataplane.Sum(&s.w.C).Verdicts[dataplane.Forward]; v != 1+supers {
		t.Errorf("forward verdicts = %d, want %d (the SYN and one per super-frame)", v, 1+supers)
	}

	// Segments of 1448 bytes cannot fit 1480 with their headers: as for a
	// single full-sized segment, the client learns the path MTU.
	g, vnet := frametest.GSO(client, web, frame.ACK, make([]byte, 5000), 1448, frametest.WithSrcMAC(gwMAC), frametest.WithDF())
	out = s.runMeta([][]byte{g}, []dataplane.Meta{dataplane.DecodeVirtioNetHdr(vnet)})
	if len(out[1]) != 0 || len(out[0]) != 1 {
		t.Fatalf("GSO of 1448-byte segments: %d sent, %d answers; want fragmentation needed", len(out[1]), len(out[0]))
	}
	if mtu := binary.BigEndian.Uint16(out[0][0][34+6:]); mtu != 1480 {
		t.Errorf("fragmentation needed MTU = %d, want 1480", mtu)
	}
}

func TestTunnelPathNoAllocs(t *testing.T) {
	s := newTunnelSite(t, 1)
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	in := frametest.TCP(client, web, frame.ACK, make([]byte, 1400), frametest.WithSrcMAC(gwMAC), frametest.WithDF())
	g, vnet := frametest.GSO(client, web, frame.ACK, make([]byte, 60000), 1400, frametest.WithSrcMAC(gwMAC), frametest.WithDF())
	gm := dataplane.DecodeVirtioNetHdr(vnet)
	batch, meta := make([][]byte, 1), make([]dataplane.Meta, 1)
	buf, gbuf := make([]byte, len(in)), make([]byte, len(g))
	now := time.Now()
	if n := testing.AllocsPerRun(500, func() {
		copy(buf, in)
		batch[0], meta[0] = buf, dataplane.Meta{}
		s.w.Process(batch, meta, now)
	}); n != 0 {
		t.Errorf("tunnel path allocs = %v, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		copy(gbuf, g)
		batch[0], meta[0] = gbuf, gm
		s.w.Process(batch, meta, now)
	}); n != 0 {
		t.Errorf("tunnel GSO path allocs = %v, want 0", n)
	}
	if got := dataplane.Sum(&s.w.C).Verdicts[dataplane.Forward]; got != 1+501+101 {
		t.Errorf("forwarded %d frames, want %d (the loops must exercise the tunnel path)", got, 1+501+101)
	}
}

// BenchmarkWorkerTunnel is BenchmarkWorker for the tunnel method: an
// established flow's 1400-byte segments encapsulated, and 64 KB GSO
// super-frames segmented and encapsulated (per super-frame).
func BenchmarkWorkerTunnel(b *testing.B) {
	s := newTunnelSite(b, 1)
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	tx := []dataplane.MetaLink{&discard{}, &discard{}}
	w := dataplane.NewWorker(s.d, s.pub, linktest.New(linktest.Config{}), tx)
	now := time.Now()
	run := func(b *testing.B, tmpl []byte, m dataplane.Meta, batch int) {
		frames, meta := make([][]byte, batch), make([]dataplane.Meta, batch)
		bufs := make([][]byte, batch)
		for i := range bufs {
			bufs[i] = make([]byte, len(tmpl))
			meta[i] = m
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(tmpl)))
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
		run(b, frametest.TCP(client, web, frame.ACK, make([]byte, 1400), frametest.WithSrcMAC(gwMAC), frametest.WithDF()), dataplane.Meta{}, 32)
	})
	b.Run("established-in-ack", func(b *testing.B) {
		run(b, frametest.TCP(client, web, frame.ACK, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDF()), dataplane.Meta{}, 32)
	})
	b.Run("gso-64k", func(b *testing.B) {
		g, vnet := frametest.GSO(client, web, frame.ACK, make([]byte, 65000), 1400, frametest.WithSrcMAC(gwMAC), frametest.WithDF())
		run(b, g, dataplane.DecodeVirtioNetHdr(vnet), 4)
	})
}

// FuzzWorkerTunnel feeds arbitrary frames with arbitrary offload metadata
// to the tunnel site: nothing may panic, and every IPIP frame lvsd sends
// fits the MTU, has a valid outer header and carries a valid IPv4 datagram.
func FuzzWorkerTunnel(f *testing.F) {
	g, vnet := frametest.GSO(client, web, frame.ACK, make([]byte, 5000), 1400, frametest.WithSrcMAC(gwMAC), frametest.WithDF())
	gm := dataplane.DecodeVirtioNetHdr(vnet)
	f.Add(frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)), uint8(0), uint16(0), false)
	f.Add(frametest.TCP(client, web, frame.ACK, make([]byte, 1460), frametest.WithSrcMAC(gwMAC), frametest.WithDF()), uint8(0), uint16(0), true)
	f.Add(g, uint8(gm.GSOType), gm.GSOSize, true)
	f.Add(frametest.UDP(client, netip.AddrPortFrom(vip, 80), make([]byte, 3000)), uint8(dataplane.GSOUDP), uint16(1000), false)
	f.Fuzz(func(t *testing.T, in []byte, gso uint8, size uint16, partial bool) {
		s := newTunnelSite(t, 4096)
		s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
		s.run(0)
		m := dataplane.Meta{GSOType: dataplane.GSOType(gso), GSOSize: size}
		if partial {
			m.Flags, m.CsumStart, m.CsumOffset = dataplane.NeedsCsum, 34, 16
		}
		out := s.runMeta([][]byte{append([]byte(nil), in...)}, []dataplane.Meta{m})
		for _, l := range out {
			for _, f := range l {
				var p frame.Parsed
				p.Decode(f)
				if p.Kind != frame.KindIPv4 || p.Proto != frame.ProtoIPIP {
					continue
				}
				ip := frame.IPv4(f[14:])
				if len(f) > 1514 || !ip.ValidChecksum() || !frame.IPv4(f[frame.IPIPInner:]).Valid() ||
					frame.IPv4(f[frame.IPIPInner:]).TotalLen() != len(f)-frame.IPIPInner {
					t.Fatalf("bad IPIP frame of %d bytes: %x", len(f), f[:min(len(f), 60)])
				}
			}
		}
	})
}
