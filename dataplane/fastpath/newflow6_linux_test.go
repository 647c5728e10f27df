package fastpath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// IPv6 new flows (newflow6.go), run in the kernel as the IPv4 tests run
// theirs.

var rip6b = netip.MustParseAddrPort("[fd00::3]:8080")

func client6N(i int) netip.AddrPort {
	return netip.AddrPortFrom(client6.Addr(), uint16(40000+i))
}

// nat6Service is a NAT66 service of vip6 over rip6 and rip6b with cycle
// seq.
func nat6Service(proto uint8, seq ...int) Service {
	target := func(r netip.AddrPort, slot uint32) Target {
		return Target{Real: r,
			Fwd: Action{DstMAC: rsMAC, SrcMAC: outMAC, Dst: r, In: loIndex, Out: outIndex, DecTTL: true, MTU: 1500, Slot: slot},
			Rev: Action{SrcMAC: outMAC, Src: vip6, In: loIndex, DecTTL: true, MTU: 1500, Slot: slot + 1}, HasRev: true}
	}
	return Service{VIP: vip6, Proto: proto, In: loIndex, Seq: seq, Targets: []Target{target(rip6, 2), target(rip6b, 4)}}
}

// dst6 is the destination address of an IPv6 frame.
func dst6(f []byte) netip.Addr { return netip.AddrFrom16([16]byte(f[38:54])) }

// TestNewFlowSchedulesIPv6: a SYN or a first datagram to an IPv6 NAT66
// service is scheduled in the service's cycle by the tcx program,
// rewritten and forwarded; the real server's answer and the client's next
// segments follow the entries it wrote; each flow is reported once, in
// order, with its 16-byte addresses.
func TestNewFlowSchedulesIPv6(t *testing.T) {
	for _, proto := range []uint8{frame.ProtoTCP, frame.ProtoUDP} {
		t.Run(map[uint8]string{frame.ProtoTCP: "tcp", frame.ProtoUDP: "udp"}[proto], func(t *testing.T) {
			f := openForTest(t)
			if err := f.SetServices([]Service{nat6Service(proto, 0, 1, 1)}); err != nil {
				t.Fatal(err)
			}
			open := func(c netip.AddrPort) []byte {
				if proto == frame.ProtoTCP {
					return frametest.TCPSyn(c, vip6, frametest.WithDstMAC(hostMAC), frametest.WithSrcMAC(clientMAC))
				}
				return frametest.UDP(c, vip6, []byte("query"), frametest.WithDstMAC(hostMAC), frametest.WithSrcMAC(clientMAC))
			}
			answer := func(r, c netip.AddrPort) []byte {
				if proto == frame.ProtoTCP {
					return frametest.TCP(r, c, frame.SYN|frame.ACK, nil, frametest.WithDstMAC(hostMAC))
				}
				return frametest.UDP(r, c, []byte("answer"), frametest.WithDstMAC(hostMAC))
			}
			want := []netip.AddrPort{rip6, rip6b, rip6b, rip6, rip6b}
			for i, r := range want {
				c := client6N(i)
				ret, out := run(t, f.tcx, open(c))
				if ret != tcActRedirect {
					t.Fatalf("flow %d: tcx verdict %d, want redirect", i, ret)
				}
				frametest.Check(t, out, frametest.DstAddr(r.Addr()), frametest.DstPort(r.Port()),
					frametest.SrcAddr(c.Addr()), frametest.SrcPort(c.Port()), frametest.TTL(63),
					frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
				ret, out = run(t, f.tcx, answer(r, c))
				if ret != tcActRedirect {
					t.Fatalf("answer %d: tcx verdict %d, want redirect", i, ret)
				}
				frametest.Check(t, out, frametest.SrcAddr(vip6.Addr()), frametest.SrcPort(vip6.Port()),
					frametest.DstAddr(c.Addr()), frametest.DstPort(c.Port()),
					frametest.DstMAC(clientMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
			}
			var got []NewFlow
			if n := f.NewFlows(func(nf NewFlow) { got = append(got, nf) }); n != len(want) {
				t.Fatalf("NewFlows reported %d flows, want %d", n, len(want))
			}
			for i, nf := range got {
				if w := (NewFlow{Client: client6N(i), Virtual: vip6, Real: want[i], Proto: proto, In: loIndex}); nf != w {
					t.Errorf("flow %d = %+v, want %+v", i, nf, w)
				}
			}
			// The flow's next frame (a retransmitted SYN, a second datagram)
			// goes to the same server and is no new flow.
			if ret, out := run(t, f.tcx, open(client6N(1))); ret != tcActRedirect || dst6(out) != rip6b.Addr() {
				t.Errorf("the flow's next frame: verdict %d to %v, want redirect to %v", ret, dst6(out), rip6b.Addr())
			}
			if proto == frame.ProtoTCP {
				ack := frametest.TCP(client6N(1), vip6, frame.ACK, nil, frametest.WithDstMAC(hostMAC))
				if ret, _ := run(t, f.tcx, ack); ret != tcActRedirect {
					t.Fatalf("ACK: tcx verdict %d", ret)
				}
				if acked, ok := f.Acked(Key{Src: client6N(1), Dst: vip6, Proto: proto}); !ok || !acked {
					t.Errorf("Acked after the client's ACK = %v, %v; want true, true", acked, ok)
				}
				if ret := toSocket(t, f.tcx, open(client6N(1))); ret == 0 {
					t.Error("a SYN after the handshake was taken by the fast path")
				}
				// The ACK is reported as the handshake's completion.
				est := NewFlow{Client: client6N(1), Virtual: vip6, Proto: proto, In: loIndex, Established: true,
					TCPFlags: uint8(frame.ACK), Acked: true}
				got = got[:0]
				f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
				if len(got) != 1 || got[0] != est {
					t.Errorf("the ACK reported %+v, want %+v", got, est)
				}
			}
			if n := f.NewFlows(func(NewFlow) {}); n != 0 {
				t.Errorf("the flows' later frames reported %d new flows", n)
			}
		})
	}
}

// TestNewFlowDirectRouting6: direct routing over IPv6 changes the MACs
// only, writes no reply direction, and reports the flow.
func TestNewFlowDirectRouting6(t *testing.T) {
	f := openForTest(t)
	svc := Service{VIP: vip6, Proto: frame.ProtoTCP, In: loIndex, Seq: []int{0},
		Targets: []Target{{Real: netip.AddrPortFrom(rip6.Addr(), vip6.Port()),
			Fwd: Action{DstMAC: rsMAC, SrcMAC: outMAC, Dst: vip6, In: loIndex, Out: outIndex, MTU: 1500, Slot: 2}}}}
	if err := f.SetServices([]Service{svc}); err != nil {
		t.Fatal(err)
	}
	syn := frametest.TCPSyn(client6, vip6, frametest.WithDstMAC(hostMAC))
	ret, out := run(t, f.tcx, syn)
	if ret != tcActRedirect {
		t.Fatalf("SYN: tcx verdict %d, want redirect", ret)
	}
	frametest.Check(t, out, frametest.DstAddr(vip6.Addr()), frametest.DstPort(vip6.Port()),
		frametest.SrcAddr(client6.Addr()), frametest.SrcPort(client6.Port()), frametest.TTL(64),
		frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
	if string(out[12:]) != string(syn[12:]) {
		t.Error("direct routing changed more than the MAC addresses")
	}
	var got []NewFlow
	f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
	want := NewFlow{Client: client6, Virtual: vip6, Real: svc.Targets[0].Real, Proto: frame.ProtoTCP, In: loIndex}
	if len(got) != 1 || got[0] != want {
		t.Errorf("reported %+v, want %+v", got, want)
	}
	if ret, _ := run(t, f.tcx, frametest.TCP(svc.Targets[0].Real, client6, frame.SYN|frame.ACK, nil, frametest.WithDstMAC(hostMAC))); ret != tcxNextRet {
		t.Errorf("a SYN-ACK through the director of a direct-routing flow: verdict %d, want TCX_NEXT (no reply entry)", ret)
	}
}

// TestNewFlowPunts6: what the IPv6 path must not schedule goes to the Go
// path unchanged and takes no slot of the cycle: a SYN with FIN, a
// SYN-ACK, a bad checksum, an extension header, another port, an address
// whose fold is the service's, a hop limit of 1, a UDP length unlike the
// payload's, a datagram without a checksum; and nothing of a service the
// fast path was not given (as when a real server is unresolved: lvsd then
// does not hand it over).
func TestNewFlowPunts6(t *testing.T) {
	f := openForTest(t)
	if err := f.SetServices([]Service{nat6Service(frame.ProtoTCP, 0, 1), nat6Service(frame.ProtoUDP, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	to := frametest.WithDstMAC(hostMAC)
	c := client6N(9)
	// The same fold: the VIP's first two words swapped.
	v := vip6.Addr().As16()
	var swapped [16]byte
	copy(swapped[:], v[4:8])
	copy(swapped[4:], v[0:4])
	copy(swapped[8:], v[8:])
	if svc6Key(netip.AddrPortFrom(netip.AddrFrom16(swapped), vip6.Port()), frame.ProtoTCP) != svc6Key(vip6, frame.ProtoTCP) {
		t.Fatal("the swapped address does not fold to the service's key")
	}
	badSum := frametest.TCPSyn(c, vip6, to)
	badSum[fr6TCPCsum] ^= 0x5a
	badLen := frametest.UDP(c, vip6, []byte("query"), to)
	binary.BigEndian.PutUint16(badLen[fr6UDPLen:], 8+4)
	binary.BigEndian.PutUint16(badLen[fr6UDPCsum:], 0)
	punted := []struct {
		name string
		f    []byte
	}{
		{"syn+fin", frametest.TCP(c, vip6, frame.SYN|frame.FIN, nil, to)},
		{"syn+rst", frametest.TCP(c, vip6, frame.SYN|frame.RST, nil, to)},
		{"syn-ack to the vip", frametest.TCP(c, vip6, frame.SYN|frame.ACK, nil, to)},
		{"ack of no flow", frametest.TCP(c, vip6, frame.ACK, nil, to)},
		{"bad tcp checksum", badSum},
		{"hop-by-hop header", frametest.TCPSyn(c, vip6, to, frametest.WithExt(frame.ProtoHopOpts))},
		{"destination options", frametest.UDP(c, vip6, []byte("q"), to, frametest.WithExt(frame.ProtoDstOpts))},
		{"other port", frametest.TCPSyn(c, netip.AddrPortFrom(vip6.Addr(), 443), to)},
		{"same fold, other address", frametest.TCPSyn(c, netip.AddrPortFrom(netip.AddrFrom16(swapped), vip6.Port()), to)},
		{"hop limit 1", frametest.TCPSyn(c, vip6, to, frametest.WithTTL(1))},
		{"udp length unlike the payload's", badLen},
		{"udp without a checksum", frametest.UDP(c, vip6, []byte("q"), to, frametest.WithNoUDPChecksum())},
		{"other service's address", frametest.TCPSyn(c, rip6, to)},
	}
	for _, p := range punted {
		if ret, out := run(t, f.tcx, p.f); ret != tcxNextRet || string(out) != string(p.f) {
			t.Errorf("%s: tcx verdict %d (frame unchanged %v), want TCX_NEXT and the frame as it came",
				p.name, ret, string(out) == string(p.f))
		}
	}
	if n := f.NewFlows(func(NewFlow) {}); n != 0 {
		t.Errorf("punted frames reported %d new flows", n)
	}
	// None took a slot: the next SYN gets the cycle's head.
	if _, out := run(t, f.tcx, frametest.TCPSyn(client6N(10), vip6, to)); dst6(out) != rip6.Addr() {
		t.Errorf("after the punted frames the first pick is %v, want the cycle's head %v", dst6(out), rip6.Addr())
	}
	if err := f.SetServices(nil); err != nil {
		t.Fatal(err)
	}
	if ret := toSocket(t, f.tcx, frametest.TCPSyn(client6N(11), vip6, to)); ret == 0 {
		t.Error("a SYN to a service the fast path no longer has was taken")
	}
}

// TestNewFlowChecksL4IPv6 (l4sum.go, newflow6.go): the IPv6 path
// schedules a flow only when its L4 checksum over the IPv6 pseudo-header
// is right, or partial, for every length's tail.
func TestNewFlowChecksL4IPv6(t *testing.T) {
	for _, proto := range []uint8{frame.ProtoTCP, frame.ProtoUDP} {
		t.Run(map[uint8]string{frame.ProtoTCP: "tcp", frame.ProtoUDP: "udp"}[proto], func(t *testing.T) {
			f := openForTest(t)
			if err := f.SetServices([]Service{nat6Service(proto, 0, 1)}); err != nil {
				t.Fatal(err)
			}
			port := 0
			build := func(payload []byte) ([]byte, int) {
				port++
				if proto == frame.ProtoTCP {
					return frametest.TCP(client6N(port), vip6, frame.SYN, payload, frametest.WithDstMAC(hostMAC)), fr6TCPCsum
				}
				return frametest.UDP(client6N(port), vip6, payload, frametest.WithDstMAC(hostMAC)), fr6UDPCsum
			}
			good := 0
			check := func(what string, d []byte, want bool) {
				t.Helper()
				if got := toSocket(t, f.tcx, d) == 0; got != want {
					t.Errorf("%s: scheduled = %v, want %v", what, got, want)
				}
				if want {
					good++
				}
			}
			for n := range 141 { // every tail after every mix of the sum's steps, as for IPv4
				d, _ := build(make([]byte, n))
				check(fmt.Sprintf("%d-byte payload, right checksum", n), d, true)
				bad, sum := build(make([]byte, n))
				bad[sum] ^= 0x5a
				check(fmt.Sprintf("%d-byte payload, wrong checksum", n), bad, false)
				if n > 0 {
					bad, _ = build(make([]byte, n))
					bad[len(bad)-1] ^= 0x01
					check(fmt.Sprintf("%d-byte payload, last byte changed", n), bad, false)
					bad, _ = build(make([]byte, n))
					bad[len(bad)-1-n/2] ^= 0x10
					check(fmt.Sprintf("%d-byte payload, a middle byte changed", n), bad, false)
				}
				bad, _ = build(make([]byte, n))
				bad[fr6Addrs+3] ^= 0x01 // the client's address, in the pseudo-header only
				check(fmt.Sprintf("%d-byte payload, source address changed", n), bad, false)
			}
			// The pseudo-header's sum as the checksum of a frame that is
			// not CHECKSUM_PARTIAL, as in the IPv4 test.
			for n := range 4 {
				forged, sum := build(make([]byte, n+1))
				l4 := int(binary.BigEndian.Uint16(forged[18:]))
				ph := frame.IPv6(forged[14:]).PseudoHeaderSum(proto, l4)
				binary.BigEndian.PutUint16(forged[sum:], frame.Fold(ph))
				checkForged(t, f, fmt.Sprintf("%d-byte payload, the pseudo-header's sum as its checksum", n+1), forged)
				off, _ := build(make([]byte, n+1))
				binary.BigEndian.PutUint16(off[sum:], frame.Fold(ph)+1)
				check(fmt.Sprintf("%d-byte payload, the pseudo-header's sum plus 1", n+1), off, false)
			}
			long, _ := build(make([]byte, 1400))
			check("1,400-byte payload, right checksum", long, true)
			if n := f.NewFlows(func(NewFlow) {}); n != good {
				t.Errorf("NewFlows = %d, want the %d good frames' flows", n, good)
			}
		})
	}
}

// TestNewFlowBothFamilies: IPv4 and IPv6 services are held together and
// keep their own cycles; two IPv6 services of the same key (their VIPs
// fold alike) cannot both be, so the second stays in Go.
func TestNewFlowBothFamilies(t *testing.T) {
	f := openForTest(t)
	v := vip6.Addr().As16()
	var swapped [16]byte
	copy(swapped[:], v[4:8])
	copy(swapped[4:], v[0:4])
	copy(swapped[8:], v[8:])
	twin := nat6Service(frame.ProtoTCP, 1)
	twin.VIP = netip.AddrPortFrom(netip.AddrFrom16(swapped), vip6.Port())
	if err := f.SetServices([]Service{natService(1, 0), nat6Service(frame.ProtoTCP, 0, 1), twin}); err != nil {
		t.Fatal(err)
	}
	to := frametest.WithDstMAC(hostMAC)
	for i, w := range []netip.AddrPort{rip6, rip6b, rip6} {
		if ret, out := run(t, f.tcx, frametest.TCPSyn(client6N(i), vip6, to)); ret != tcActRedirect || dst6(out) != w.Addr() {
			t.Errorf("IPv6 SYN %d: verdict %d to %v, want redirect to %v", i, ret, dst6(out), w.Addr())
		}
		want4 := []netip.AddrPort{rip2, rip}[i%2]
		if ret, out := run(t, f.tcx, frametest.TCPSyn(clientN(i), vip, to)); ret != tcActRedirect || netip.AddrFrom4([4]byte(out[30:34])) != want4.Addr() {
			t.Errorf("IPv4 SYN %d: verdict %d, want redirect to %v", i, ret, want4.Addr())
		}
	}
	if ret := toSocket(t, f.tcx, frametest.TCPSyn(client6N(9), twin.VIP, to)); ret == 0 {
		t.Error("a SYN to the second service of the same key was scheduled")
	}
	var six, four int
	f.NewFlows(func(nf NewFlow) {
		if nf.Client.Addr().Is6() {
			six++
		} else {
			four++
		}
	})
	if six != 3 || four != 3 {
		t.Errorf("reported %d IPv6 and %d IPv4 flows, want 3 and 3", six, four)
	}
}
