package frame_test

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
	"lvs/internal/frametest"
)

func benchDecode(b *testing.B, f []byte) {
	var p frame.Parsed
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		p.Decode(f)
	}
	if p.Kind == frame.KindOther {
		b.Fatal("KindOther")
	}
}

func BenchmarkDecodeTCP(b *testing.B) {
	benchDecode(b, frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400)))
}

func BenchmarkDecodeTCP6(b *testing.B) {
	benchDecode(b, frametest.TCP(cip6, vip6, frame.ACK, make([]byte, 1400)))
}

// BenchmarkDecodeTCP6Ext decodes TCP after a hop-by-hop and a destination
// options header: the cost of the extension-header walk.
func BenchmarkDecodeTCP6Ext(b *testing.B) {
	benchDecode(b, frametest.TCP(cip6, vip6, frame.ACK, make([]byte, 1400), frametest.WithExt(frame.ProtoHopOpts, frame.ProtoDstOpts)))
}

// BenchmarkRewrite6 is BenchmarkRewrite for IPv6 (NAT66).
func BenchmarkRewrite6(b *testing.B) {
	f := frametest.TCP(cip6, vip6, frame.ACK, make([]byte, 1400))
	var p frame.Parsed
	p.Decode(f)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i&1 == 0 {
			p.SetDst(f, rip6)
		} else {
			p.SetDst(f, vip6)
		}
		i++
	}
}

func BenchmarkDecodeUDP(b *testing.B) { benchDecode(b, frametest.UDP(cip, vip, make([]byte, 64))) }

func BenchmarkDecodeARP(b *testing.B) {
	benchDecode(b, frametest.ARPRequest(mac1, cip.Addr(), vip.Addr()))
}

func BenchmarkDecodeICMPError(b *testing.B) {
	benchDecode(b, frametest.ICMPError(3, 4, rip.Addr(), frametest.TCP(vip, cip, frame.ACK, nil), frametest.WithMTU(1400)))
}

// BenchmarkRewrite is the NAT forward rewrite of an already decoded frame:
// destination address and port with incremental IP and TCP checksums.
func BenchmarkRewrite(b *testing.B) {
	f := frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400))
	var p frame.Parsed
	p.Decode(f)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i&1 == 0 {
			p.SetDst(f, rip)
		} else {
			p.SetDst(f, vip)
		}
		i++
	}
}

// BenchmarkRewriteTTL is BenchmarkRewrite plus the TTL decrement a
// forwarding router does (the TTL is reset every 250 frames).
func BenchmarkRewriteTTL(b *testing.B) {
	f := frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400), frametest.WithTTL(255))
	var p frame.Parsed
	p.Decode(f)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i&1 == 0 {
			p.SetDst(f, rip)
		} else {
			p.SetDst(f, vip)
		}
		ip := frame.IPv4(f[p.L3:p.End])
		if !ip.DecTTL() {
			ip.SetTTL(255)
		}
		i++
	}
}

// BenchmarkDecodeRewrite is a whole per-frame NAT step: Decode, then the
// rewrite.
func BenchmarkDecodeRewrite(b *testing.B) {
	f := frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400))
	var p frame.Parsed
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Decode(f)
		if i&1 == 0 {
			p.SetDst(f, rip)
		} else {
			p.SetDst(f, vip)
		}
		i++
	}
}

func benchSum(b *testing.B, n int) {
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.ReportAllocs()
	b.SetBytes(int64(n))
	var s uint16
	for b.Loop() {
		s += frame.Checksum(buf, 0)
	}
	_ = s
}

func BenchmarkChecksum1500(b *testing.B) { benchSum(b, 1500) }

func BenchmarkChecksum64K(b *testing.B) { benchSum(b, 65160) }

func BenchmarkSegment64K(b *testing.B) {
	f, _ := frametest.GSO(rip, cip, frame.ACK|frame.PSH, make([]byte, 65160-54), 1448)
	var p frame.Parsed
	p.Decode(f)
	segs := segBufs(64, 1600)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if frame.Segment(segs, f, &p, 1448) != 45 {
			b.Fatal("Segment failed")
		}
	}
}

// BenchmarkGopacketDecodeTCP decodes the frame of BenchmarkDecodeTCP with
// gopacket's fastest path (a preallocated DecodingLayerParser), for the
// record of why frame is hand-written.
func BenchmarkGopacketDecodeTCP(b *testing.B) {
	f := frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400))
	var (
		eth     layers.Ethernet
		ip      layers.IPv4
		tcp     layers.TCP
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip, &tcp, &payload)
	decoded := make([]gopacket.LayerType, 0, 4)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if err := parser.DecodeLayers(f, &decoded); err != nil {
			b.Fatal(err)
		}
	}
}
