package dataplane_test

import (
	"net/netip"
	"slices"
	"testing"

	"lvs/dataplane"
	"lvs/dataplane/fastpath"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// The workers and the real eBPF fast path with IPv6 flows, as
// fast_linux_test.go with IPv4 ones: the program runs through
// BPF_PROG_TEST_RUN on interface 1 (lo), so frames go to lo's MAC.

func fastSite6(t *testing.T) (*site, *fastpath.FastPath) {
	t.Helper()
	if testing.Short() {
		t.Skip("loads eBPF programs")
	}
	s := newSite6(t, 4096)
	fp, err := fastpath.Open(fastpath.Config{MaxFlows: 256, MaxFlows6: 256, Slots: 1024})
	if err != nil {
		t.Skipf("skipped: %v (needs root and a kernel with BPF)", err)
	}
	t.Cleanup(func() { fp.Close() })
	s.pub.Ifindex, s.prv.Ifindex = 1, 1
	s.d.SetFastPath(fp)
	return s, fp
}

// taken reports whether the fast path takes f: tcx forwards it, so lvsd's
// packet sockets, bound per protocol and served after tcx, never see it.
func taken(t *testing.T, fp *fastpath.FastPath, f []byte) (bool, []byte) {
	t.Helper()
	return simulate(t, fp, f)
}

// destCounters returns the packets the table counted for the destination
// rip of the service on port.
func destCounters(t *testing.T, tb *ipvs.Table, port uint16, rip netip.Addr) (in, out uint64) {
	t.Helper()
	for _, s := range tb.Services() {
		if s.Key.Port != port || !s.Key.Addr.Is6() {
			continue
		}
		for _, d := range s.Dests {
			if d.Addr == rip {
				return d.C.InPkts.Load(), d.C.OutPkts.Load()
			}
		}
	}
	t.Fatalf("no destination %v on port %d", rip, port)
	return 0, 0
}

// A NAT66 connection: the SYN-ACK goes through the kernel (the reply
// direction installed with the SYN), and so does the client's ACK (its
// direction installed with the SYN too); the worker reads nothing of the
// flow after its SYN, the
// counters come back through FastCounters, and its FINs are forwarded and
// reported, the second taking it back.
func TestFastPathTakesEstablishedIPv6(t *testing.T) {
	s, fp := fastSite6(t)
	to := frametest.WithDstMAC(lo)
	out := s.run(0, frametest.TCPSyn(client6, web6, to))
	if len(out[1]) != 1 {
		t.Fatalf("SYN: %d frames to the real servers, want 1", len(out[1]))
	}
	rs := parsed(out[1][0]).Dst
	synAck := frametest.TCP(rs, client6, frame.SYN|frame.ACK, nil, to)
	fwd, got := taken(t, fp, synAck)
	if !fwd {
		t.Fatal("the fast path does not forward the SYN-ACK of an IPv6 connection the worker opened")
	}
	frametest.Check(t, got, frametest.SrcAddr(vip6), frametest.SrcPort(80), frametest.DstAddr(client6.Addr()),
		frametest.Flags(frame.SYN|frame.ACK), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC), frametest.TTL(63), frametest.SumsOK())
	ack := frametest.TCP(client6, web6, frame.ACK, nil, to)
	if fwd, _ := taken(t, fp, ack); !fwd {
		t.Fatal("the fast path does not forward the handshake's ACK of an IPv6 connection the worker opened")
	}
	data := frametest.TCP(client6, web6, frame.ACK|frame.PSH, []byte("GET / HTTP/1.0\r\n\r\n"), to)
	before := dataplane.Sum(&s.w.C)
	if before.FastInstalls < 2 {
		t.Errorf("FastInstalls = %d on the public worker, want ≥ 2 (SYN-ACK entry, client direction)", before.FastInstalls)
	}
	inBefore, outBefore := destCounters(t, s.table, 80, rs.Addr())
	reply := frametest.TCP(rs, client6, frame.ACK|frame.PSH, []byte("HTTP/1.0 200 OK\r\n\r\n"), to)
	const n = 5
	for range n {
		fwd, got := taken(t, fp, data)
		if !fwd {
			t.Fatal("the fast path does not forward an established IPv6 flow's segment")
		}
		frametest.Check(t, got, frametest.DstAddr(rs.Addr()), frametest.DstPort(rs.Port()), frametest.SrcAddr(client6.Addr()),
			frametest.SrcPort(client6.Port()), frametest.TTL(63), frametest.SrcMAC(privMAC), frametest.SumsOK())
		if mac := frame.Ethernet(got).Dst(); mac != rip1MAC && mac != rip2MAC {
			t.Errorf("fast path sends to MAC %v, want a real server's", mac)
		}
		fwd, got = taken(t, fp, reply)
		if !fwd {
			t.Fatal("the fast path does not forward the established reply direction")
		}
		frametest.Check(t, got, frametest.SrcAddr(vip6), frametest.SrcPort(80), frametest.DstAddr(client6.Addr()),
			frametest.DstPort(client6.Port()), frametest.TTL(63), frametest.DstMAC(gwMAC), frametest.SrcMAC(pubMAC), frametest.SumsOK())
	}
	if after := dataplane.Sum(&s.w.C); after.Verdicts != before.Verdicts {
		t.Errorf("the worker's verdicts moved while the fast path forwarded: %v → %v", before.Verdicts, after.Verdicts)
	}
	s.d.FastCounters(s.table)
	in, outP := destCounters(t, s.table, 80, rs.Addr())
	if in-inBefore != n+1 || outP-outBefore != n+1 { // the client's ACK and the SYN-ACK went through the kernel too
		t.Errorf("destination counters after FastCounters: +%d in, +%d out; want +%d and +%d", in-inBefore, outP-outBefore, n+1, n+1)
	}
	closesInKernel(t, s, fp, client6, web6, rs, data, reply, lo) // fast_linux_test.go
}

// Expiry asks the fast path when an offloaded IPv6 flow was last seen: a
// flow it forwards stays, an idle one goes and is withdrawn from it.
func TestFastPathKeepsIdleCheckedFlows6(t *testing.T) {
	s, fp := fastSite6(t)
	keepsIdleCheckedFlows(t, s, fp, netip.AddrPortFrom(vip6, 53), // fast_linux_test.go
		netip.MustParseAddrPort("[2001:db8:99::8]:5000"), netip.MustParseAddrPort("[2001:db8:99::9]:5000"))
}

// A direct-routing IPv6 flow: the fast path changes the MACs only.
func TestFastPathDirectRouting6(t *testing.T) {
	s, fp := fastSite6(t)
	to := frametest.WithDstMAC(lo)
	dr := netip.AddrPortFrom(vip6, 443)
	s.run(0, frametest.TCPSyn(client6, dr, to))
	data := frametest.TCP(client6, dr, frame.ACK, []byte("x"), to)
	for range 3 {
		s.run(0, slices.Clone(data))
	}
	fwd, got := taken(t, fp, data)
	if !fwd {
		t.Fatal("the fast path does not forward an established direct-routing IPv6 flow")
	}
	frametest.Check(t, got, frametest.DstMAC(rip1MAC), frametest.SrcMAC(privMAC), frametest.SumsOK())
	if string(got[12:]) != string(data[12:]) {
		t.Error("direct routing changed the frame beyond its MAC addresses")
	}
}
