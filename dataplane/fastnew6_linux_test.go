package dataplane_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/dataplane/fastpath"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
	"lvs/neigh"
)

// IPv6 services scheduled in the kernel (fastnew6.go), on fastSite6's
// services and the real fast path.

// kernelSite6 is fastSite6 with TCP and UDP scheduled in the kernel and
// the services handed over.
func kernelSite6(t *testing.T) (*site, *fastpath.FastPath) {
	t.Helper()
	s, fp := fastSite6(t)
	s.d.ScheduleInKernel(true, true)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	return s, fp
}

func client6N(i int) netip.AddrPort {
	return netip.AddrPortFrom(client6.Addr(), uint16(41000+i))
}

// TestKernelScheduledIPv6Connections: the NAT66 service's SYNs are
// scheduled by the tcx program in the order of the service's own
// scheduler (ipvs.Sequencer), forwarded without the worker, and adopted by
// its next batch into the connection table, both directions offloaded
// under their 16-byte keys; the handshake the fast path saw steps the
// entry to ESTABLISHED, and the connection closes in the kernel as one
// the worker offloaded does: the client's FIN to CLOSE_WAIT, the real
// server's to TIME_WAIT, which takes it out of the fast path.
func TestKernelScheduledIPv6Connections(t *testing.T) {
	s, fp := kernelSite6(t)
	svc := s.d.State().Table.Lookup(ipvs.TCP, vip6, 80)
	cycle := svc.Sched.(ipvs.Sequencer).Sequence(svc, 4096)
	if len(cycle) < 2 {
		t.Fatalf("rr's cycle %v, want both real servers", cycle)
	}
	to := frametest.WithDstMAC(lo)
	picks := map[netip.AddrPort]netip.AddrPort{}
	before := dataplane.Sum(&s.w.C).Verdicts
	for i := range 2 * len(cycle) {
		c := client6N(i)
		fwd, out := simulate(t, fp, frametest.TCPSyn(c, web6, to))
		if !fwd {
			t.Fatalf("SYN %d: not scheduled in the kernel", i)
		}
		want := cycle[i%len(cycle)]
		frametest.Check(t, out, frametest.DstAddr(want.Addr), frametest.DstPort(8080), frametest.SrcAddr(c.Addr()),
			frametest.TTL(63), frametest.SrcMAC(privMAC), frametest.SumsOK())
		picks[c] = parsed(out).Dst
	}
	s.w.Process(nil, nil, time.Now()) // the next batch adopts first
	if after := dataplane.Sum(&s.w.C).Verdicts; after != before {
		t.Errorf("the worker handled frames (%v → %v); the SYNs were the kernel's", before, after)
	}
	if n := dataplane.Sum(&s.w.C).FastInstalls; n != uint64(len(picks)) {
		t.Errorf("FastInstalls = %d after adopting, want %d", n, len(picks))
	}
	for c, real := range picks {
		conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: c, Virtual: web6})
		if !ok {
			t.Fatalf("connection from %v not adopted", c)
		}
		a, _ := s.d.CT.Addrs(conn)
		if a.Real != real || conn.State() != conntrack.StateSynRecv {
			t.Errorf("connection from %v adopted to %v in %v, want %v in SYN_RECV", c, a.Real, conn.State(), real)
		}
		if in, out := conn.Offloaded(); !in || !out {
			t.Errorf("connection from %v offloaded %v/%v, want both directions", c, in, out)
		}
	}

	// One connection's life in the kernel: the SYN-ACK, the ACK and the
	// data both ways, then the FINs.
	c := client6N(0)
	rs := picks[c]
	synAck := frametest.TCP(rs, c, frame.SYN|frame.ACK, nil, to)
	if fwd, got := simulate(t, fp, synAck); !fwd {
		t.Fatal("the SYN-ACK of a kernel-scheduled IPv6 connection was not forwarded")
	} else {
		frametest.Check(t, got, frametest.SrcAddr(vip6), frametest.SrcPort(80), frametest.DstAddr(c.Addr()), frametest.SumsOK())
	}
	data := frametest.TCP(c, web6, frame.ACK|frame.PSH, []byte("GET / HTTP/1.0\r\n\r\n"), to)
	reply := frametest.TCP(rs, c, frame.ACK|frame.PSH, []byte("HTTP/1.0 200 OK\r\n\r\n"), to)
	for _, f := range [][]byte{data, reply} {
		if fwd, _ := simulate(t, fp, slices.Clone(f)); !fwd {
			t.Fatalf("segment from %v not forwarded", parsed(f).Src)
		}
	}
	// The sweep asks the fast path about an adopted SYN_RECV entry every
	// 2 s: the client's ACK it forwarded makes the entry ESTABLISHED.
	s.d.CT.Expire(s.d.Tick(time.Now().Add(3*time.Second)), 1<<20)
	if conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: c, Virtual: web6}); !ok || conn.State() != conntrack.StateEstablished {
		t.Errorf("after the handshake through the fast path and a sweep: live %v, state %v; want ESTABLISHED", ok, conn.State())
	}
	closesInKernel(t, s, fp, c, web6, rs, data, reply, lo) // fast_linux_test.go
}

// TestKernelScheduledIPv6Flows: the UDP NAT66 service and the direct
// routing service are scheduled in the kernel too; the UDP flow is
// adopted with both directions, the direct-routing one with the client's
// only (its replies bypass the director).
func TestKernelScheduledIPv6Flows(t *testing.T) {
	s, fp := kernelSite6(t)
	to := frametest.WithDstMAC(lo)
	dns, dr := netip.AddrPortFrom(vip6, 53), netip.AddrPortFrom(vip6, 443)
	if fwd, out := simulate(t, fp, frametest.UDP(client6, dns, []byte("q"), to)); !fwd {
		t.Fatal("the UDP service's first datagram was not scheduled in the kernel")
	} else {
		frametest.Check(t, out, frametest.DstAddr(rip61), frametest.DstPort(53), frametest.SumsOK())
	}
	syn := frametest.TCPSyn(client6, dr, to)
	if fwd, out := simulate(t, fp, syn); !fwd {
		t.Fatal("the direct-routing service's SYN was not scheduled in the kernel")
	} else if string(out[12:]) != string(syn[12:]) {
		t.Error("direct routing changed the SYN beyond its MAC addresses")
	}
	s.w.Process(nil, nil, time.Now())
	for _, x := range []struct {
		proto   ipvs.Proto
		virtual netip.AddrPort
		out     bool
	}{{ipvs.UDP, dns, true}, {ipvs.TCP, dr, false}} {
		conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: x.proto, Client: client6, Virtual: x.virtual})
		if !ok {
			t.Fatalf("flow to %v not adopted", x.virtual)
		}
		if in, out := conn.Offloaded(); !in || out != x.out {
			t.Errorf("flow to %v offloaded %v/%v, want true/%v", x.virtual, in, out, x.out)
		}
	}
}

// TestKernelSchedulingNeedsResolvedIPv6Servers: a service one of whose
// real servers has no resolved neighbour is not handed to the fast path:
// its SYN goes to the Go path, which asks for the neighbour.
func TestKernelSchedulingNeedsResolvedIPv6Servers(t *testing.T) {
	s, fp := fastSite6(t)
	s.prv.Neigh = neigh.New()
	s.prv.Neigh.Want([]netip.Addr{rip61, rip62})
	s.prv.Neigh.Learn(rip61, rip1MAC, time.Now())
	s.d.ScheduleInKernel(true, true)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	to := frametest.WithDstMAC(lo)
	if fwd, _ := simulate(t, fp, frametest.TCPSyn(client6, web6, to)); fwd {
		t.Error("a SYN to a service with an unresolved IPv6 real server was scheduled in the kernel")
	}
	// The service whose one server is resolved is handed over.
	if fwd, _ := simulate(t, fp, frametest.UDP(client6, netip.AddrPortFrom(vip6, 53), []byte("q"), to)); !fwd {
		t.Error("the UDP service, its server resolved, was not scheduled in the kernel")
	}
	s.prv.Neigh.Learn(rip62, rip2MAC, time.Now())
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	if fwd, _ := simulate(t, fp, frametest.TCPSyn(client6N(1), web6, to)); !fwd {
		t.Error("once both servers resolved, the SYN was not scheduled in the kernel")
	}
}
