package fastpath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"lvs/frame"
	"lvs/internal/frametest"
)

// The IPv6 branch of both programs, run in the kernel as the IPv4 tests
// run theirs, and checked against gopacket.

var (
	client6 = netip.MustParseAddrPort("[2001:db8:1::7]:40000")
	vip6    = netip.MustParseAddrPort("[2001:db8::10]:80")
	rip6    = netip.MustParseAddrPort("[fd00::2]:8080")
)

// bpfFTestSkbChecksumComplete is BPF_F_TEST_SKB_CHECKSUM_COMPLETE: the
// test run gives the skb CHECKSUM_COMPLETE with the frame's sum, and
// fails the run (EBADMSG) when skb->csum no longer matches the frame the
// program leaves.
const bpfFTestSkbChecksumComplete = 1 << 2

// runComplete is run with the skb in CHECKSUM_COMPLETE; false when the
// kernel cannot test-run that.
func runComplete(t *testing.T, p *ebpf.Program, f []byte) (uint32, []byte, bool) {
	t.Helper()
	out := make([]byte, len(f)+256)
	ctx := make([]byte, 192)
	ctx[skbIfindex] = loIndex
	ret, err := p.Run(&ebpf.RunOptions{Data: f, DataOut: out, Context: ctx, Flags: bpfFTestSkbChecksumComplete})
	switch {
	case errors.Is(err, syscall.EINVAL):
		return 0, nil, false
	case err != nil:
		t.Fatalf("test run with CHECKSUM_COMPLETE: %v", err)
	}
	return ret, out[:len(f)], true
}

func nat6Action(k Key) Action {
	return Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: k.Src, Dst: rip6, In: loIndex, Out: outIndex,
		DecTTL: true, MTU: 1500, Slot: 4}
}

func reply6Action() Action {
	return Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: vip6, Dst: client6, In: loIndex, Out: outIndex,
		DecTTL: true, MTU: 1500, Slot: 5}
}

// NAT66 both ways: addresses, ports, hop limit, MACs and a valid
// checksum, with the frame kept from the packet sockets.
func TestTCXRewritesNAT66(t *testing.T) {
	f := openForTest(t)
	to := frametest.WithDstMAC(hostMAC)
	tests := []struct {
		name      string
		k         Key
		a         Action
		frame     []byte
		src, dst  netip.AddrPort
		slot      uint32
		synAckTCP bool
	}{
		{name: "tcp to the real server", k: Key{Src: client6, Dst: vip6, Proto: frame.ProtoTCP},
			frame: frametest.TCP(client6, vip6, frame.ACK|frame.PSH, []byte("GET / HTTP/1.0\r\n\r\n"), to),
			src:   client6, dst: rip6},
		{name: "udp to the real server", k: Key{Src: client6, Dst: vip6, Proto: frame.ProtoUDP},
			frame: frametest.UDP(client6, vip6, []byte("hello"), to),
			src:   client6, dst: rip6},
		{name: "tcp reply", k: Key{Src: rip6, Dst: client6, Proto: frame.ProtoTCP}, a: reply6Action(),
			frame: frametest.TCP(rip6, client6, frame.ACK, make([]byte, 1000), to, frametest.WithTTL(9)),
			src:   vip6, dst: client6},
		{name: "udp reply", k: Key{Src: rip6, Dst: client6, Proto: frame.ProtoUDP}, a: reply6Action(),
			frame: frametest.UDP(rip6, client6, []byte("olleh"), to, frametest.WithTTL(9)),
			src:   vip6, dst: client6},
		{name: "syn-ack to an entry that takes it", k: Key{Src: rip6, Dst: client6, Proto: frame.ProtoTCP}, a: reply6Action(),
			frame: frametest.TCP(rip6, client6, frame.SYN|frame.ACK, nil, to, frametest.WithTTL(9)),
			src:   vip6, dst: client6, synAckTCP: true},
	}
	var packets [6]uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.a
			if a == (Action{}) {
				a = nat6Action(tt.k)
			}
			a.SynAck = tt.synAckTCP
			if err := f.Install(tt.k, a); err != nil {
				t.Fatal(err)
			}
			hop := frametest.Decode(tt.frame).IP6.HopLimit
			ret, out := run(t, f.tcx, slices.Clone(tt.frame))
			if ret != tcActRedirect {
				t.Fatalf("verdict = %d, want TC_ACT_REDIRECT (%d)", ret, tcActRedirect)
			}
			packets[a.Slot]++
			frametest.Check(t, out, frametest.SrcAddr(tt.src.Addr()), frametest.SrcPort(tt.src.Port()),
				frametest.DstAddr(tt.dst.Addr()), frametest.DstPort(tt.dst.Port()), frametest.TTL(hop-1),
				frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
			// With CHECKSUM_COMPLETE the kernel checks skb->csum against
			// the frame after the program: the address difference the L4
			// update took from it and the hop limit's must be put back.
			ret, out2, ok := runComplete(t, f.tcx, slices.Clone(tt.frame))
			if !ok {
				t.Log("this kernel cannot test-run CHECKSUM_COMPLETE skbs; skb->csum not checked")
				return
			}
			packets[a.Slot]++
			if ret != tcActRedirect || string(out2) != string(out) {
				t.Errorf("CHECKSUM_COMPLETE: verdict %d, same frame %v; want redirect and the same frame", ret, string(out2) == string(out))
			}
		})
	}
	for _, slot := range []uint32{4, 5} {
		if p, b, err := f.Counters(slot); err != nil || p != packets[slot] || b == 0 {
			t.Errorf("Counters(%d) = %d, %d, %v; want %d packets and some bytes", slot, p, b, err, packets[slot])
		}
	}
	if idle, ok := f.Idle(Key{Src: client6, Dst: vip6, Proto: frame.ProtoUDP}); !ok || idle > time.Minute {
		t.Errorf("Idle = %v, %v; want a moment ago", idle, ok)
	}
	if _, ok := f.Idle(Key{Src: rip6, Dst: vip6, Proto: frame.ProtoUDP}); ok {
		t.Errorf("Idle of a flow never installed reported true")
	}
	// The IPv4 flow of the same ports is another flow.
	if _, ok := f.Idle(Key{Src: client, Dst: vip, Proto: frame.ProtoUDP}); ok {
		t.Errorf("Idle of an IPv4 flow reported an IPv6 one's")
	}
}

// A GSO super-frame larger than the MTU is forwarded (the egress segments
// it); one that is not GSO is punted (TestPunts6).
func TestTCXGSO6(t *testing.T) {
	f := openForTest(t)
	k := Key{Src: client6, Dst: vip6, Proto: frame.ProtoTCP}
	if err := f.Install(k, nat6Action(k)); err != nil {
		t.Fatal(err)
	}
	big := frametest.TCP(client6, vip6, frame.ACK, make([]byte, 3000), frametest.WithDstMAC(hostMAC))
	out := make([]byte, len(big)+256)
	ctx := make([]byte, 192)
	ctx[skbIfindex] = loIndex
	binary.LittleEndian.PutUint32(ctx[skbGSOSize:], 1440)
	ret, err := f.tcx.Run(&ebpf.RunOptions{Data: big, DataOut: out, Context: ctx})
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	if ret != tcActRedirect {
		t.Fatalf("GSO super-frame: verdict %d, want redirect", ret)
	}
	frametest.Check(t, out[:len(big)], frametest.DstAddr(rip6.Addr()), frametest.DstPort(rip6.Port()), frametest.TTL(63), frametest.SumsOK())
}

// Every IPv6 frame the Go path must see is punted by tcx, untouched.
func TestPunts6(t *testing.T) {
	f := openForTest(t)
	for _, p := range []uint8{frame.ProtoTCP, frame.ProtoUDP} {
		k := Key{Src: client6, Dst: vip6, Proto: p}
		if err := f.Install(k, nat6Action(k)); err != nil {
			t.Fatal(err)
		}
	}
	to := frametest.WithDstMAC(hostMAC)
	frag := frametest.Fragments6(frametest.UDP(client6, vip6, make([]byte, 1200), to), 600, 7)
	udp := Key{Src: client6, Dst: vip6, Proto: frame.ProtoUDP}
	tests := []struct {
		name  string
		frame []byte
		setup func()
	}{
		{"syn", frametest.TCPSyn(client6, vip6, to), nil},
		{"syn-fin", frametest.TCP(client6, vip6, frame.SYN|frame.FIN, nil, to), nil},
		{"rst of no flow", frametest.TCP(netip.MustParseAddrPort("[2001:db8:1::8]:1"), vip6, frame.RST, nil, to), nil},
		{"unknown flow", frametest.UDP(netip.MustParseAddrPort("[2001:db8:1::8]:1"), vip6, nil, to), nil},
		{"hop limit 1", frametest.UDP(client6, vip6, nil, to, frametest.WithTTL(1)), nil},
		{"hop limit 0", frametest.UDP(client6, vip6, nil, to, frametest.WithTTL(0)), nil},
		{"hop-by-hop options", frametest.UDP(client6, vip6, nil, to, frametest.WithExt(frame.ProtoHopOpts)), nil},
		{"destination options", frametest.TCP(client6, vip6, frame.ACK, nil, to, frametest.WithExt(frame.ProtoDstOpts)), nil},
		{"routing header", frametest.UDP(client6, vip6, nil, to, frametest.WithExt(frame.ProtoRouting)), nil},
		{"first fragment", frag[0], nil},
		{"later fragment", frag[1], nil},
		{"icmpv6 echo", frametest.ICMPv6Echo(client6.Addr(), vip6.Addr(), 1, 1, nil, to), nil},
		{"neighbour solicitation", frametest.NeighborSolicit(rsMAC, client6.Addr(), vip6.Addr(), to), nil},
		{"vlan tag in frame", frametest.UDP(client6, vip6, nil, to, frametest.WithVLAN(5)), nil},
		{"other host", frametest.UDP(client6, vip6, nil), nil},
		{"over the mtu", frametest.UDP(client6, vip6, make([]byte, 1500), to), nil},
		{"an IPv4 frame of the same ports", frametest.UDP(client, vip, nil, to), nil},
		{"withdrawn", frametest.UDP(client6, vip6, nil, to), func() { f.Withdraw(udp) }},
		{"other interface", frametest.UDP(client6, vip6, nil, to), func() {
			a := nat6Action(udp)
			a.In = 7
			f.Install(udp, a)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			if ret, out := run(t, f.tcx, tt.frame); ret != tcxNextRet || string(out) != string(tt.frame) {
				t.Errorf("tcx verdict = %#x, changed %v; want TCX_NEXT and the frame untouched", ret, string(out) != string(tt.frame))
			}
		})
	}
}

// An IPv6 flow's FIN and RST are forwarded and reported with 16-byte
// addresses, as close.go says for both families; an RST's direction
// leaves the map as it goes through.
func TestCloseReported6(t *testing.T) {
	f := openForTest(t)
	fwd := Key{Src: client6, Dst: vip6, Proto: frame.ProtoTCP}
	rev := Key{Src: rip6, Dst: client6, Proto: frame.ProtoTCP}
	for k, a := range map[Key]Action{fwd: nat6Action(fwd), rev: reply6Action()} {
		if err := f.Install(k, a); err != nil {
			t.Fatal(err)
		}
	}
	to := frametest.WithDstMAC(hostMAC)
	reports := func() (got []NewFlow) {
		f.NewFlows(func(nf NewFlow) { got = append(got, nf) })
		return got
	}
	if ret, _ := run(t, f.tcx, frametest.TCP(client6, vip6, frame.ACK, []byte("GET"), to)); ret != tcActRedirect {
		t.Fatalf("data: tcx verdict %#x, want redirect", ret)
	}
	for _, x := range []struct {
		name     string
		src, dst netip.AddrPort
		flags    frame.TCPFlags
	}{
		{"client's FIN", client6, vip6, frame.FIN | frame.ACK},
		{"real server's RST", rip6, client6, frame.RST},
	} {
		seg := frametest.TCP(x.src, x.dst, x.flags, nil, to)
		ret, out := run(t, f.tcx, seg)
		if ret != tcActRedirect {
			t.Fatalf("%s: tcx verdict %#x, want redirect", x.name, ret)
		}
		frametest.Check(t, out, frametest.Flags(x.flags), frametest.SumsOK())
		want := NewFlow{Client: x.src, Virtual: x.dst, Proto: frame.ProtoTCP, In: loIndex, Closed: true, TCPFlags: uint8(x.flags)}
		if got := reports(); len(got) != 1 || got[0] != want {
			t.Errorf("%s reported %+v, want %+v", x.name, got, want)
		}
	}
	// The RST deleted its direction's entry: the rest of it is the Go
	// path's, a retransmitted RST too; the client's direction stays.
	for what, seg := range map[string][]byte{
		"a segment": frametest.TCP(rip6, client6, frame.ACK, nil, to),
		"an RST":    frametest.TCP(rip6, client6, frame.RST, nil, to),
	} {
		if ret, _ := run(t, f.tcx, seg); ret != tcxNextRet {
			t.Errorf("%s after the RST: tcx verdict %#x, want it punted", what, ret)
		}
	}
	if _, ok := f.Idle(rev); ok {
		t.Error("the RST's direction is still in the map")
	}
	if ret, _ := run(t, f.tcx, frametest.TCP(client6, vip6, frame.ACK, nil, to)); ret != tcActRedirect {
		t.Errorf("the client's ACK after the RST: tcx verdict %#x, want redirect", ret)
	}
	if got := reports(); len(got) != 0 {
		t.Errorf("after the RST: %d more records, want none", len(got))
	}
}

// Flush empties the IPv6 map too; the two maps hold their own flows.
func TestFlush6(t *testing.T) {
	f := openForTest(t)
	k6 := Key{Src: client6, Dst: vip6, Proto: frame.ProtoUDP}
	k4 := Key{Src: client, Dst: vip, Proto: frame.ProtoUDP}
	for _, k := range []Key{k6, k4} {
		if err := f.Install(k, natAction(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Withdraw(k4); err != nil {
		t.Fatal(err)
	}
	if ret, _ := run(t, f.tcx, frametest.UDP(client6, vip6, nil, frametest.WithDstMAC(hostMAC))); ret != tcActRedirect {
		t.Fatalf("withdrawing the IPv4 flow took the IPv6 one (verdict %#x)", ret)
	}
	if err := f.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if ret, _ := run(t, f.tcx, frametest.UDP(client6, vip6, nil, frametest.WithDstMAC(hostMAC))); ret != tcxNextRet {
		t.Errorf("after Flush the fast path still forwards IPv6 (verdict %#x)", ret)
	}
}

func TestInstallNoAllocs6(t *testing.T) {
	f := openForTest(t)
	k := Key{Src: client6, Dst: vip6, Proto: frame.ProtoTCP}
	a := nat6Action(k)
	if n := testing.AllocsPerRun(200, func() {
		f.Install(k, a)
		f.Idle(k)
		f.Withdraw(k)
	}); n != 0 {
		t.Errorf("Install+Idle+Withdraw of an IPv6 flow allocate %v times, want 0", n)
	}
}

// The IPv4 branch keeps skb->csum of a CHECKSUM_COMPLETE frame right
// without help: the IPv4 header checksum's change offsets the addresses'.
func TestTCXChecksumComplete4(t *testing.T) {
	f := openForTest(t)
	to := frametest.WithDstMAC(hostMAC)
	for _, tt := range []struct {
		k  Key
		fr []byte
	}{
		{Key{Src: client, Dst: vip, Proto: frame.ProtoTCP}, frametest.TCP(client, vip, frame.ACK, []byte("GET"), to)},
		{Key{Src: client, Dst: vip, Proto: frame.ProtoUDP}, frametest.UDP(client, vip, []byte("hello"), to)},
	} {
		if err := f.Install(tt.k, natAction(tt.k)); err != nil {
			t.Fatal(err)
		}
		ret, out, ok := runComplete(t, f.tcx, slices.Clone(tt.fr))
		if !ok {
			t.Skip("this kernel cannot test-run CHECKSUM_COMPLETE skbs")
		}
		if ret != tcActRedirect {
			t.Fatalf("%v: verdict %d, want redirect", tt.k, ret)
		}
		frametest.Check(t, out, frametest.DstAddr(rip.Addr()), frametest.SumsOK())
	}
}
