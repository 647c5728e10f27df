package fastpath

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/internal/testutil"
)

// The programs run in the kernel here through BPF_PROG_TEST_RUN: the
// verifier must accept them, and their rewrite is checked against gopacket.
// A test-run skb arrives on ifindex 1 (lo, whose MAC is all zeros: frames
// to 00:00:00:00:00:00 are PACKET_HOST).

var (
	client  = netip.MustParseAddrPort("192.0.2.7:40000")
	vip     = netip.MustParseAddrPort("198.51.100.10:80")
	rip     = netip.MustParseAddrPort("10.0.0.2:8080")
	hostMAC = frame.MAC{} // lo's address
	outMAC  = frame.MAC{2, 0, 0, 0, 0, 0xaa}
	rsMAC   = frame.MAC{2, 0, 0, 0, 0, 0xbb}
)

const (
	tcxNextRet = 0xffffffff // tcxNext as the test run reports it
	loIndex    = 1
	outIndex   = 42
)

func openForTest(t testing.TB) *FastPath {
	t.Helper()
	testutil.RequireRoot(t)
	f, err := Open(Config{MaxFlows: 64, Slots: 16})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func natAction(k Key) Action {
	return Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: k.Src, Dst: rip, In: loIndex, Out: outIndex,
		DecTTL: true, MTU: 1500, Slot: 4}
}

// run runs program p on frame f as an skb from lo and returns its verdict
// and the frame after it.
func run(t *testing.T, p *ebpf.Program, f []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(f)+256)
	ctx := make([]byte, 192) // struct __sk_buff, zero but ifindex
	ctx[skbIfindex] = loIndex
	ret, err := p.Run(&ebpf.RunOptions{Data: f, DataOut: out, Context: ctx})
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	return ret, out[:len(f)]
}

// toSocket runs the tcx program p on f and returns 0 when the fast path
// took the frame (forwarded, or dropped half rewritten), 1 when it passed
// it on to lvsd's packet sockets.
func toSocket(t *testing.T, p *ebpf.Program, f []byte) uint32 {
	t.Helper()
	if ret, _ := run(t, p, f); ret == tcxNextRet {
		return 1
	}
	return 0
}

func TestTCXRewritesNAT(t *testing.T) {
	f := openForTest(t)
	tests := []struct {
		name  string
		proto uint8
		frame func() []byte
	}{
		{"tcp ack", frame.ProtoTCP, func() []byte {
			return frametest.TCP(client, vip, frame.ACK|frame.PSH, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithDstMAC(hostMAC))
		}},
		{"udp", frame.ProtoUDP, func() []byte {
			return frametest.UDP(client, vip, []byte("hello"), frametest.WithDstMAC(hostMAC))
		}},
		{"udp without checksum", frame.ProtoUDP, func() []byte {
			return frametest.UDP(client, vip, []byte("hello"), frametest.WithDstMAC(hostMAC), frametest.WithNoUDPChecksum())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := Key{Src: client, Dst: vip, Proto: tt.proto}
			if err := f.Install(k, natAction(k)); err != nil {
				t.Fatal(err)
			}
			ret, out := run(t, f.tcx, tt.frame())
			if ret != tcActRedirect {
				t.Fatalf("verdict = %d, want TC_ACT_REDIRECT (%d)", ret, tcActRedirect)
			}
			frametest.Check(t, out, frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port()),
				frametest.SrcAddr(client.Addr()), frametest.SrcPort(client.Port()), frametest.TTL(63),
				frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK())
		})
	}
	if p, b, err := f.Counters(4); err != nil || p != uint64(len(tests)) || b == 0 {
		t.Errorf("Counters(4) = %d, %d, %v; want %d packets and some bytes", p, b, err, len(tests))
	}
	all := make([][2]uint64, 6)
	all[0] = [2]uint64{9, 9} // overwritten with the slot's zeros
	if err := f.ReadCounters(all); err != nil || all[4][0] != uint64(len(tests)) || all[4][1] == 0 ||
		all[0] != [2]uint64{} || all[5] != [2]uint64{} {
		t.Errorf("ReadCounters = %v, %v; want %d packets and some bytes in slot 4 only", all, err, len(tests))
	}
	if idle, ok := f.Idle(Key{Src: client, Dst: vip, Proto: frame.ProtoUDP}); !ok || idle > time.Minute {
		t.Errorf("Idle = %v, %v; want a moment ago", idle, ok)
	}
	if _, ok := f.Idle(Key{Src: rip, Dst: vip, Proto: frame.ProtoUDP}); ok {
		t.Errorf("Idle of a flow never installed reported true")
	}
}

func TestReplyRewrite(t *testing.T) {
	f := openForTest(t)
	k := Key{Src: rip, Dst: client, Proto: frame.ProtoTCP}
	a := Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: vip, Dst: client, In: loIndex, Out: outIndex, DecTTL: true, MTU: 1500, Slot: 5}
	if err := f.Install(k, a); err != nil {
		t.Fatal(err)
	}
	ret, out := run(t, f.tcx, frametest.TCP(rip, client, frame.ACK, make([]byte, 1000), frametest.WithDstMAC(hostMAC), frametest.WithTTL(9)))
	if ret != tcActRedirect {
		t.Fatalf("verdict = %d, want redirect", ret)
	}
	frametest.Check(t, out, frametest.SrcAddr(vip.Addr()), frametest.SrcPort(vip.Port()), frametest.DstAddr(client.Addr()),
		frametest.DstPort(client.Port()), frametest.TTL(8), frametest.SumsOK())
}

// Every frame the Go path must see is punted by tcx, untouched: it goes on
// to lvsd's packet sockets.
func TestPunts(t *testing.T) {
	f := openForTest(t)
	for _, p := range []uint8{frame.ProtoTCP, frame.ProtoUDP} {
		k := Key{Src: client, Dst: vip, Proto: p}
		if err := f.Install(k, natAction(k)); err != nil {
			t.Fatal(err)
		}
	}
	small := natAction(Key{Src: client, Dst: vip, Proto: frame.ProtoUDP})
	tests := []struct {
		name  string
		frame []byte
		setup func()
	}{
		{"syn", frametest.TCPSyn(client, vip, frametest.WithDstMAC(hostMAC)), nil},
		{"syn-fin", frametest.TCP(client, vip, frame.SYN|frame.FIN, nil, frametest.WithDstMAC(hostMAC)), nil},
		{"syn-rst", frametest.TCP(client, vip, frame.SYN|frame.RST, nil, frametest.WithDstMAC(hostMAC)), nil},
		{"rst of no flow", frametest.TCP(netip.MustParseAddrPort("192.0.2.8:1"), vip, frame.RST, nil, frametest.WithDstMAC(hostMAC)), nil},
		{"unknown flow", frametest.UDP(netip.MustParseAddrPort("192.0.2.8:1"), vip, nil, frametest.WithDstMAC(hostMAC)), nil},
		{"ttl 1", frametest.UDP(client, vip, nil, frametest.WithDstMAC(hostMAC), frametest.WithTTL(1)), nil},
		{"ip options", frametest.UDP(client, vip, nil, frametest.WithDstMAC(hostMAC), frametest.WithIPOptions(1)), nil},
		{"vlan tag in frame", frametest.UDP(client, vip, nil, frametest.WithDstMAC(hostMAC), frametest.WithVLAN(5)), nil},
		{"other host", frametest.UDP(client, vip, nil), nil},
		{"icmp", frametest.ICMPEcho(client.Addr(), vip.Addr(), 1, 1, nil, frametest.WithDstMAC(hostMAC)), nil},
		{"over the mtu", frametest.UDP(client, vip, make([]byte, 1600), frametest.WithDstMAC(hostMAC)), nil},
		{"withdrawn", frametest.UDP(client, vip, nil, frametest.WithDstMAC(hostMAC)), func() {
			f.Withdraw(Key{Src: client, Dst: vip, Proto: frame.ProtoUDP})
		}},
		{"other interface", frametest.UDP(client, vip, nil, frametest.WithDstMAC(hostMAC)), func() {
			a := small
			a.In = 7
			f.Install(Key{Src: client, Dst: vip, Proto: frame.ProtoUDP}, a)
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

func TestFlush(t *testing.T) {
	f := openForTest(t)
	for port := range uint16(40) {
		k := Key{Src: netip.AddrPortFrom(client.Addr(), 1000+port), Dst: vip, Proto: frame.ProtoUDP}
		if err := f.Install(k, natAction(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	k := Key{Src: netip.AddrPortFrom(client.Addr(), 1000), Dst: vip, Proto: frame.ProtoUDP}
	if ret, _ := run(t, f.tcx, frametest.UDP(k.Src, vip, nil, frametest.WithDstMAC(hostMAC))); ret != tcxNextRet {
		t.Errorf("after Flush the fast path still forwards (verdict %#x)", ret)
	}
}

// An entry installed to take a SYN-ACK forwards exactly that, besides the
// established segments and a FIN or RST (reported: close.go); every other
// SYN still goes to Go.
func TestSynAckEntry(t *testing.T) {
	f := openForTest(t)
	k := Key{Src: rip, Dst: client, Proto: frame.ProtoTCP}
	a := Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: vip, Dst: client, In: loIndex, Out: outIndex, DecTTL: true, MTU: 1500, SynAck: true}
	if err := f.Install(k, a); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		flags frame.TCPFlags
		fwd   bool
	}{
		{"syn-ack", frame.SYN | frame.ACK, true},
		{"ack", frame.ACK, true},
		{"syn", frame.SYN, false},
		{"syn-fin-ack", frame.SYN | frame.FIN | frame.ACK, false},
		{"syn-rst-ack", frame.SYN | frame.RST | frame.ACK, false},
		{"fin-ack", frame.FIN | frame.ACK, true},
		{"rst-ack", frame.RST | frame.ACK, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f1 := frametest.TCP(rip, client, tt.flags, nil, frametest.WithDstMAC(hostMAC))
			ret, out := run(t, f.tcx, f1)
			if (ret == tcActRedirect) != tt.fwd {
				t.Fatalf("tcx verdict %#x, want forwarded %v", ret, tt.fwd)
			}
			if tt.fwd {
				frametest.Check(t, out, frametest.SrcAddr(vip.Addr()), frametest.Flags(tt.flags), frametest.SumsOK())
			}
		})
	}
}

// Installing and withdrawing a flow happen on a worker's packet path (at
// the end of a batch): they must not allocate.
func TestInstallNoAllocs(t *testing.T) {
	f := openForTest(t)
	k := Key{Src: client, Dst: vip, Proto: frame.ProtoUDP}
	a := natAction(k)
	if n := testing.AllocsPerRun(200, func() {
		f.Install(k, a)
		f.Withdraw(k)
	}); n != 0 {
		t.Errorf("Install+Withdraw allocate %v times, want 0", n)
	}
}

// TestTCXDirectRouting: a direct-routing entry changes the MACs and
// nothing else (flagMACOnly skips the address and checksum helpers), in
// both families.
func TestTCXDirectRouting(t *testing.T) {
	f := openForTest(t)
	for i, tt := range []struct {
		name     string
		src, dst netip.AddrPort
	}{{"ipv4", client, vip}, {"ipv6", client6, vip6}} {
		t.Run(tt.name, func(t *testing.T) {
			slot := uint32(6 + i)
			k := Key{Src: tt.src, Dst: tt.dst, Proto: frame.ProtoTCP}
			if err := f.Install(k, Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: tt.src, Dst: tt.dst, In: loIndex, Out: outIndex,
				MTU: 1500, Slot: slot}); err != nil {
				t.Fatal(err)
			}
			in := frametest.TCP(tt.src, tt.dst, frame.ACK|frame.PSH, []byte("GET / HTTP/1.0\r\n\r\n"), frametest.WithDstMAC(hostMAC))
			ret, out := run(t, f.tcx, in)
			if ret != tcActRedirect {
				t.Fatalf("verdict = %d, want redirect", ret)
			}
			frametest.Check(t, out, frametest.DstMAC(rsMAC), frametest.SrcMAC(outMAC), frametest.SumsOK(), frametest.TTL(64))
			if string(out[12:]) != string(in[12:]) {
				t.Error("direct routing changed the frame beyond its MAC addresses")
			}
			if p, _, err := f.Counters(slot); err != nil || p != 1 {
				t.Errorf("Counters(%d) = %d, %v; want 1 packet", slot, p, err)
			}
		})
	}
}

// TestWithdrawAll: a batch of keys, IPv4 and IPv6, with absent ones among
// them, withdraws exactly the present ones and leaves the rest.
func TestWithdrawAll(t *testing.T) {
	f := openForTest(t)
	var keep, gone []Key
	for i := range 8 {
		k := Key{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}), 1000), Dst: vip, Proto: frame.ProtoTCP}
		k6 := Key{Src: netip.AddrPortFrom(client6.Addr(), uint16(2000+i)), Dst: vip6, Proto: frame.ProtoTCP}
		if err := f.Install(k, natAction(k)); err != nil {
			t.Fatal(err)
		}
		if err := f.Install(k6, nat6Action(k6)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			keep = append(keep, k, k6)
		} else {
			gone = append(gone, k, k6)
		}
	}
	absent := Key{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 1, 1}), 1), Dst: vip, Proto: frame.ProtoTCP}
	absent6 := Key{Src: netip.AddrPortFrom(client6.Addr(), 9), Dst: vip6, Proto: frame.ProtoTCP}
	batch := append([]Key{absent, absent6}, gone[:4]...)
	batch = append(batch, absent, absent6)
	batch = append(batch, gone[4:]...)
	if err := f.WithdrawAll(batch); err != nil {
		t.Fatalf("WithdrawAll: %v", err)
	}
	for _, k := range gone {
		if _, ok := f.lookup(k); ok {
			t.Errorf("%v still installed", k.Src)
		}
	}
	for _, k := range keep {
		if _, ok := f.lookup(k); !ok {
			t.Errorf("%v withdrawn, was not in the batch", k.Src)
		}
	}
	if err := f.WithdrawAll(nil); err != nil {
		t.Errorf("WithdrawAll(nil): %v", err)
	}
}

// TestWithdrawFailuresCounted: a withdrawal the kernel refuses (here: the
// map's descriptor is gone) is an error and counts, one per flow left, in
// Withdraw and in WithdrawAll; an absent flow is neither.
func TestWithdrawFailuresCounted(t *testing.T) {
	f := openForTest(t)
	k := Key{Src: client, Dst: vip, Proto: frame.ProtoTCP}
	if err := f.Withdraw(k); err != nil || f.WithdrawFailures() != 0 {
		t.Fatalf("withdrawing an absent flow: %v, %d failures", err, f.WithdrawFailures())
	}
	if err := f.WithdrawAll([]Key{k, k}); err != nil || f.WithdrawFailures() != 0 {
		t.Fatalf("withdrawing absent flows: %v, %d failures", err, f.WithdrawFailures())
	}
	f.flows.Close()
	if err := f.Withdraw(k); err == nil {
		t.Fatal("Withdraw on a closed map: no error")
	}
	k2 := Key{Src: clientN(2), Dst: vip, Proto: frame.ProtoTCP}
	if err := f.WithdrawAll([]Key{k, k2}); err == nil {
		t.Fatal("WithdrawAll on a closed map: no error")
	}
	if n := f.WithdrawFailures(); n != 3 {
		t.Errorf("WithdrawFailures = %d, want 3 (1 + 2)", n)
	}
}
