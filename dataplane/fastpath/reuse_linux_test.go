package fastpath

import (
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// drService is a direct-routing service of vip over rip's address.
func drService() Service {
	r := netip.AddrPortFrom(rip.Addr(), vip.Port())
	return Service{VIP: vip, Proto: frame.ProtoTCP, In: loIndex, Seq: []int{0}, Targets: []Target{{Real: r,
		Fwd: Action{DstMAC: rsMAC, SrcMAC: outMAC, Dst: vip, In: loIndex, Out: outIndex, MTU: 1500, Slot: 2}}}}
}

// reuseSteps runs a direct-routing flow from src to dst, whose entry (at
// counter slot slot) the fast path holds past its handshake, through its client's FIN and a SYN
// from the same port, and checks what reuse.go says: with the switch on
// the SYN goes to the same real server (only the MACs change) and is
// reported after the FIN, the handshake's ACK then marks the entry acked;
// with it off the SYN is punted and not reported. The switch of another
// destination changes nothing.
func reuseSteps(t *testing.T, f *FastPath, src, dst netip.AddrPort, slot uint32, on bool) {
	t.Helper()
	k := Key{Src: src, Dst: dst, Proto: frame.ProtoTCP}
	if err := f.SetFinReuse(slot/2, on); err != nil {
		t.Fatal(err)
	}
	if err := f.SetFinReuse(7, true); err != nil { // another destination's
		t.Fatal(err)
	}
	to := frametest.WithDstMAC(hostMAC)
	reports := func() (got []NewFlow) {
		f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
		return got
	}
	taken := func(what string, fr []byte) []byte {
		t.Helper()
		ret, out := run(t, f.tcx, fr)
		if ret != tcActRedirect {
			t.Fatalf("%s: tcx verdict %#x, want redirect", what, ret)
		}
		frametest.Check(t, out, frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
		if string(out[12:]) != string(fr[12:]) {
			t.Errorf("%s: direct routing changed the frame beyond its MAC addresses", what)
		}
		return out
	}
	syn := frametest.TCPSyn(src, dst, to)
	taken("request", frametest.TCP(src, dst, frame.ACK, []byte("GET"), to))
	// A flow the program scheduled reports its handshake's completion
	// (ackReport); one installed without flagSyn has nothing to report.
	for _, r := range reports() {
		if !r.Established || r.Client != src || r.Virtual != dst {
			t.Errorf("the request reported %+v, want at most its handshake's completion", r)
		}
	}
	if ret, _ := run(t, f.tcx, syn); ret != tcxNextRet {
		t.Errorf("a SYN into the open flow: tcx verdict %#x, want the Go path's", ret)
	}
	taken("client's FIN", frametest.TCP(src, dst, frame.FIN|frame.ACK, nil, to))
	if got := reports(); len(got) != 1 || got[0].TCPFlags != uint8(frame.FIN|frame.ACK) {
		t.Fatalf("client's FIN reported %+v, want one FIN", got)
	}
	taken("the last ACK", frametest.TCP(src, dst, frame.ACK, nil, to))
	if !on {
		if ret, _ := run(t, f.tcx, syn); ret != tcxNextRet {
			t.Errorf("switch off: a SYN from the half-closed flow's port: tcx verdict %#x, want the Go path's", ret)
		}
		if got := reports(); len(got) != 0 {
			t.Errorf("switch off: the punted SYN reported %+v", got)
		}
		return
	}
	taken("a SYN from the half-closed flow's port", syn)
	want := NewFlow{Client: src, Virtual: dst, Proto: frame.ProtoTCP, In: loIndex, Closed: true,
		TCPFlags: uint8(frame.SYN)}
	got := reports()
	if len(got) == 1 {
		got[0].Acked = false // the old connection's mark: lvsd does not read it in FIN_WAIT
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("the reusing SYN reported %+v, want %+v", got, want)
	}
	if acked, ok := f.Acked(k); !ok || acked {
		t.Errorf("after the reusing SYN: Acked = %v, %v; want false, true", acked, ok)
	}
	taken("the SYN retransmitted", syn)
	taken("the handshake's ACK", frametest.TCP(src, dst, frame.ACK, nil, to))
	est := NewFlow{Client: src, Virtual: dst, Proto: frame.ProtoTCP, In: loIndex, Established: true,
		TCPFlags: uint8(frame.ACK), Acked: true}
	if got := reports(); len(got) != 1 || got[0] != est {
		t.Errorf("the retransmitted SYN and the ACK reported %+v, want the handshake's completion %+v", got, est)
	}
	if acked, ok := f.Acked(k); !ok || !acked {
		t.Errorf("after the handshake's ACK: Acked = %v, %v; want true, true", acked, ok)
	}
	if ret, _ := run(t, f.tcx, syn); ret != tcxNextRet {
		t.Errorf("a SYN into the reopened flow: tcx verdict %#x, want the Go path's", ret)
	}
}

// TestFINReuseSYN (reuse.go): a SYN from the port of a direct-routing flow
// whose client sent its FIN goes to the same real server while the switch
// is on, for a flow the program scheduled and one lvsd installed, both
// families; with the switch off it goes to the Go path, as does a SYN
// into a NAT flow after its FIN (TestFINReported).
func TestFINReuseSYN(t *testing.T) {
	for _, on := range []bool{true, false} {
		f := openForTest(t)
		if err := f.SetServices([]Service{drService()}); err != nil {
			t.Fatal(err)
		}
		c := clientN(3)
		if ret := toSocket(t, f.tcx, frametest.TCPSyn(c, vip, frametest.WithDstMAC(hostMAC))); ret != 0 {
			t.Fatalf("SYN punted, want scheduled")
		}
		if n := f.NewFlows(func(NewFlow) {}); n != 1 {
			t.Fatalf("after the SYN: %d reports, want one new flow", n)
		}
		reuseSteps(t, f, c, vip, 2, on)
		for _, x := range []struct{ src, dst netip.AddrPort }{{client, vip}, {client6, vip6}} {
			k := Key{Src: x.src, Dst: x.dst, Proto: frame.ProtoTCP}
			if err := f.Install(k, Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: x.src, Dst: x.dst, In: loIndex,
				Out: outIndex, MTU: 1500, Slot: 6}); err != nil {
				t.Fatal(err)
			}
			reuseSteps(t, f, x.src, x.dst, 6, on)
		}
	}
}

// TestFINReuseSYNNoRoom: a reusing SYN that finds the ring full is punted
// and leaves the flow in the fast path, not withdrawn.
func TestFINReuseSYNNoRoom(t *testing.T) {
	f := openForTest(t)
	if err := f.SetFinReuse(3, true); err != nil {
		t.Fatal(err)
	}
	k := Key{Src: client, Dst: vip, Proto: frame.ProtoTCP}
	if err := f.Install(k, Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: client, Dst: vip, In: loIndex,
		Out: outIndex, MTU: 1500, Slot: 6}); err != nil {
		t.Fatal(err)
	}
	to := frametest.WithDstMAC(hostMAC)
	if ret, _ := run(t, f.tcx, frametest.TCP(client, vip, frame.FIN|frame.ACK, nil, to)); ret != tcActRedirect {
		t.Fatalf("FIN: tcx verdict %#x, want redirect", ret)
	}
	// Fill the ring with FINs of another direct-routing flow.
	other := Key{Src: clientN(9), Dst: vip, Proto: frame.ProtoTCP}
	if err := f.Install(other, Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: other.Src, Dst: vip, In: loIndex,
		Out: outIndex, MTU: 1500, Slot: 6}); err != nil {
		t.Fatal(err)
	}
	fin := frametest.TCP(other.Src, vip, frame.FIN|frame.ACK, nil, to)
	for i := 0; i < eventRingLen/8; i++ {
		if ret, _ := run(t, f.tcx, fin); ret != tcActRedirect {
			break
		}
	}
	if ret, _ := run(t, f.tcx, frametest.TCPSyn(client, vip, to)); ret != tcxNextRet {
		t.Errorf("reusing SYN with the ring full: tcx verdict %#x, want the Go path's", ret)
	}
	f.NewFlows(func(NewFlow) {})
	if ret, _ := run(t, f.tcx, frametest.TCP(client, vip, frame.ACK, nil, to)); ret != tcActRedirect {
		t.Errorf("an ACK after the punted SYN: tcx verdict %#x, want redirect (the flow not withdrawn)", ret)
	}
}
