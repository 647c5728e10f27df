package frame_test

import (
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestSolicitedNode(t *testing.T) {
	tests := []struct {
		addr    string
		want    string
		wantMAC frame.MAC
	}{
		// RFC 4291 §2.7.1's example: 4037::01:800:200E:8C6C → FF02::1:FF0E:8C6C.
		{"4037::1:800:200e:8c6c", "ff02::1:ff0e:8c6c", frame.MAC{0x33, 0x33, 0xff, 0x0e, 0x8c, 0x6c}},
		{"2001:db8:1::10", "ff02::1:ff00:10", frame.MAC{0x33, 0x33, 0xff, 0, 0, 0x10}},
		{"fe80::aabb:ccff:fedd:eeff", "ff02::1:ffdd:eeff", frame.MAC{0x33, 0x33, 0xff, 0xdd, 0xee, 0xff}},
	}
	for _, tt := range tests {
		got := frame.SolicitedNode(netip.MustParseAddr(tt.addr))
		if got != netip.MustParseAddr(tt.want) {
			t.Errorf("SolicitedNode(%s) = %v, want %s", tt.addr, got, tt.want)
		}
		if m := frame.MulticastMAC(got); m != tt.wantMAC {
			t.Errorf("MulticastMAC(%v) = %v, want %v", got, m, tt.wantMAC)
		}
	}
	if m := frame.MulticastMAC(frame.AllNodes); m != (frame.MAC{0x33, 0x33, 0, 0, 0, 1}) {
		t.Errorf("MulticastMAC(ff02::1) = %v, want 33:33:00:00:00:01", m)
	}
}

func TestNeighborMessage(t *testing.T) {
	client := cip6.Addr()
	vipA := vip6.Addr()
	ns := frametest.NeighborSolicit(mac1, client, vipA)
	mut := func(f []byte, fn func([]byte)) []byte { g := append([]byte(nil), f...); fn(g); return g }
	resum := func(g []byte) {
		var p frame.Parsed
		p.Decode(g)
		p.ICMPv6(g).UpdateChecksum(p.IPv6(g))
	}
	dad := frametest.NeighborSolicit(mac1, netip.IPv6Unspecified(), vipA)
	tests := []struct {
		name     string
		frame    []byte
		ok       bool
		wantMAC  frame.MAC
		hasMAC   bool
		wantFlag frame.NAFlags
	}{
		{"solicitation", ns, true, mac1, true, 0},
		{"duplicate address detection", dad, true, frame.MAC{}, false, 0},
		{"advertisement", frametest.NeighborAdvert(mac1, vipA, frametest.DefaultDstMAC, client, frame.NASolicited|frame.NAOverride), true, mac1, true, frame.NASolicited | frame.NAOverride},
		{"unsolicited advertisement", frametest.NeighborAdvert(mac1, vipA, frame.MulticastMAC(frame.AllNodes), frame.AllNodes, frame.NAOverride), true, mac1, true, frame.NAOverride},
		{"hop limit 254: off link", mut(ns, func(g []byte) { g[21] = 254 }), false, frame.MAC{}, false, 0},
		{"bad checksum", mut(ns, func(g []byte) { g[56] ^= 1 }), false, frame.MAC{}, false, 0},
		{"code 1", mut(ns, func(g []byte) { g[55] = 1; resum(g) }), false, frame.MAC{}, false, 0},
		{"zero-length option", mut(ns, func(g []byte) { g[79] = 0; resum(g) }), false, frame.MAC{}, false, 0},
		{"option past the end", mut(ns, func(g []byte) { g[79] = 2; resum(g) }), false, frame.MAC{}, false, 0},
		{"multicast target", mut(ns, func(g []byte) { g[62] = 0xff; resum(g) }), false, frame.MAC{}, false, 0},
		{"dad to a unicast address", mut(dad, func(g []byte) { copy(g[38:54], vipA.AsSlice()); resum(g) }), false, frame.MAC{}, false, 0},
		{"solicited advertisement to multicast", frametest.NeighborAdvert(mac1, vipA, frame.MulticastMAC(frame.AllNodes), frame.AllNodes, frame.NASolicited), false, frame.MAC{}, false, 0},
		{"echo", frametest.ICMPv6Echo(client, vipA, 1, 1, nil, frametest.WithTTL(255)), false, frame.MAC{}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decode(t, tt.frame)
			n, ok := frame.NeighborMessage(tt.frame, p)
			if ok != tt.ok {
				t.Fatalf("NeighborMessage ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			l := frametest.Decode(tt.frame)
			var target netip.Addr
			if l.NS != nil {
				target, _ = netip.AddrFromSlice(l.NS.TargetAddress)
			} else {
				target, _ = netip.AddrFromSlice(l.NA.TargetAddress)
			}
			if n.Target() != target {
				t.Errorf("Target = %v, gopacket says %v", n.Target(), target)
			}
			m, has := n.LinkAddr()
			if m != tt.wantMAC || has != tt.hasMAC {
				t.Errorf("LinkAddr = %v, %v, want %v, %v", m, has, tt.wantMAC, tt.hasMAC)
			}
			if n.Flags() != tt.wantFlag {
				t.Errorf("Flags = %#x, want %#x", n.Flags(), tt.wantFlag)
			}
		})
	}
}

func TestPutNeighborAdvert(t *testing.T) {
	client, vipA := cip6.Addr(), vip6.Addr()
	peer := frame.MAC{0x02, 0xbb, 0, 0, 0, 9}
	tests := []struct {
		name      string
		ns        []byte
		flags     frame.NAFlags
		wantDst   netip.Addr
		wantMAC   frame.MAC
		wantFlags frame.NAFlags
	}{
		{"answer to the solicitation's link-layer option", frametest.NeighborSolicit(peer, client, vipA, frametest.WithSrcMAC(frametest.DefaultSrcMAC)),
			frame.NAOverride, client, peer, frame.NASolicited | frame.NAOverride},
		{"router address", frametest.NeighborSolicit(peer, client, vipA), frame.NAOverride | frame.NARouter,
			client, peer, frame.NASolicited | frame.NAOverride | frame.NARouter},
		{"duplicate address detection goes to all nodes unsolicited", frametest.NeighborSolicit(peer, netip.IPv6Unspecified(), vipA),
			frame.NAOverride | frame.NASolicited, frame.AllNodes, frame.MulticastMAC(frame.AllNodes), frame.NAOverride},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decode(t, tt.ns)
			ns, ok := frame.NeighborMessage(tt.ns, p)
			if !ok {
				t.Fatal("NeighborMessage = false for a built solicitation")
			}
			buf := make([]byte, frame.NDFrameLen)
			n := frame.PutNeighborAdvert(buf, tt.ns, p, ns, mac1, tt.flags)
			if n != frame.NDFrameLen {
				t.Fatalf("PutNeighborAdvert = %d, want %d", n, frame.NDFrameLen)
			}
			frametest.Check(t, buf[:n], frametest.SumsOK(), frametest.ICMPType(frame.ICMPv6NeighborAdvert, 0),
				frametest.SrcAddr(vipA), frametest.DstAddr(tt.wantDst), frametest.TTL(255),
				frametest.SrcMAC(mac1), frametest.DstMAC(tt.wantMAC), frametest.NDTarget(vipA),
				frametest.NAFlags(tt.wantFlags), frametest.LinkAddr(mac1))
			// What we send passes our own receive checks.
			if _, ok := frame.NeighborMessage(buf[:n], decode(t, buf[:n])); !ok {
				t.Error("the advertisement fails NeighborMessage")
			}
		})
	}
	na := frametest.NeighborAdvert(mac1, vipA, peer, client, frame.NASolicited)
	p := decode(t, na)
	nd, _ := frame.NeighborMessage(na, p)
	if n := frame.PutNeighborAdvert(make([]byte, frame.NDFrameLen), na, p, nd, mac1, 0); n != 0 {
		t.Errorf("PutNeighborAdvert answering an advertisement = %d, want 0", n)
	}
}

func TestPutUnsolicitedNA(t *testing.T) {
	buf := make([]byte, frame.NDFrameLen)
	n := frame.PutUnsolicitedNA(buf, mac1, vip6.Addr(), frame.NASolicited|frame.NARouter)
	frametest.Check(t, buf[:n], frametest.SumsOK(), frametest.ICMPType(frame.ICMPv6NeighborAdvert, 0),
		frametest.SrcAddr(vip6.Addr()), frametest.DstAddr(frame.AllNodes), frametest.TTL(255),
		frametest.SrcMAC(mac1), frametest.DstMAC(frame.MulticastMAC(frame.AllNodes)),
		frametest.NDTarget(vip6.Addr()), frametest.NAFlags(frame.NAOverride|frame.NARouter), frametest.LinkAddr(mac1))
	if _, ok := frame.NeighborMessage(buf[:n], decode(t, buf[:n])); !ok {
		t.Error("the unsolicited advertisement fails NeighborMessage")
	}
}

func TestPutNeighborSolicit(t *testing.T) {
	buf := make([]byte, frame.NDFrameLen)
	n := frame.PutNeighborSolicit(buf, mac1, nat6, rip6.Addr())
	sn := frame.SolicitedNode(rip6.Addr())
	frametest.Check(t, buf[:n], frametest.SumsOK(), frametest.ICMPType(frame.ICMPv6NeighborSolicit, 0),
		frametest.SrcAddr(nat6), frametest.DstAddr(sn), frametest.TTL(255),
		frametest.SrcMAC(mac1), frametest.DstMAC(frame.MulticastMAC(sn)),
		frametest.NDTarget(rip6.Addr()), frametest.LinkAddr(mac1))
	p := decode(t, buf[:n])
	ns, ok := frame.NeighborMessage(buf[:n], p)
	if !ok {
		t.Fatal("the solicitation fails NeighborMessage")
	}
	// The real server's answer, built by gopacket, resolves the MAC.
	reply := make([]byte, frame.NDFrameLen)
	peer := frame.MAC{0x02, 0xcc, 0, 0, 0, 2}
	m := frame.PutNeighborAdvert(reply, buf[:n], p, ns, peer, frame.NAOverride)
	na, ok := frame.NeighborMessage(reply[:m], decode(t, reply[:m]))
	if !ok {
		t.Fatal("the answer fails NeighborMessage")
	}
	if got, ok := na.LinkAddr(); !ok || got != peer || na.Target() != rip6.Addr() {
		t.Errorf("answer: %v is at %v (%v), want %v at %v", na.Target(), got, ok, rip6.Addr(), peer)
	}
}

func TestNDBuildersPanicOnIPv4(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PutUnsolicitedNA with an IPv4 address did not panic")
		}
	}()
	frame.PutUnsolicitedNA(make([]byte, frame.NDFrameLen), mac1, vip.Addr(), 0)
}
