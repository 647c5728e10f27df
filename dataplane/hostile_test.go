package dataplane_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/dataplane/linktest"
	"lvs/frame"
	"lvs/internal/frametest"
)

// ipEdit returns a copy of the IPv4 frame f with fn applied to its IPv4
// header and the header checksum recomputed over the first 20 bytes (as a
// sender that got the header length wrong computes it).
func ipEdit(f []byte, fn func(ip []byte)) []byte {
	b := append([]byte(nil), f...)
	ip := b[frame.EthernetLen:]
	fn(ip)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], frame.Checksum(ip[:frame.IPv4MinLen], 0))
	return b
}

// raw returns a copy of f with fn applied to the whole frame, checksums
// left as they are.
func raw(f []byte, fn func(b []byte)) []byte {
	b := append([]byte(nil), f...)
	fn(b)
	return b
}

// fragmentOf returns the fragment of the IPv4 datagram in f (a 20-byte
// header) carrying n bytes of its payload from offset off, with MF set to
// more.
func fragmentOf(f []byte, off, n int, more bool) []byte {
	const l4 = frame.EthernetLen + frame.IPv4MinLen
	b := make([]byte, l4+n)
	copy(b, f[:l4])
	copy(b[l4:], f[l4+off:l4+off+n])
	return ipEdit(b, func(ip []byte) {
		binary.BigEndian.PutUint16(ip[2:], uint16(frame.IPv4MinLen+n))
		fr := uint16(off / 8)
		if more {
			fr |= 0x2000
		}
		binary.BigEndian.PutUint16(ip[6:], fr)
	})
}

// icmpGarbage is an ICMP port unreachable to the VIP whose quote is not an
// IPv4 header.
func icmpGarbage() []byte {
	garbage := []byte("not an IPv4 header, just 28 b")
	f := frametest.ICMPEcho(client.Addr(), vip, 1, 1, garbage, frametest.WithSrcMAC(gwMAC))
	c := f[frame.EthernetLen+frame.IPv4MinLen:]
	c[0], c[1], c[2], c[3] = frame.ICMPDestUnreachable, frame.ICMPPortUnreachable, 0, 0
	binary.BigEndian.PutUint16(c[2:], frame.Checksum(c, 0))
	return f
}

// TestHostileFramesCountedByKind feeds a worker each kind of malformed or
// hostile frame lvssim's hostile step sends (sim/hostile.go) and checks
// the one verdict it gets and, for a drop, its reason: every kind lands in
// a named counter of lvs_packets_dropped_total, and nothing is sent for it.
func TestHostileFramesCountedByKind(t *testing.T) {
	syn := frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithID(7))
	bigSyn := frametest.TCP(client, web, frame.SYN, make([]byte, 40), frametest.WithSrcMAC(gwMAC), frametest.WithID(8))
	dns := netip.AddrPortFrom(vip, 53)
	udp := frametest.UDP(client, dns, []byte("0123456789abcdef"), frametest.WithSrcMAC(gwMAC))
	real := netip.AddrPortFrom(rip1, 8080)
	bigSynAck := frametest.TCP(real, client, frame.SYN|frame.ACK, make([]byte, 40), frametest.WithSrcMAC(rip1MAC), frametest.WithID(9))
	attacker := frame.MAC{0x02, 0xba, 0xd0, 0, 0, 1}
	flags := func(fl frame.TCPFlags) []byte {
		return frametest.TCP(netip.AddrPortFrom(client.Addr(), 41000+uint16(fl)), web, fl, nil, frametest.WithSrcMAC(gwMAC))
	}
	const none = dataplane.DropReason(255)
	tests := []struct {
		name   string
		port   int
		setup  [][2]any // {port, frame} processed first
		frame  []byte
		meta   dataplane.Meta
		want   dataplane.Verdict
		reason dataplane.DropReason
	}{
		// truncated
		{name: "cut in the IPv4 header", frame: syn[:frame.EthernetLen+12], want: dataplane.Drop, reason: dataplane.DropTruncated},
		{name: "cut in the TCP header", frame: syn[:frame.EthernetLen+frame.IPv4MinLen+8], want: dataplane.Drop, reason: dataplane.DropTruncated},
		{name: "total length past the frame", frame: ipEdit(syn, func(ip []byte) { binary.BigEndian.PutUint16(ip[2:], 1000) }), want: dataplane.Drop, reason: dataplane.DropTruncated},
		{name: "UDP length past the datagram", frame: raw(udp, func(b []byte) { binary.BigEndian.PutUint16(b[38:], 200) }), want: dataplane.Drop, reason: dataplane.DropTruncated},
		// wrong IHL and lengths
		{name: "IHL 3", frame: ipEdit(syn, func(ip []byte) { ip[0] = 0x43 }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		{name: "IHL 6, summed over 20 bytes", frame: ipEdit(syn, func(ip []byte) { ip[0] = 0x46 }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		{name: "IHL 15 past the total length", frame: ipEdit(syn, func(ip []byte) { ip[0] = 0x4f }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		{name: "version 6 in an IPv4 frame", frame: ipEdit(syn, func(ip []byte) { ip[0] = 0x65 }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		{name: "total length below the header", frame: ipEdit(syn, func(ip []byte) { binary.BigEndian.PutUint16(ip[2:], 12) }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		{name: "total length 0 without GSO", frame: ipEdit(syn, func(ip []byte) { binary.BigEndian.PutUint16(ip[2:], 0) }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		{name: "TCP data offset 4", frame: raw(syn, func(b []byte) { b[46] = 4 << 4 }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		{name: "UDP length 4", frame: raw(udp, func(b []byte) { binary.BigEndian.PutUint16(b[38:], 4) }), want: dataplane.Drop, reason: dataplane.DropBadHeader},
		// bad checksums
		{name: "bad IPv4 header checksum", frame: raw(syn, func(b []byte) { b[24] ^= 0x5a }), want: dataplane.Drop, reason: dataplane.DropBadIPChecksum},
		{name: "bad IPv4 header checksum from a real server", port: 1, frame: raw(bigSynAck, func(b []byte) { b[24] ^= 0x5a }), want: dataplane.Drop, reason: dataplane.DropBadIPChecksum},
		// fragments
		{name: "tiny first TCP fragment", frame: fragmentOf(syn, 0, 8, true), want: dataplane.Drop, reason: dataplane.DropTinyFragment},
		{name: "TCP fragment at offset 8", frame: fragmentOf(syn, 8, 12, false), want: dataplane.Drop, reason: dataplane.DropTinyFragment},
		{name: "fragment overlapping the first", setup: [][2]any{{0, fragmentOf(bigSyn, 0, 40, true)}},
			frame: fragmentOf(bigSyn, 16, 44, false), want: dataplane.Drop, reason: dataplane.DropFragOverlap},
		{name: "fragment following the first", setup: [][2]any{{0, fragmentOf(bigSyn, 0, 40, true)}},
			frame: fragmentOf(bigSyn, 40, 20, false), want: dataplane.Forward, reason: none},
		{name: "fragment whose first never came", frame: fragmentOf(bigSyn, 40, 20, false), want: dataplane.Drop, reason: dataplane.DropFragment},
		{name: "a real server's fragment overlapping its first", port: 1,
			setup: [][2]any{{0, syn}, {1, fragmentOf(bigSynAck, 0, 40, true)}},
			frame: fragmentOf(bigSynAck, 24, 36, false), want: dataplane.Drop, reason: dataplane.DropFragOverlap},
		// ICMP errors
		{name: "ICMP error quoting garbage", frame: icmpGarbage(), want: dataplane.Drop, reason: dataplane.DropICMPError},
		{name: "ICMP error about no flow", frame: frametest.ICMPError(frame.ICMPDestUnreachable, frame.ICMPPortUnreachable, client.Addr(),
			frametest.TCP(web, client, frame.SYN|frame.ACK, nil)), want: dataplane.Drop, reason: dataplane.DropICMPError},
		// ARP
		{name: "ARP reply claiming the VIP", frame: frametest.ARPReply(attacker, vip, pubMAC, routerPub), want: dataplane.Drop, reason: dataplane.DropARPConflict},
		{name: "ARP request from the VIP", frame: frametest.ARPRequest(attacker, vip, routerPub), want: dataplane.Drop, reason: dataplane.DropARPConflict},
		{name: "lvsd's own announcement", frame: frametest.ARPReply(pubMAC, vip, frame.BroadcastMAC, vip), want: dataplane.Pass, reason: none},
		// TCP flags opening no flow
		{name: "SYN+FIN", frame: flags(frame.SYN | frame.FIN), want: dataplane.Drop, reason: dataplane.DropTCPFlags},
		{name: "SYN+RST", frame: flags(frame.SYN | frame.RST), want: dataplane.Drop, reason: dataplane.DropTCPFlags},
		{name: "no flags", frame: flags(0), want: dataplane.Drop, reason: dataplane.DropTCPFlags},
		{name: "FIN alone", frame: flags(frame.FIN), want: dataplane.Drop, reason: dataplane.DropTCPFlags},
		{name: "every flag", frame: flags(0xff), want: dataplane.Drop, reason: dataplane.DropTCPFlags},
		{name: "FIN+PSH+URG", frame: flags(frame.FIN | frame.PSH | frame.URG), want: dataplane.Drop, reason: dataplane.DropTCPFlags},
		{name: "ACK of no flow", frame: flags(frame.ACK), want: dataplane.Drop, reason: dataplane.DropNoConn},
		{name: "RST of no flow", frame: flags(frame.RST), want: dataplane.Drop, reason: dataplane.DropNoConn},
		{name: "SYN+ECE+CWR", frame: flags(frame.SYN | frame.ECE | frame.CWR), want: dataplane.Forward, reason: none},
		// not malformed
		{name: "GSO super-frame over 64 KB", frame: ipEdit(syn, func(ip []byte) { binary.BigEndian.PutUint16(ip[2:], 0) }),
			meta: dataplane.Meta{GSOType: dataplane.GSOTCPv4}, want: dataplane.Pass, reason: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, "rr")
			workers := [2]*dataplane.Worker{}
			for i := range workers {
				workers[i] = dataplane.NewWorker(s.d, s.d.Ports[i], linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
			}
			for _, st := range tt.setup {
				f := append([]byte(nil), st[1].([]byte)...)
				workers[st[0].(int)].Process([][]byte{f}, make([]dataplane.Meta, 1), time.Now())
			}
			for _, l := range s.tx {
				l.Sent()
			}
			w := workers[tt.port]
			before := dataplane.Sum(&w.C)
			f := append([]byte(nil), tt.frame...)
			w.Process([][]byte{f}, []dataplane.Meta{tt.meta}, time.Now())
			after := dataplane.Sum(&w.C)
			for v := range after.Verdicts {
				want := uint64(0)
				if dataplane.Verdict(v) == tt.want {
					want = 1
				}
				if got := after.Verdicts[v] - before.Verdicts[v]; got != want {
					t.Errorf("verdict %v: %d, want %d", dataplane.Verdict(v), got, want)
				}
			}
			for r := range after.Drops {
				want := uint64(0)
				if dataplane.DropReason(r) == tt.reason {
					want = 1
				}
				if got := after.Drops[r] - before.Drops[r]; got != want {
					t.Errorf("drops{reason=%q}: %d, want %d", dataplane.DropReason(r), got, want)
				}
			}
			sent := 0
			for _, l := range s.tx {
				sent += len(l.Sent())
			}
			if tt.want == dataplane.Drop && sent != 0 {
				t.Errorf("sent %d frames for a dropped one", sent)
			}
		})
	}
}

// TestDropReasonsNamed checks that every drop reason has its own metric
// label, so no two kinds share a counter.
func TestDropReasonsNamed(t *testing.T) {
	seen := map[string]dataplane.DropReason{}
	for r := dataplane.DropReason(0); r.String() != "unknown"; r++ {
		if o, dup := seen[r.String()]; dup || r.String() == "" {
			t.Errorf("reasons %d and %d are both %q", o, r, r.String())
		}
		seen[r.String()] = r
	}
	if len(seen) < int(dataplane.DropTCPFlags)+1 {
		t.Errorf("%d named reasons, want at least %d", len(seen), dataplane.DropTCPFlags+1)
	}
}

// TestBadL4ChecksumDropped: a segment, datagram or ICMP error with an L4
// checksum that does not add up is dropped (bad_l4_checksum) before it
// changes any state, in both directions and both families: a bad SYN opens
// no connection, a bad RST closes none, a bad reply is not forwarded. A
// partial checksum (NeedsCsum: a local sender's, completed on transmit)
// and one the interface verified (DataValid) are not summed again.
func TestBadL4ChecksumDropped(t *testing.T) {
	corrupt := func(f []byte) []byte {
		var p frame.Parsed
		p.Decode(f)
		g := append([]byte(nil), f...)
		switch p.Proto {
		case frame.ProtoTCP:
			g[p.L4+16] ^= 0x5a
		case frame.ProtoUDP:
			g[p.L4+6] ^= 0x5a
		default:
			g[p.L4+2] ^= 0x5a
		}
		return g
	}
	var back *dataplane.Worker // the private port's, kept for its counters
	run1 := func(s *site, f []byte) [][][]byte {
		if back == nil {
			back = dataplane.NewWorker(s.d, s.prv, linktest.New(linktest.Config{}), []dataplane.MetaLink{s.tx[0], s.tx[1]})
		}
		back.Process([][]byte{f}, make([]dataplane.Meta, 1), time.Now())
		return [][][]byte{s.tx[0].Sent(), s.tx[1].Sent()}
	}
	drops := func(s *site) uint64 {
		n := dataplane.Sum(&s.w.C).Drops[dataplane.DropBadL4Checksum]
		if back != nil {
			n += dataplane.Sum(&back.C).Drops[dataplane.DropBadL4Checksum]
		}
		return n
	}
	forwarded := func(t *testing.T, what string, out [][][]byte, port, want int) {
		t.Helper()
		if got := len(out[port]); got != want {
			t.Errorf("%s: %d frames forwarded, want %d", what, got, want)
		}
		for _, g := range out[port] {
			frametest.Check(t, g, frametest.SumsOK())
		}
	}
	t.Run("ipv4", func(t *testing.T) {
		s := newSite(t, "rr")
		back = nil
		syn := frametest.TCP(client, web, frame.SYN, []byte("payload"), frametest.WithSrcMAC(gwMAC))
		forwarded(t, "bad SYN", s.run(0, corrupt(syn)), 1, 0)
		if n := s.d.CT.Len(); n != 0 {
			t.Errorf("bad SYN: %d connections, want none", n)
		}
		forwarded(t, "SYN", s.run(0, syn), 1, 1)
		real := netip.AddrPortFrom(rip1, 8080)
		synAck := frametest.TCP(real, client, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC))
		forwarded(t, "bad SYN-ACK", run1(s, corrupt(synAck)), 0, 0)
		forwarded(t, "SYN-ACK", run1(s, synAck), 0, 1)
		rst := frametest.TCP(client, web, frame.RST, nil, frametest.WithSrcMAC(gwMAC))
		forwarded(t, "bad RST", s.run(0, corrupt(rst)), 1, 0)
		data := frametest.TCP(client, web, frame.ACK, []byte("GET /"), frametest.WithSrcMAC(gwMAC))
		forwarded(t, "data after the bad RST", s.run(0, data), 1, 1)
		if got := drops(s); got != 3 {
			t.Errorf("bad_l4_checksum = %d, want 3", got)
		}
		// An ICMP error about the flow from the real server, its checksum wrong.
		quote := frametest.TCP(client, netip.AddrPortFrom(rip1, 8080), frame.ACK, nil)
		icmp := frametest.ICMPError(frame.ICMPDestUnreachable, frame.ICMPFragNeeded, rip1, quote, frametest.WithSrcMAC(rip1MAC), frametest.WithMTU(1400))
		forwarded(t, "bad ICMP error", run1(s, corrupt(icmp)), 0, 0)
		if got := drops(s); got != 4 {
			t.Errorf("bad_l4_checksum = %d after the ICMP error, want 4", got)
		}
		// Offloaded or verified checksums are not summed again: a SYN whose
		// field holds only the pseudo-header's sum (as a local socket
		// leaves it on a veth) goes through with its partial sum.
		partial := frametest.TCP(netip.AddrPortFrom(client.Addr(), 40001), web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC))
		var p frame.Parsed
		p.Decode(partial)
		ph := frame.PseudoHeaderSum(p.Src.Addr().As4(), p.Dst.Addr().As4(), frame.ProtoTCP, p.End-p.L4)
		binary.BigEndian.PutUint16(partial[p.L4+16:], frame.Fold(ph))
		out := s.runMeta([][]byte{partial}, []dataplane.Meta{{Flags: dataplane.NeedsCsum, CsumStart: uint16(p.L4), CsumOffset: 16}})
		if len(out[1]) != 1 {
			t.Errorf("partial-checksum SYN: %d frames forwarded, want 1", len(out[1]))
		}
		valid := corrupt(frametest.TCP(netip.AddrPortFrom(client.Addr(), 40002), web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
		if out := s.runMeta([][]byte{valid}, []dataplane.Meta{{Flags: dataplane.DataValid}}); len(out[1]) != 1 {
			t.Errorf("SYN the interface verified: %d frames forwarded, want 1", len(out[1]))
		}
		if got := drops(s); got != 4 {
			t.Errorf("bad_l4_checksum = %d after the offloaded ones, want still 4", got)
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		s := newSite6(t, 4096)
		back = nil
		syn := frametest.TCP(client6, web6, frame.SYN, nil, frametest.WithSrcMAC(gwMAC), frametest.WithDstMAC(pubMAC))
		forwarded(t, "bad SYN", s.run(0, corrupt(syn)), 1, 0)
		forwarded(t, "SYN", s.run(0, syn), 1, 1)
		real := netip.AddrPortFrom(rip61, 8080)
		synAck := frametest.TCP(real, client6, frame.SYN|frame.ACK, nil, frametest.WithSrcMAC(rip1MAC), frametest.WithDstMAC(privMAC))
		forwarded(t, "bad SYN-ACK", run1(s, corrupt(synAck)), 0, 0)
		forwarded(t, "SYN-ACK", run1(s, synAck), 0, 1)
		dns := netip.AddrPortFrom(vip6, 53)
		q := frametest.UDP(client6, dns, []byte("query"), frametest.WithSrcMAC(gwMAC))
		forwarded(t, "bad UDP", s.run(0, corrupt(q)), 1, 0)
		forwarded(t, "UDP", s.run(0, q), 1, 1)
		if got := drops(s); got != 3 {
			t.Errorf("bad_l4_checksum = %d, want 3", got)
		}
	})
}

// TestIncompleteFragmentsBounded: first fragments whose rest never comes
// cost no memory per datagram (the worker's fragment table is a fixed
// ring, reused): thousands of them allocate nothing, the oldest are
// forgotten (their late fragments dropped as "fragment") and the newest
// are still followed.
func TestIncompleteFragmentsBounded(t *testing.T) {
	s := newSiteCap(t, "rr", 1)
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	seg := frametest.TCP(client, web, frame.ACK, make([]byte, 64), frametest.WithSrcMAC(gwMAC))
	first := fragmentOf(seg, 0, 40, true)
	batch, meta := make([][]byte, 1), make([]dataplane.Meta, 1)
	buf := make([]byte, len(first))
	id := uint16(0)
	now := time.Now()
	send := func() {
		id++
		copy(buf, first)
		ip := frame.IPv4(buf[frame.EthernetLen:])
		binary.BigEndian.PutUint16(ip[4:], id)
		ip.UpdateChecksum()
		batch[0] = buf
		s.w.Process(batch, meta, now)
	}
	send()
	if n := testing.AllocsPerRun(5000, send); n != 0 {
		t.Errorf("a first fragment that never completes allocates %v, want 0", n)
	}
	later := func(id uint16) dataplane.Verdict {
		f := fragmentOf(seg, 40, 48, false)
		ip := frame.IPv4(f[frame.EthernetLen:])
		binary.BigEndian.PutUint16(ip[4:], id)
		ip.UpdateChecksum()
		before := dataplane.Sum(&s.w.C)
		s.w.Process([][]byte{f}, meta, now)
		after := dataplane.Sum(&s.w.C)
		if after.Drops[dataplane.DropFragment] > before.Drops[dataplane.DropFragment] {
			return dataplane.Drop
		}
		if after.Verdicts[dataplane.Forward] > before.Verdicts[dataplane.Forward] {
			return dataplane.Forward
		}
		return dataplane.Pass
	}
	if v := later(1); v != dataplane.Drop {
		t.Errorf("a late fragment of the first of %d datagrams: %v, want drop (forgotten)", id, v)
	}
	if v := later(id); v != dataplane.Forward {
		t.Errorf("a late fragment of the newest datagram: %v, want forward", v)
	}
}
