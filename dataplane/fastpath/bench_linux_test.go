package fastpath

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/internal/testutil"
)

// BenchmarkTCX times the tcx program itself, in the kernel, per frame
// (BPF_PROG_TEST_RUN with repeat: one skb run b.N times, so the figure is
// the program's work with its map buckets in the cache, without the
// receive path around it). Re-run with
//
//	go test ./dataplane/fastpath -run '^$' -bench TCX -benchmem
//
// A test run reruns the program on the frame it rewrote, so the NAT cases
// install the flow both ways (the rewritten frame is the other direction's
// key) and leave the TTL alone; the direct-routing cases rewrite only the
// MACs. The punt case is a frame of no flow and no service: what every
// frame for the Go path pays before it is passed on.
func BenchmarkTCX(b *testing.B) {
	f := openForTest(b)
	mac := frametest.WithDstMAC(hostMAC)
	payload := make([]byte, 64)
	dr := func(src, dst netip.AddrPort, proto uint8, slot uint32) {
		if err := f.Install(Key{Src: src, Dst: dst, Proto: proto}, Action{DstMAC: rsMAC, SrcMAC: outMAC,
			Src: src, Dst: dst, In: loIndex, Out: outIndex, MTU: 1500, Slot: slot}); err != nil {
			b.Fatal(err)
		}
	}
	// nat installs src→dst rewritten to src→to, and src→to back to src→dst.
	nat := func(src, dst, to netip.AddrPort, proto uint8, slot uint32) {
		for _, d := range [][2]netip.AddrPort{{dst, to}, {to, dst}} {
			k := Key{Src: src, Dst: d[0], Proto: proto}
			if err := f.Install(k, Action{DstMAC: rsMAC, SrcMAC: outMAC, Src: src, Dst: d[1], In: loIndex,
				Out: outIndex, MTU: 1500, Slot: slot}); err != nil {
				b.Fatal(err)
			}
		}
	}
	drTCP := netip.AddrPortFrom(client.Addr(), client.Port()+1)
	dr(client, vip, frame.ProtoUDP, 1)
	dr(drTCP, vip, frame.ProtoTCP, 2)
	dr(client6, vip6, frame.ProtoUDP, 3)
	natSrc := netip.AddrPortFrom(client.Addr(), client.Port()+2)
	natSrc6 := netip.AddrPortFrom(client6.Addr(), client6.Port()+2)
	nat(natSrc, vip, rip, frame.ProtoUDP, 4)
	nat(natSrc, vip, rip, frame.ProtoTCP, 5)
	nat(natSrc6, vip6, rip6, frame.ProtoUDP, 6)
	stray := netip.AddrPortFrom(client.Addr(), client.Port()+3)
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"dr-udp", frametest.UDP(client, vip, payload, mac), tcActRedirect},
		{"dr-tcp-ack", frametest.TCP(drTCP, vip, frame.ACK, payload, mac), tcActRedirect},
		{"dr6-udp", frametest.UDP(client6, vip6, payload, mac), tcActRedirect},
		{"nat-udp", frametest.UDP(natSrc, vip, payload, mac), tcActRedirect},
		{"nat-tcp-ack", frametest.TCP(natSrc, vip, frame.ACK, payload, mac), tcActRedirect},
		{"nat6-udp", frametest.UDP(natSrc6, vip6, payload, mac), tcActRedirect},
		{"punt-udp", frametest.UDP(stray, vip, payload, mac), tcxNextRet},
	} {
		b.Run(c.name, func(b *testing.B) {
			ret, _, err := f.tcx.Benchmark(c.frame, b.N, b.ResetTimer)
			if err != nil {
				b.Fatal(err)
			}
			if ret != c.want {
				b.Fatalf("verdict %#x, want %#x", ret, c.want)
			}
		})
	}
}

// BenchmarkTCXNewFlow times the tcx program scheduling a new flow in the
// kernel: a NAT service's TCP SYN and UDP first datagram (64 bytes of
// payload), each run once on its own frame (a repeated run would find the
// flow it made), so every figure includes one test-run system call; the
// "established" case is that call on a frame of a flow the map holds, the
// baseline to subtract. The flows' reports are drained outside the timer.
//
//	go test ./dataplane/fastpath -run '^$' -bench TCXNewFlow -benchmem
func BenchmarkTCXNewFlow(b *testing.B) {
	testutil.RequireRoot(b)
	f, err := Open(Config{MaxFlows: 1 << 14, Slots: 16})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { f.Close() })
	tcp, udp := natService(0, 1), natService(1, 0)
	udp.Proto = frame.ProtoUDP
	if err := f.SetServices([]Service{tcp, udp}); err != nil {
		b.Fatal(err)
	}
	mac := []frametest.Option{frametest.WithDstMAC(hostMAC), frametest.WithSrcMAC(clientMAC)}
	const pool = 4096 // distinct clients: far more than the map keeps of them
	src := func(i int) netip.AddrPort {
		a := client.Addr().As4()
		a[2] = byte(i >> 8)
		return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(20000+i&0xff))
	}
	frames := func(mk func(netip.AddrPort) []byte) [][]byte {
		fs := make([][]byte, pool)
		for i := range fs {
			fs[i] = mk(src(i))
		}
		return fs
	}
	payload := make([]byte, 64)
	est := frametest.UDP(src(0), vip, payload, mac...)
	for _, c := range []struct {
		name   string
		frames [][]byte
	}{
		{"established", [][]byte{est}},
		{"tcp-syn", frames(func(s netip.AddrPort) []byte { return frametest.TCPSyn(s, vip, mac...) })},
		{"udp-first-64B", frames(func(s netip.AddrPort) []byte { return frametest.UDP(s, vip, payload, mac...) })},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := f.tcx.Run(&ebpf.RunOptions{Data: est}); err != nil { // the baseline's flow
				b.Fatal(err)
			}
			f.NewFlows(func(NewFlow) {})
			opts := ebpf.RunOptions{}
			b.ResetTimer()
			for i := range b.N {
				if c.name != "established" && i%pool == 0 && i > 0 {
					b.StopTimer()
					f.NewFlows(func(NewFlow) {})
					if err := f.Flush(); err != nil {
						b.Fatal(err)
					}
					if err := f.SetServices([]Service{tcp, udp}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				opts.Data = c.frames[i%len(c.frames)]
				ret, err := f.tcx.Run(&opts)
				if err != nil {
					b.Fatal(err)
				}
				if ret != tcActRedirect {
					b.Fatalf("run %d: verdict %#x, want redirect", i, ret)
				}
			}
		})
	}
}
