package dataplane_test

import (
	"net/netip"
	"testing"

	"lvs/dataplane"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// TestQuietNoDest: a new connection to a service with no real server gets
// IPVS's ICMP port unreachable, or, with QuietNoDest (the ECMP mode),
// nothing: the SYN is dropped and counted, for the client to retry.
func TestQuietNoDest(t *testing.T) {
	s := newSite(t, "rr")
	key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 8443}
	tb, err := s.table.AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}})
	if err != nil {
		t.Fatal(err)
	}
	st := *s.d.State()
	st.Table = tb
	s.d.Publish(&st)
	syn := func(port uint16) []byte {
		return frametest.TCP(netip.AddrPortFrom(client.Addr(), port), netip.AddrPortFrom(vip, 8443), frame.SYN, nil, frametest.WithSrcMAC(gwMAC))
	}
	out := s.run(0, syn(41000))
	if len(out[0]) != 1 || len(out[1]) != 0 {
		t.Fatalf("IPVS's way: %d public, %d private frames; want the ICMP error only", len(out[0]), len(out[1]))
	}
	frametest.Check(t, out[0][0], frametest.ICMPType(frame.ICMPDestUnreachable, frame.ICMPPortUnreachable), frametest.SumsOK())

	quiet := st
	quiet.QuietNoDest = true
	s.d.Publish(&quiet)
	before := dataplane.Sum(&s.w.C).Drops[dataplane.DropNoDest]
	if out := s.run(0, syn(41001)); len(out[0])+len(out[1]) != 0 {
		t.Errorf("QuietNoDest: %d public, %d private frames sent; want none", len(out[0]), len(out[1]))
	}
	if got := dataplane.Sum(&s.w.C).Drops[dataplane.DropNoDest] - before; got != 1 {
		t.Errorf("QuietNoDest: %d no_dest drops counted, want 1", got)
	}
}
