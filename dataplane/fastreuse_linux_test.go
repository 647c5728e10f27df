package dataplane_test

import (
	"net/netip"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/dataplane/fastpath"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// addDR adds a direct-routing rr TCP service on vip:8081 over rip1 and
// rip2, and returns its address.
func addDR(t *testing.T, s *site) netip.AddrPort {
	t.Helper()
	addService(t, s, ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 8081}, ipvs.SchedSpec{SchedName: "rr"}, ipvs.Route)
	return netip.AddrPortFrom(vip, 8081)
}

// halfClosedDR opens a direct-routing connection from c in the kernel,
// sends its client's FIN and last ACK through the fast path and lets the
// worker take the reports: the entry is FIN_WAIT. It returns the real
// server's MAC address the connection's frames went to.
func halfClosedDR(t *testing.T, s *site, fp *fastpath.FastPath, c, svc netip.AddrPort) frame.MAC {
	t.Helper()
	to := frametest.WithDstMAC(lo)
	fwd, out := simulate(t, fp, frametest.TCPSyn(c, svc, to))
	if !fwd {
		t.Fatal("SYN not forwarded")
	}
	for _, f := range [][]byte{
		frametest.TCP(c, svc, frame.ACK|frame.PSH, []byte("GET"), to),
		frametest.TCP(c, svc, frame.FIN|frame.ACK, nil, to),
		frametest.TCP(c, svc, frame.ACK, nil, to),
	} {
		if fwd, _ := simulate(t, fp, f); !fwd {
			t.Fatalf("%v not forwarded", parsed(f).Flags)
		}
		s.w.Process(nil, nil, time.Now()) // adopts, takes the FIN's report
	}
	conn, ok := s.d.CT.Lookup(conntrack.Key{Proto: ipvs.TCP, Client: c, Virtual: svc})
	if !ok || conn.State() != conntrack.StateFinWait {
		t.Fatalf("after the client's FIN: live %v, state %v; want FIN_WAIT", ok, conn.State())
	}
	return dstMAC(out)
}

func dstMAC(f []byte) (m frame.MAC) {
	copy(m[:], f[:6])
	return m
}

// TestKernelReusedPortAfterFIN (fastpath's reuse.go): a SYN from the port
// of a direct-routing connection in FIN_WAIT goes to the same real server
// in the kernel, as conntrack's In sends it with conn_reuse_mode 1; the
// worker's next batch takes its report and steps the entry to SYN_RECV,
// and the handshake's ACK, forwarded in the kernel too, makes it
// ESTABLISHED at the sweep — the Go path handles no frame.
func TestKernelReusedPortAfterFIN(t *testing.T) {
	s, fp := fastSite(t)
	svc := addDR(t, s)
	s.d.ScheduleInKernel(true, true)
	if err := s.d.SyncNewFlows(); err != nil {
		t.Fatal(err)
	}
	c := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 7200)
	mac := halfClosedDR(t, s, fp, c, svc)
	before := dataplane.Sum(&s.w.C).Verdicts
	to := frametest.WithDstMAC(lo)
	fwd, out := simulate(t, fp, frametest.TCPSyn(c, svc, to))
	if !fwd {
		t.Fatal("the reused port's SYN was punted, want it forwarded in the kernel")
	}
	if got := dstMAC(out); got != mac {
		t.Errorf("the reused port's SYN went to %v, want the connection's real server %v", got, mac)
	}
	s.w.Process(nil, nil, time.Now())
	k := conntrack.Key{Proto: ipvs.TCP, Client: c, Virtual: svc}
	conn, ok := s.d.CT.Lookup(k)
	if !ok || conn.State() != conntrack.StateSynRecv {
		t.Fatalf("after the reusing SYN: live %v, state %v; want SYN_RECV", ok, conn.State())
	}
	if in, _ := conn.Offloaded(); !in {
		t.Error("the reused connection is no longer offloaded")
	}
	if fwd, _ := simulate(t, fp, frametest.TCP(c, svc, frame.ACK, nil, to)); !fwd {
		t.Fatal("the handshake's ACK was punted")
	}
	s.d.CT.Expire(s.d.Tick(time.Now().Add(3*time.Second)), 1<<20)
	if conn, ok := s.d.CT.Lookup(k); !ok || conn.State() != conntrack.StateEstablished {
		t.Errorf("after the handshake and a sweep: live %v, state %v; want ESTABLISHED", ok, conn.State())
	}
	s.w.Process(nil, nil, time.Now())
	if after := dataplane.Sum(&s.w.C).Verdicts; after != before {
		t.Errorf("the worker handled frames (%v → %v); the reused port was the fast path's", before, after)
	}
}

// TestKernelReusedPortRescheduled: where conntrack's In would reschedule
// the reusing SYN — conn_reuse_mode's bit 1, or expire_nodest_conn and
// the real server quiesced — the fast path punts it to the Go path.
func TestKernelReusedPortRescheduled(t *testing.T) {
	for _, tt := range []struct {
		name  string
		apply func(s *site, svc netip.AddrPort)
	}{
		{"conn_reuse_mode 3", func(s *site, _ netip.AddrPort) {
			set := s.d.CT.Settings()
			set.ConnReuseMode = 3
			s.d.CT.SetSettings(set)
		}},
		{"quiesced", func(s *site, svc netip.AddrPort) {
			key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: svc.Port()}
			tb := s.table
			for _, r := range []netip.Addr{rip1, rip2} {
				var err error
				if tb, err = tb.EditDest(key, ipvs.DestSpec{Addr: r, Port: 8081, Method: ipvs.Route, Weight: 0}); err != nil {
					t.Fatal(err)
				}
			}
			s.publishTable(tb)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, fp := fastSite(t)
			svc := addDR(t, s)
			s.d.ScheduleInKernel(true, true)
			if err := s.d.SyncNewFlows(); err != nil {
				t.Fatal(err)
			}
			c := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 7300)
			halfClosedDR(t, s, fp, c, svc)
			tt.apply(s, svc)
			if err := s.d.SyncNewFlows(); err != nil {
				t.Fatal(err)
			}
			if fwd, _ := simulate(t, fp, frametest.TCPSyn(c, svc, frametest.WithDstMAC(lo))); fwd {
				t.Error("the reused port's SYN was forwarded in the kernel, want the Go path")
			}
		})
	}
}
