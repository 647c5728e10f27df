package fastpath

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"lvs/frame"
	"lvs/internal/netlab"
)

// TestNewFlowPartialChecksum: a SYN or a first datagram that a local
// socket sends through a veth arrives CHECKSUM_PARTIAL (its checksum field
// holds the pseudo-header's sum, the rest left to offload), and the
// program's probe (partialProbe) must take it as the right checksum it
// will be: every one is scheduled in the kernel. The same field in a
// frame that is not partial is punted (TestNewFlowChecksL4), so this test
// fails when the probe punts every partial frame, and the other when it
// takes every field equal to the pseudo-header's sum.
func TestNewFlowPartialChecksum(t *testing.T) {
	lab := netlab.NewT(t, "lvsfppc-") // root, or skipped
	cl, lb := lab.NS("cl"), lab.NS("lb")
	a, b := "pc"+netlab.NewID()[:4]+"a", "pc"+netlab.NewID()[:4]+"b"
	lab.Veth(cl, a, lb, b)
	mac, err := lab.Get(lb).MAC(b)
	if err != nil {
		t.Fatal(err)
	}
	link, err := lab.Get(lb).Link(b)
	if err != nil {
		t.Fatal(err)
	}
	in := link.Attrs().Index
	// The client reaches both VIPs on the link, at b's MAC.
	lab.MustIn(cl, "ip", "addr", "add", "198.51.100.7/24", "dev", a)
	lab.MustIn(cl, "ip", "addr", "add", "2001:db8::7/64", "dev", a, "nodad")
	lab.MustIn(cl, "ip", "neigh", "replace", vip.Addr().String(), "lladdr", mac.String(), "dev", a, "nud", "permanent")
	lab.MustIn(cl, "ip", "-6", "neigh", "replace", vip6.Addr().String(), "lladdr", mac.String(), "dev", a, "nud", "permanent")
	var f *FastPath
	lab.Do(lb, func() {
		if f, err = Open(Config{MaxFlows: 256, MaxFlows6: 256, Slots: 64}); err == nil {
			err = f.Attach(in)
		}
	})
	if err != nil {
		t.Skipf("skipped: %v (needs a kernel with BPF and tcx or cls_bpf)", err)
	}
	t.Cleanup(func() { lab.Do(lb, func() { f.Close() }) })
	var svcs []Service
	for _, proto := range []uint8{frame.ProtoTCP, frame.ProtoUDP} {
		for _, s := range []Service{natService(0, 1), nat6Service(proto, 0, 1)} {
			s.Proto, s.In = proto, in
			for i := range s.Targets {
				s.Targets[i].Fwd.In, s.Targets[i].Rev.In = in, in
			}
			svcs = append(svcs, s)
		}
	}
	if err := f.SetServices(svcs); err != nil {
		t.Fatal(err)
	}

	// One flow per socket: SYNs (with their options) and datagrams of 1
	// to 5 bytes, every tail of the sum, in both families.
	sent := 0
	lab.Do(cl, func() {
		for _, v := range []netip.AddrPort{vip, vip6} {
			for n := 1; n <= 5; n++ {
				c, err := net.Dial("udp", v.String())
				if err != nil {
					t.Errorf("udp to %v: %v", v, err)
					continue
				}
				if _, err := c.Write(make([]byte, n)); err == nil {
					sent++
				}
				c.Close()
			}
			for range 2 { // the real servers do not exist: the dial times out after one SYN
				if c, err := net.DialTimeout("tcp", v.String(), 300*time.Millisecond); err == nil {
					c.Close()
				}
				sent++
			}
		}
	})
	var got []NewFlow
	for deadline := time.Now().Add(2 * time.Second); len(got) < sent && time.Now().Before(deadline); {
		f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != sent {
		t.Fatalf("%d flows scheduled in the kernel, want all %d sent (partial checksums punted?): %v", len(got), sent, got)
	}
	for _, nf := range got {
		if nf.In != in || (nf.Virtual != vip && nf.Virtual != vip6) {
			t.Errorf("new flow %+v, want one to a VIP on ifindex %d", nf, in)
		}
	}
}
