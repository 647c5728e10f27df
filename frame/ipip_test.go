package frame_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

var (
	dirAddr = netip.MustParseAddr("192.0.2.9")
	mac2    = frame.MAC{0x02, 0xbb, 0, 0, 0, 2}
)

// encap puts the IPv4 datagram of frame f into a fresh buffer at
// frame.IPIPInner and encapsulates it.
func encap(t *testing.T, f []byte, id uint16) ([]byte, int) {
	t.Helper()
	var p frame.Parsed
	p.Decode(f)
	if p.Kind != frame.KindIPv4 {
		t.Fatalf("test frame does not decode")
	}
	inner := f[p.L3:p.End]
	b := make([]byte, frame.IPIPInner+len(inner)+10)
	copy(b[frame.IPIPInner:], inner)
	return b, frame.EncapIPIP(b, len(inner), mac2, mac1, dirAddr, rip.Addr(), id)
}

func TestEncapIPIP(t *testing.T) {
	tests := []struct {
		name    string
		f       []byte
		tos     uint8 // want outer TOS
		df      bool
		ttl     uint8
		options int
	}{
		{"tcp syn df", frametest.TCPSyn(cip, vip, frametest.WithDF(), frametest.WithTTL(63)), 0, true, 63, 0},
		{"udp no df", frametest.UDP(cip, vip, []byte("query"), frametest.WithTTL(7)), 0, false, 7, 0},
		{"dscp ect1 copied", frametest.TCP(cip, vip, frame.ACK, []byte("x"), frametest.WithTOS(0xb9)), 0xb9, false, 64, 0},
		{"ce becomes ect0", frametest.TCP(cip, vip, frame.ACK, nil, frametest.WithTOS(0x2b)), 0x2a, false, 64, 0},
		{"inner options", frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400), frametest.WithIPOptions(2), frametest.WithDF()), 0, true, 64, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p frame.Parsed
			p.Decode(tc.f)
			inner := bytes.Clone(tc.f[p.L3:p.End])
			b, n := encap(t, tc.f, 0x1234)
			if want := frame.IPIPInner + len(inner); n != want {
				t.Fatalf("EncapIPIP = %d, want %d", n, want)
			}
			out := b[:n]
			e := frame.Ethernet(out)
			if e.Dst() != mac2 || e.Src() != mac1 || e.Type() != frame.EtherTypeIPv4 {
				t.Errorf("Ethernet = %v → %v type %#04x, want %v → %v IPv4", e.Src(), e.Dst(), e.Type(), mac1, mac2)
			}
			ip := frame.IPv4(out[frame.EthernetLen:])
			if !ip.Valid() || ip.HeaderLen() != 20 || ip.TotalLen() != 20+len(inner) {
				t.Fatalf("outer header invalid or wrong length: %x", out[14:34])
			}
			for _, c := range []struct {
				what      string
				got, want any
			}{
				{"protocol", ip.Protocol(), frame.ProtoIPIP},
				{"src", ip.Src(), dirAddr},
				{"dst", ip.Dst(), rip.Addr()},
				{"TTL", ip.TTL(), tc.ttl},
				{"TOS", ip.TOS(), tc.tos},
				{"DF", ip.DF(), tc.df},
				{"MF", ip.MF(), false},
				{"fragment offset", ip.FragOffset(), 0},
				{"ID", ip.ID(), uint16(0x1234)},
				{"checksum valid", ip.ValidChecksum(), true},
			} {
				if c.got != c.want {
					t.Errorf("outer %s = %v, want %v", c.what, c.got, c.want)
				}
			}
			if !bytes.Equal(out[frame.IPIPInner:], inner) {
				t.Errorf("inner datagram changed")
			}
			// The whole frame decodes as an IPv4 datagram of protocol 4 whose
			// payload is the inner datagram.
			var q frame.Parsed
			q.Decode(out)
			if q.Kind != frame.KindIPv4 || q.Proto != frame.ProtoIPIP || q.L4 != frame.IPIPInner || q.End != n {
				t.Errorf("Decode(encapsulated) = kind %v proto %d L4 %d End %d", q.Kind, q.Proto, q.L4, q.End)
			}
			// Decapsulated as a real server does, the inner frame is intact.
			dec := append(bytes.Clone(tc.f[:p.L3]), out[frame.IPIPInner:]...)
			frametest.Check(t, dec, frametest.SrcAddr(cip.Addr()), frametest.DstAddr(vip.Addr()), frametest.SumsOK())
		})
	}
}

func TestEncapIPIPRefuses(t *testing.T) {
	f := frametest.TCP(cip, vip, frame.ACK, []byte("hello"))
	good, _ := encap(t, f, 1)
	n := frame.IPv4(f[14:]).TotalLen()
	tests := []struct {
		name string
		b    []byte
		n    int
		src  netip.Addr
	}{
		{"short buffer", good[:frame.IPIPInner+n-1], n, dirAddr},
		{"length mismatch", good, n - 1, dirAddr},
		{"too short for a header", good, 19, dirAddr},
		{"negative", good, -1, dirAddr},
		{"too long", make([]byte, 70000), 65530, dirAddr},
		{"not ipv4 inside", func() []byte { b := bytes.Clone(good); b[frame.IPIPInner] = 0x65; return b }(), n, dirAddr},
		{"invalid source", good, n, netip.Addr{}},
		{"ipv6 source", good, n, netip.MustParseAddr("2001:db8::1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := bytes.Clone(tc.b)
			if got := frame.EncapIPIP(tc.b, tc.n, mac2, mac1, tc.src, rip.Addr(), 1); got != 0 {
				t.Errorf("EncapIPIP = %d, want 0", got)
			}
			if !bytes.Equal(before, tc.b) {
				t.Errorf("EncapIPIP wrote into the buffer of a refused datagram")
			}
		})
	}
}

// TestEncapIPIPSegments encapsulates in place the segments frame.Segment
// wrote IPIPOverhead bytes into the buffers, as the worker does with a GSO
// super-frame: the segments' Ethernet headers are overwritten, their
// datagrams stay where they are.
func TestEncapIPIPSegments(t *testing.T) {
	g, _ := frametest.GSO(cip, vip, frame.ACK|frame.PSH, make([]byte, 5000), 1460, frametest.WithDF())
	var p frame.Parsed
	p.Decode(g)
	p.Partial = true
	bufs := segBufs(8, 1600)
	dst := make([][]byte, len(bufs))
	for i := range bufs {
		dst[i] = bufs[i][frame.IPIPOverhead:]
	}
	mss := frame.MSSForMTU(&p, 1500-frame.IPIPOverhead)
	k := frame.Segment(dst, g, &p, mss)
	if k != 4 {
		t.Fatalf("Segment = %d segments, want 4 of %d bytes", k, mss)
	}
	for i := range k {
		n := frame.EncapIPIP(bufs[i], len(dst[i])-frame.EthernetLen, mac2, mac1, dirAddr, rip.Addr(), uint16(i))
		if n == 0 || n-frame.EthernetLen > 1500 {
			t.Fatalf("segment %d: EncapIPIP = %d, want a datagram of at most 1500 bytes", i, n)
		}
		ip := frame.IPv4(bufs[i][frame.EthernetLen:n])
		if !ip.ValidChecksum() || !ip.DF() || ip.ID() != uint16(i) {
			t.Errorf("segment %d: outer checksum ok %v, DF %v, ID %d", i, ip.ValidChecksum(), ip.DF(), ip.ID())
		}
		dec := append(bytes.Clone(g[:14]), bufs[i][frame.IPIPInner:n]...)
		frametest.Check(t, dec, frametest.SumsOK(), frametest.DstAddr(vip.Addr()))
	}
}

func BenchmarkEncapIPIP(b *testing.B) {
	f := frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400), frametest.WithDF())
	inner := f[14:]
	buf := make([]byte, frame.IPIPInner+len(inner))
	b.ReportAllocs()
	b.SetBytes(int64(len(inner)))
	for b.Loop() {
		copy(buf[frame.IPIPInner:], inner)
		if frame.EncapIPIP(buf, len(inner), mac2, mac1, dirAddr, rip.Addr(), 7) == 0 {
			b.Fatal("EncapIPIP refused")
		}
	}
}

// FuzzEncapIPIP: EncapIPIP never panics on any buffer and length; when it
// accepts, the result decodes as an IPIP datagram with a valid checksum
// carrying the inner bytes unchanged.
func FuzzEncapIPIP(f *testing.F) {
	for _, s := range seeds() {
		if len(s) > 14 {
			f.Add(s[14:], len(s)-14, uint16(1))
		}
	}
	f.Add([]byte{0x45, 0, 0, 20}, 20, uint16(0))
	f.Fuzz(func(t *testing.T, inner []byte, n int, id uint16) {
		b := make([]byte, frame.IPIPInner+len(inner))
		copy(b[frame.IPIPInner:], inner)
		got := frame.EncapIPIP(b, n, mac2, mac1, dirAddr, rip.Addr(), id)
		if got == 0 {
			return
		}
		if got != frame.IPIPInner+n || n > len(inner) {
			t.Fatalf("EncapIPIP(n=%d) = %d for %d inner bytes", n, got, len(inner))
		}
		if !bytes.Equal(b[frame.IPIPInner:got], inner[:n]) {
			t.Fatalf("inner bytes changed")
		}
		var p frame.Parsed
		p.Decode(b[:got])
		ip := frame.IPv4(b[frame.EthernetLen:got])
		want := frame.ProtoIPIP
		if inner[0]>>4 == 6 {
			want = frame.ProtoIPv6 // an IPv6 datagram in IPv4 (IPVS's mixed-family tunnel)
		}
		if p.Kind != frame.KindIPv4 || p.Proto != want || !ip.ValidChecksum() ||
			binary.BigEndian.Uint16(b[frame.EthernetLen+2:]) != uint16(20+n) || ip.ID() != id {
			t.Fatalf("encapsulated frame does not decode as IPIP: %x", b[:min(got, 60)])
		}
	})
}

func TestEncapIPIPNoAllocs(t *testing.T) {
	f := frametest.TCP(cip, vip, frame.ACK, make([]byte, 1400), frametest.WithDF())
	buf := make([]byte, frame.IPIPInner+len(f))
	n := copy(buf[frame.IPIPInner:], f[14:])
	if a := testing.AllocsPerRun(100, func() { frame.EncapIPIP(buf, n, mac2, mac1, dirAddr, rip.Addr(), 1) }); a != 0 {
		t.Errorf("EncapIPIP allocs = %v, want 0", a)
	}
}
