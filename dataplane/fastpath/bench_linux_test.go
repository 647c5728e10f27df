package fastpath

import (
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
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
