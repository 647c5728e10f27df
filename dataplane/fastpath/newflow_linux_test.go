package fastpath

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

var (
	rip2      = netip.MustParseAddrPort("10.0.0.3:8080")
	clientMAC = frame.MAC{2, 0, 0, 0, 0, 0xcc}
)

// natService is a NAT service of vip over rip and rip2 with cycle seq.
func natService(seq ...int) Service {
	target := func(r netip.AddrPort, slot uint32) Target {
		return Target{Real: r,
			Fwd: Action{DstMAC: rsMAC, SrcMAC: outMAC, Dst: r, In: loIndex, Out: outIndex, DecTTL: true, MTU: 1500, Slot: slot},
			Rev: Action{SrcMAC: outMAC, Src: vip, In: loIndex, DecTTL: true, MTU: 1500, Slot: slot + 1}, HasRev: true}
	}
	return Service{VIP: vip, Proto: frame.ProtoTCP, In: loIndex, Seq: seq, Targets: []Target{target(rip, 2), target(rip2, 4)}}
}

func clientN(i int) netip.AddrPort {
	return netip.AddrPortFrom(client.Addr(), uint16(40000+i))
}

// TestNewFlowSchedulesInKernel runs a connection's frames through the
// tcx program as the kernel does: the SYNs are
// scheduled in the service's cycle, the real server's SYN-ACK and the
// client's ACK are forwarded, the flows are reported in order, and
// everything the path must not take is punted.
func TestNewFlowSchedulesInKernel(t *testing.T) {
	f := openForTest(t)
	if err := f.SetServices([]Service{natService(0, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{rip, rip2, rip, rip, rip2}
	for i, r := range want {
		syn := frametest.TCPSyn(clientN(i), vip, frametest.WithDstMAC(hostMAC), frametest.WithSrcMAC(clientMAC))
		ret, out := run(t, f.tcx, syn)
		if ret != tcActRedirect {
			t.Fatalf("SYN %d: tcx verdict %d, want redirect", i, ret)
		}
		frametest.Check(t, out, frametest.DstAddr(r.Addr()), frametest.DstPort(r.Port()),
			frametest.SrcAddr(client.Addr()), frametest.SrcPort(clientN(i).Port()), frametest.TTL(63),
			frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
		// The real server's answer goes back to the client as the VIP.
		synAck := frametest.TCP(r, clientN(i), frame.SYN|frame.ACK, nil, frametest.WithDstMAC(hostMAC))
		ret, out = run(t, f.tcx, synAck)
		if ret != tcActRedirect {
			t.Fatalf("SYN-ACK %d: tcx verdict %d, want redirect", i, ret)
		}
		frametest.Check(t, out, frametest.SrcAddr(vip.Addr()), frametest.SrcPort(vip.Port()),
			frametest.DstAddr(client.Addr()), frametest.DstPort(clientN(i).Port()),
			frametest.DstMAC(clientMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
	}
	var got []NewFlow
	if n := f.NewFlows(func(nf NewFlow) { got = append(got, nf) }); n != len(want) {
		t.Fatalf("NewFlows reported %d flows, want %d", n, len(want))
	}
	for i, nf := range got {
		if w := (NewFlow{Client: clientN(i), Virtual: vip, Real: want[i], Proto: frame.ProtoTCP, In: loIndex}); nf != w {
			t.Errorf("flow %d = %+v, want %+v", i, nf, w)
		}
	}
	if f.PendingNewFlows() {
		t.Error("PendingNewFlows after a drain")
	}

	// A retransmitted SYN goes to the same server and is not a new flow.
	syn := frametest.TCPSyn(clientN(1), vip, frametest.WithDstMAC(hostMAC))
	if ret, out := run(t, f.tcx, syn); ret != tcActRedirect {
		t.Fatalf("retransmitted SYN: tcx verdict %d", ret)
	} else {
		frametest.Check(t, out, frametest.DstAddr(rip2.Addr()), frametest.SumsOK())
	}
	// The client's ACK completes the handshake; a SYN after it is Go's.
	ack := frametest.TCP(clientN(1), vip, frame.ACK, nil, frametest.WithDstMAC(hostMAC))
	if ret, _ := run(t, f.tcx, ack); ret != tcActRedirect {
		t.Fatalf("ACK: tcx verdict %d", ret)
	}
	if acked, ok := f.Acked(Key{Src: clientN(1), Dst: vip, Proto: frame.ProtoTCP}); !ok || !acked {
		t.Errorf("Acked after the client's ACK = %v, %v; want true, true", acked, ok)
	}
	if ret := toSocket(t, f.tcx, syn); ret == 0 {
		t.Error("a SYN after the handshake was taken by the fast path")
	}
	// The retransmission is no new flow; the ACK is reported as the
	// handshake's completion (ackReport), once.
	got = got[:0]
	f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
	est := NewFlow{Client: clientN(1), Virtual: vip, Proto: frame.ProtoTCP, In: loIndex, Established: true,
		TCPFlags: uint8(frame.ACK), Acked: true}
	if len(got) != 1 || got[0] != est {
		t.Errorf("the retransmission and the ACK reported %+v, want %+v", got, est)
	}
	if ret, _ := run(t, f.tcx, ack); ret != tcActRedirect {
		t.Fatalf("a second ACK: tcx verdict %d", ret)
	}
	if n := f.NewFlows(func(NewFlow) {}); n != 0 {
		t.Errorf("a second ACK reported %d records, want none", n)
	}

	punted := []struct {
		name string
		f    []byte
	}{
		{"other port", frametest.TCPSyn(clientN(9), netip.AddrPortFrom(vip.Addr(), 443), frametest.WithDstMAC(hostMAC))},
		{"syn-ack to vip", frametest.TCP(clientN(9), vip, frame.SYN|frame.ACK, nil, frametest.WithDstMAC(hostMAC))},
		{"ack of no flow", frametest.TCP(clientN(9), vip, frame.ACK, nil, frametest.WithDstMAC(hostMAC))},
		{"udp", frametest.UDP(clientN(9), vip, []byte("x"), frametest.WithDstMAC(hostMAC))},
	}
	for _, p := range punted {
		if ret, _ := run(t, f.tcx, p.f); ret != tcxNextRet {
			t.Errorf("%s: tcx verdict %d, want next", p.name, ret)
		}
	}
	// Without the service, SYNs go to Go.
	if err := f.SetServices(nil); err != nil {
		t.Fatal(err)
	}
	if ret := toSocket(t, f.tcx, frametest.TCPSyn(clientN(20), vip, frametest.WithDstMAC(hostMAC))); ret == 0 {
		t.Error("a SYN to a removed service was taken")
	}
	if f.NewFlows(func(NewFlow) {}) != 0 {
		t.Error("flows reported after the services were removed")
	}
}

// TestSetServicesKeepsCycle: setting the same services again does not
// restart the cycle; a change restarts it from the head.
func TestSetServicesKeepsCycle(t *testing.T) {
	f := openForTest(t)
	if err := f.SetServices([]Service{natService(0, 1)}); err != nil {
		t.Fatal(err)
	}
	dst := func(i int) netip.Addr {
		syn := frametest.TCPSyn(clientN(100+i), vip, frametest.WithDstMAC(hostMAC))
		if ret := toSocket(t, f.tcx, syn); ret != 0 {
			t.Fatalf("SYN %d punted", i)
		}
		_, out := run(t, f.tcx, syn)
		return netip.AddrFrom4([4]byte(out[30:34]))
	}
	if d := dst(0); d != rip.Addr() {
		t.Fatalf("first pick %v, want %v", d, rip.Addr())
	}
	if err := f.SetServices([]Service{natService(0, 1)}); err != nil {
		t.Fatal(err)
	}
	if d := dst(1); d != rip2.Addr() {
		t.Errorf("after an unchanged SetServices: pick %v, want %v (the cycle goes on)", d, rip2.Addr())
	}
	if err := f.SetServices([]Service{natService(1, 0)}); err != nil {
		t.Fatal(err)
	}
	if d := dst(2); d != rip2.Addr() {
		t.Errorf("after a changed SetServices: pick %v, want %v (the new cycle's head)", d, rip2.Addr())
	}
}

// TestNewFlowSchedulesUDP: a UDP service's datagrams of no flow are
// scheduled in its cycle by the tcx program, the flow's next datagrams
// and the real server's answers follow its entries, and the flows are
// reported with their protocol; a TCP SYN to the same address and port
// (another service) is not taken.
func TestNewFlowSchedulesUDP(t *testing.T) {
	f := openForTest(t)
	svc := natService(0, 1, 1)
	svc.Proto = frame.ProtoUDP
	if err := f.SetServices([]Service{svc}); err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{rip, rip2, rip2, rip}
	for i, r := range want {
		for n := range 2 { // the flow's first datagram, then one it already has
			d := frametest.UDP(clientN(i), vip, []byte("query"), frametest.WithDstMAC(hostMAC), frametest.WithSrcMAC(clientMAC))
			ret, out := run(t, f.tcx, d)
			if ret != tcActRedirect {
				t.Fatalf("flow %d datagram %d: tcx verdict %d, want redirect", i, n, ret)
			}
			frametest.Check(t, out, frametest.DstAddr(r.Addr()), frametest.DstPort(r.Port()),
				frametest.SrcAddr(client.Addr()), frametest.SrcPort(clientN(i).Port()), frametest.TTL(63),
				frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
		}
		answer := frametest.UDP(r, clientN(i), []byte("answer"), frametest.WithDstMAC(hostMAC))
		ret, out := run(t, f.tcx, answer)
		if ret != tcActRedirect {
			t.Fatalf("answer %d: tcx verdict %d, want redirect", i, ret)
		}
		frametest.Check(t, out, frametest.SrcAddr(vip.Addr()), frametest.SrcPort(vip.Port()),
			frametest.DstAddr(client.Addr()), frametest.DstPort(clientN(i).Port()),
			frametest.DstMAC(clientMAC), frametest.SumsOK())
	}
	var got []NewFlow
	if n := f.NewFlows(func(nf NewFlow) { got = append(got, nf) }); n != len(want) {
		t.Fatalf("NewFlows reported %d flows, want %d (one per flow, not per datagram)", n, len(want))
	}
	for i, nf := range got {
		if w := (NewFlow{Client: clientN(i), Virtual: vip, Real: want[i], Proto: frame.ProtoUDP, In: loIndex}); nf != w {
			t.Errorf("flow %d = %+v, want %+v", i, nf, w)
		}
	}
	if ret := toSocket(t, f.tcx, frametest.TCPSyn(clientN(50), vip, frametest.WithDstMAC(hostMAC))); ret == 0 {
		t.Error("a TCP SYN was scheduled by a UDP service")
	}
	if f.NewFlows(func(NewFlow) {}) != 0 {
		t.Error("the punted SYN was reported")
	}
}

// TestInstallNewYieldsToTheFilter: the Go path's claim on a UDP flow's
// client direction (InstallNew) is refused when the tcx program
// scheduled the flow first, and the program's entry stays; it is granted
// for a flow nobody holds, after which the program schedules nothing.
func TestInstallNewYieldsToTheFilter(t *testing.T) {
	f := openForTest(t)
	svc := natService(0, 1)
	svc.Proto = frame.ProtoUDP
	if err := f.SetServices([]Service{svc}); err != nil {
		t.Fatal(err)
	}
	datagram := func(c netip.AddrPort) []byte {
		return frametest.UDP(c, vip, []byte("q"), frametest.WithDstMAC(hostMAC))
	}
	goPick := func(c netip.AddrPort) Action {
		return Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: c, Dst: rip2, In: loIndex, Out: outIndex, DecTTL: true, MTU: 1500, Slot: 4}
	}
	// The program first: it picks rip (the cycle's head); the claim loses.
	if fwd, _, err := f.Simulate(datagram(clientN(1)), loIndex); err != nil || !fwd {
		t.Fatalf("Simulate = %v, %v; want the flow scheduled and forwarded", fwd, err)
	}
	k := Key{Src: clientN(1), Dst: vip, Proto: frame.ProtoUDP}
	if ok, err := f.InstallNew(k, goPick(clientN(1))); ok || err != nil {
		t.Fatalf("InstallNew over the program's entry = %v, %v; want false, nil", ok, err)
	}
	if _, out := run(t, f.tcx, datagram(clientN(1))); netip.AddrFrom4([4]byte(out[30:34])) != rip.Addr() {
		t.Errorf("after the refused claim the flow goes to %v, want the program's pick %v", netip.AddrFrom4([4]byte(out[30:34])), rip.Addr())
	}
	// The Go path first: its claim stands and the program leaves the flow.
	k2 := Key{Src: clientN(2), Dst: vip, Proto: frame.ProtoUDP}
	if ok, err := f.InstallNew(k2, goPick(clientN(2))); !ok || err != nil {
		t.Fatalf("InstallNew of a flow nobody holds = %v, %v; want true, nil", ok, err)
	}
	if fwd, _, err := f.Simulate(datagram(clientN(2)), loIndex); err != nil || !fwd {
		t.Fatalf("Simulate after the claim = %v, %v; want forwarded", fwd, err)
	}
	if _, out := run(t, f.tcx, datagram(clientN(2))); netip.AddrFrom4([4]byte(out[30:34])) != rip2.Addr() {
		t.Errorf("claimed flow goes to %v, want the Go path's pick %v", netip.AddrFrom4([4]byte(out[30:34])), rip2.Addr())
	}
	if n := f.NewFlows(func(NewFlow) {}); n != 1 {
		t.Errorf("NewFlows = %d, want only the program's own flow", n)
	}
}

// TestNewFlowChecksL4 (l4sum.go): the tcx program schedules a flow only
// for a SYN or a UDP datagram whose checksum is right (or, for UDP,
// absent, or partial: left to offload), for every length's tail, and
// punts one with a wrong checksum to the Go path, which drops it, without
// taking a slot of the cycle.
func TestNewFlowChecksL4(t *testing.T) {
	for _, proto := range []uint8{frame.ProtoTCP, frame.ProtoUDP} {
		t.Run(map[uint8]string{frame.ProtoTCP: "tcp", frame.ProtoUDP: "udp"}[proto], func(t *testing.T) {
			f := openForTest(t)
			svc := natService(0, 1)
			svc.Proto = proto
			if err := f.SetServices([]Service{svc}); err != nil {
				t.Fatal(err)
			}
			port := 0
			build := func(payload []byte, opts ...frametest.Option) ([]byte, int) {
				port++
				opts = append(opts, frametest.WithDstMAC(hostMAC))
				if proto == frame.ProtoTCP {
					return frametest.TCP(clientN(port), vip, frame.SYN, payload, opts...), 34 + 16
				}
				return frametest.UDP(clientN(port), vip, payload, opts...), 34 + 6
			}
			good := 0
			check := func(what string, d []byte, want bool) {
				t.Helper()
				ret := toSocket(t, f.tcx, d)
				if got := ret == 0; got != want {
					t.Errorf("%s: scheduled = %v (toSocket %d), want %v", what, got, ret, want)
				}
				if want {
					good++
				}
			}
			// Payloads of 0 to 140 bytes: every tail after every mix of the
			// sum's 64-, 32-, 16-, 8- and 4-byte steps (sumChunk).
			for n := range 141 {
				d, _ := build(make([]byte, n))
				check(fmt.Sprintf("%d-byte payload, right checksum", n), d, true)
				bad, sum := build(make([]byte, n))
				bad[sum] ^= 0x5a
				check(fmt.Sprintf("%d-byte payload, wrong checksum", n), bad, false)
				// A wrong byte in the payload or in the pseudo-header's addresses.
				if n > 0 {
					bad, _ = build(make([]byte, n))
					end := 14 + int(binary.BigEndian.Uint16(bad[16:])) // past the link's padding
					bad[end-1] ^= 0x01
					check(fmt.Sprintf("%d-byte payload, last byte changed", n), bad, false)
					bad, _ = build(make([]byte, n))
					bad[end-1-n/2] ^= 0x10
					check(fmt.Sprintf("%d-byte payload, a middle byte changed", n), bad, false)
				}
			}
			// A field holding the pseudo-header's sum, as a partial
			// checksum's does, in an skb that is not CHECKSUM_PARTIAL (a test
			// run's never is): a wrong checksum, punted and left as it came,
			// also when the kernel checks skb->csum after the probe
			// (TestNewFlowPartialChecksum has real partial checksums).
			for n := range 4 {
				forged, sum := build(make([]byte, n+1))
				l4 := int(binary.BigEndian.Uint16(forged[16:])) - 20
				ph := frame.PseudoHeaderSum([4]byte(forged[26:30]), [4]byte(forged[30:34]), proto, l4)
				binary.BigEndian.PutUint16(forged[sum:], frame.Fold(ph))
				checkForged(t, f, fmt.Sprintf("%d-byte payload, the pseudo-header's sum as its checksum", n+1), forged)
				off, _ := build(make([]byte, n+1))
				binary.BigEndian.PutUint16(off[sum:], frame.Fold(ph)+1)
				check(fmt.Sprintf("%d-byte payload, the pseudo-header's sum plus 1", n+1), off, false)
			}
			long, _ := build(make([]byte, 1400))
			check("1,400-byte payload, right checksum", long, true)
			tooLong, _ := build(make([]byte, 1474))
			check("1,474-byte payload (longer than the program sums)", tooLong, false)
			if proto == frame.ProtoTCP {
				mss, _ := build(nil, frametest.WithMSS(1460))
				check("SYN with an MSS option", mss, true)
			} else {
				none, _ := build([]byte("no sum"), frametest.WithNoUDPChecksum())
				check("datagram without a checksum", none, true)
			}
			if n := f.NewFlows(func(NewFlow) {}); n != good {
				t.Errorf("NewFlows = %d, want the %d good frames' flows", n, good)
			}
		})
	}
}

// TestRSTReported (close.go): an RST of a flow the fast path holds, from
// either end, is taken and forwarded by the tcx program and
// reported as a closing record with its ends as it arrived; an RST of no
// flow, and one that finds the ring full, go to the Go path (the full
// ring's also withdrawn from tcx, so the two programs agree).
func TestRSTReported(t *testing.T) {
	f := openForTest(t)
	if err := f.SetServices([]Service{natService(0, 1)}); err != nil {
		t.Fatal(err)
	}
	c := clientN(1)
	syn := frametest.TCPSyn(c, vip, frametest.WithDstMAC(hostMAC))
	if ret := toSocket(t, f.tcx, syn); ret != 0 {
		t.Fatalf("SYN punted (%d), want scheduled", ret)
	}
	var opened []NewFlow
	f.NewFlows(func(nf NewFlow) { opened = append(opened, nf) })
	if len(opened) != 1 || opened[0].Closed {
		t.Fatalf("after the SYN: %+v, want one new flow", opened)
	}
	real := opened[0].Real
	// The client's request completes the handshake (flagAcked), which
	// the client's RST reports; the real server's direction has no mark.
	req := frametest.TCP(c, vip, frame.ACK, []byte("GET"), frametest.WithDstMAC(hostMAC))
	if ret, _ := run(t, f.tcx, req); ret != tcActRedirect {
		t.Fatalf("the client's request: tcx verdict %#x, want redirect", ret)
	}
	if n := f.NewFlows(func(nf NewFlow) {
		if !nf.Established || nf.Client != c {
			t.Errorf("the request reported %+v, want its handshake's completion", nf)
		}
	}); n != 1 {
		t.Errorf("the request: %d reports, want 1", n)
	}
	rst := []struct {
		name     string
		frame    []byte
		src, dst netip.AddrPort
		acked    bool
	}{
		{"client's", frametest.TCP(c, vip, frame.RST|frame.ACK, nil, frametest.WithDstMAC(hostMAC)), c, vip, true},
		{"real server's", frametest.TCP(real, c, frame.RST, nil, frametest.WithDstMAC(hostMAC)), real, c, false},
	}
	for _, r := range rst {
		if ret, _ := run(t, f.tcx, r.frame); ret != tcActRedirect {
			t.Errorf("%s RST: tcx verdict %#x, want redirect", r.name, ret)
		}
		var got []NewFlow
		f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
		want := NewFlow{Client: r.src, Virtual: r.dst, Proto: frame.ProtoTCP, In: loIndex, Closed: true,
			TCPFlags: r.frame[frTCPFlag], Acked: r.acked}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s RST reported %+v, want %+v", r.name, got, want)
		}
	}
	// The RST deleted its flow's entry (close.go): a late segment or a
	// retransmitted RST goes to Go, which has the report by then; a SYN
	// from the reused client port is scheduled afresh, reported after it.
	for what, late := range map[string][]byte{
		"late segment": frametest.TCP(c, vip, frame.ACK, []byte("late"), frametest.WithDstMAC(hostMAC)),
		"RST":          frametest.TCP(c, vip, frame.RST, nil, frametest.WithDstMAC(hostMAC)),
	} {
		if ret, _ := run(t, f.tcx, late); ret != tcxNextRet {
			t.Errorf("%s after the RST: tcx verdict %#x, want TCX_NEXT", what, ret)
		}
	}
	if ret := toSocket(t, f.tcx, frametest.TCPSyn(c, vip, frametest.WithDstMAC(hostMAC))); ret != 0 {
		t.Error("a SYN from the reused port after the RST was punted, want it scheduled")
	}
	var again []NewFlow
	f.NewFlows(func(nf NewFlow) { again = append(again, nf) })
	if len(again) != 1 || again[0].Closed || again[0].Client != c {
		t.Errorf("after the SYN from the reused port: %+v, want one new flow of %v", again, c)
	}
	stray := frametest.TCP(clientN(9), vip, frame.RST, nil, frametest.WithDstMAC(hostMAC))
	if ret := toSocket(t, f.tcx, stray); ret == 0 {
		t.Error("an RST of no flow was taken")
	}
	// A full ring: fill it with a FIN's reports (the flow stays open
	// after a FIN) until one finds no room, then the RST is punted by both
	// programs and its flow withdrawn. (SYNs' reports would do too, but
	// the test's small LRU map can refuse a new flow first.)
	fwd := natService(0).Targets[0].Fwd
	fwd.Src = c
	install := func() {
		if err := f.Install(Key{Src: c, Dst: vip, Proto: frame.ProtoTCP}, fwd); err != nil {
			t.Fatal(err)
		}
	}
	install() // the client's direction again: the RST above deleted it
	fin := frametest.TCP(c, vip, frame.FIN|frame.ACK, nil, frametest.WithDstMAC(hostMAC))
	for i := 0; toSocket(t, f.tcx, fin) == 0; i++ {
		if i > 1<<20 {
			t.Fatal("the ring never filled")
		}
	}
	install() // the FIN that found no room withdrew it
	full := frametest.TCP(c, vip, frame.RST, nil, frametest.WithDstMAC(hostMAC))
	if ret, _ := run(t, f.tcx, full); ret != tcxNextRet {
		t.Errorf("RST with the ring full: tcx verdict %#x, want TCX_NEXT", ret)
	}
}

// TestFINReported (close.go): a FIN of a flow the fast path holds, from
// either end, is taken, forwarded and reported with its flags; the flow
// stays open in the fast path (the ACKs after it are forwarded with no
// report), and a SYN from the same port still goes to Go.
func TestFINReported(t *testing.T) {
	f := openForTest(t)
	if err := f.SetServices([]Service{natService(0, 1)}); err != nil {
		t.Fatal(err)
	}
	c := clientN(2)
	if ret := toSocket(t, f.tcx, frametest.TCPSyn(c, vip, frametest.WithDstMAC(hostMAC))); ret != 0 {
		t.Fatalf("SYN punted (%d), want scheduled", ret)
	}
	var opened []NewFlow
	f.NewFlows(func(nf NewFlow) { opened = append(opened, nf) })
	if len(opened) != 1 {
		t.Fatalf("after the SYN: %+v, want one new flow", opened)
	}
	real := opened[0].Real
	taken := func(what string, fr []byte) {
		t.Helper()
		if ret, _ := run(t, f.tcx, fr); ret != tcActRedirect {
			t.Errorf("%s: tcx verdict %#x, want redirect", what, ret)
		}
	}
	reports := func() (got []NewFlow) {
		f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
		return got
	}
	taken("request", frametest.TCP(c, vip, frame.ACK, []byte("GET"), frametest.WithDstMAC(hostMAC)))
	est := NewFlow{Client: c, Virtual: vip, Proto: frame.ProtoTCP, In: loIndex, Established: true,
		TCPFlags: uint8(frame.ACK), Acked: true}
	if got := reports(); len(got) != 1 || got[0] != est {
		t.Errorf("the request reported %+v, want the handshake's completion %+v", got, est)
	}
	for _, x := range []struct {
		name     string
		src, dst netip.AddrPort
		acked    bool
	}{{"client's FIN", c, vip, true}, {"real server's FIN", real, c, false}} {
		fin := frametest.TCP(x.src, x.dst, frame.FIN|frame.ACK, nil, frametest.WithDstMAC(hostMAC))
		taken(x.name, fin)
		want := NewFlow{Client: x.src, Virtual: x.dst, Proto: frame.ProtoTCP, In: loIndex, Closed: true,
			TCPFlags: uint8(frame.FIN | frame.ACK), Acked: x.acked}
		if got := reports(); len(got) != 1 || got[0] != want {
			t.Errorf("%s reported %+v, want %+v", x.name, got, want)
		}
	}
	taken("the last ACK", frametest.TCP(c, vip, frame.ACK, nil, frametest.WithDstMAC(hostMAC)))
	if got := reports(); len(got) != 0 {
		t.Errorf("an ACK after the FINs reported %+v, want nothing", got)
	}
	syn := frametest.TCPSyn(c, vip, frametest.WithDstMAC(hostMAC))
	if ret := toSocket(t, f.tcx, syn); ret == 0 {
		t.Error("a SYN from the closed connection's port was taken, want the Go path")
	}
	// A FIN right after the SYN is reported as a FIN only, the handshake
	// not acked, as IPVS steps SYN_RECV on a FIN (its flag comes first).
	c = clientN(3)
	if ret := toSocket(t, f.tcx, frametest.TCPSyn(c, vip, frametest.WithDstMAC(hostMAC))); ret != 0 {
		t.Fatalf("SYN punted (%d), want scheduled", ret)
	}
	reports()
	taken("a FIN after the SYN", frametest.TCP(c, vip, frame.FIN|frame.ACK, nil, frametest.WithDstMAC(hostMAC)))
	fin := NewFlow{Client: c, Virtual: vip, Proto: frame.ProtoTCP, In: loIndex, Closed: true, TCPFlags: uint8(frame.FIN | frame.ACK)}
	if got := reports(); len(got) != 1 || got[0] != fin {
		t.Errorf("a FIN after the SYN reported %+v, want %+v", got, fin)
	}
}

// checkForged runs a frame whose checksum field holds the pseudo-header's
// sum, in a plain skb and in a CHECKSUM_COMPLETE one: the program must
// punt it with the frame as it came (the probe's change taken back).
func checkForged(t *testing.T, f *FastPath, what string, d []byte) {
	t.Helper()
	ret, out := run(t, f.tcx, d)
	if ret != tcxNextRet {
		t.Errorf("%s: tcx verdict %d, want the Go path's", what, ret)
	} else if !bytes.Equal(out, d) {
		t.Errorf("%s: punted changed:\n%x\nwant\n%x", what, out, d)
	}
	if ret, out, ok := runComplete(t, f.tcx, d); ok && (ret != tcxNextRet || !bytes.Equal(out, d)) {
		t.Errorf("%s, CHECKSUM_COMPLETE: tcx verdict %d (want the Go path's), frame changed %v", what, ret, !bytes.Equal(out, d))
	}
}
