package frame_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestEncapIP6IP6(t *testing.T) {
	dir := netip.MustParseAddr("2001:db8:26::9")
	tests := []struct {
		name    string
		tc      uint8
		wantTC  uint8
		payload int
	}{
		{"plain", 0, 0, 100},
		{"dscp and ect(1) copied", 0xb9, 0xb9, 1000},
		{"ce becomes ect(0) outside", 0x03, 0x02, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := innerFrame6(t, tt.tc, tt.payload)
			p := decode(t, inner)
			n := p.End - p.L3
			b := make([]byte, frame.IP6IP6Inner+n)
			copy(b[frame.IP6IP6Inner:], inner[p.L3:p.End])
			m := frame.EncapIP6IP6(b, n, mac1, frame.MAC{2, 0, 0, 0, 0, 9}, dir, rip6.Addr())
			if m != frame.IP6IP6Inner+n {
				t.Fatalf("EncapIP6IP6 = %d, want %d", m, frame.IP6IP6Inner+n)
			}
			pk := gopacket.NewPacket(b[:m], layers.LayerTypeEthernet, gopacket.Default)
			var ips []*layers.IPv6
			for _, l := range pk.Layers() {
				if ip, ok := l.(*layers.IPv6); ok {
					ips = append(ips, ip)
				}
			}
			if len(ips) != 2 {
				t.Fatalf("gopacket sees %d IPv6 layers, want 2 (%v)", len(ips), pk.ErrorLayer())
			}
			out, in := ips[0], ips[1]
			if out.NextHeader != layers.IPProtocolIPv6 || int(out.Length) != n || out.HopLimit != 64 ||
				out.TrafficClass != tt.wantTC || out.FlowLabel != 0 ||
				!out.SrcIP.Equal(dir.AsSlice()) || !out.DstIP.Equal(rip6.Addr().AsSlice()) {
				t.Errorf("outer header = next %v len %d hop %d tc %#x flow %d %v → %v", out.NextHeader, out.Length,
					out.HopLimit, out.TrafficClass, out.FlowLabel, out.SrcIP, out.DstIP)
			}
			if in.TrafficClass != tt.tc || !in.SrcIP.Equal(cip6.Addr().AsSlice()) {
				t.Errorf("inner header changed: tc %#x src %v", in.TrafficClass, in.SrcIP)
			}
			q := decode(t, b[:m])
			if q.Kind != frame.KindIPv6 || q.Proto != frame.ProtoIPv6 || q.L4 != frame.IP6IP6Inner {
				t.Errorf("Decode of the tunnel frame: %v proto %d L4 %d", q.Kind, q.Proto, q.L4)
			}
		})
	}
	inner := innerFrame6(t, 0, 10)
	p := decode(t, inner)
	n := p.End - p.L3
	b := make([]byte, frame.IP6IP6Inner+n)
	copy(b[frame.IP6IP6Inner:], inner[p.L3:p.End])
	for _, bad := range []struct {
		name string
		fn   func() int
	}{
		{"short buffer", func() int { return frame.EncapIP6IP6(b[:len(b)-1], n, mac1, mac1, nat6, rip6.Addr()) }},
		{"wrong length", func() int { return frame.EncapIP6IP6(b, n-1, mac1, mac1, nat6, rip6.Addr()) }},
		{"ipv4 address", func() int { return frame.EncapIP6IP6(b, n, mac1, mac1, nat, rip6.Addr()) }},
	} {
		if m := bad.fn(); m != 0 {
			t.Errorf("EncapIP6IP6 with a %s = %d, want 0", bad.name, m)
		}
	}
}

// innerFrame6 returns a TCP/IPv6 frame from the client to the VIP with
// traffic class tc.
func innerFrame6(t *testing.T, tc uint8, payload int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: mac1[:], DstMAC: mac1[:], EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, TrafficClass: tc, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: cip6.Addr().AsSlice(), DstIP: vip6.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(cip6.Port()), DstPort: layers.TCPPort(vip6.Port()), ACK: true, Window: 100}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(make([]byte, payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestEncapMixedFamilies covers the tunnels between families that IPVS
// allows: an IPv6 datagram in IPv4 (protocol 41, DF clear) and an IPv4
// datagram in IPv6 (next header 4), with TTL/hop limit and TOS/traffic
// class carried over.
func TestEncapMixedFamilies(t *testing.T) {
	in6 := innerFrame6(t, 0x03, 50) // CE
	p6 := decode(t, in6)
	n6 := p6.End - p6.L3
	b := make([]byte, frame.IPIPInner+n6)
	copy(b[frame.IPIPInner:], in6[p6.L3:p6.End])
	m := frame.EncapIPIP(b, n6, mac1, mac1, nat, rip.Addr(), 9)
	if m != frame.IPIPInner+n6 {
		t.Fatalf("EncapIPIP of an IPv6 datagram = %d, want %d", m, frame.IPIPInner+n6)
	}
	pk := gopacket.NewPacket(b[:m], layers.LayerTypeEthernet, gopacket.Default)
	out, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	in, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if out == nil || in == nil {
		t.Fatalf("gopacket does not see IPv6 in IPv4: %v", pk)
	}
	if out.Protocol != layers.IPProtocolIPv6 || out.TTL != 64 || out.TOS != 0x02 || out.Flags&layers.IPv4DontFragment != 0 || out.Id != 9 {
		t.Errorf("outer IPv4 = proto %v ttl %d tos %#x flags %v id %d", out.Protocol, out.TTL, out.TOS, out.Flags, out.Id)
	}
	if _, r := out.VerifyChecksum(); !r.Valid {
		t.Error("outer IPv4 checksum invalid")
	}

	f4 := frametest.TCP(cip, vip, frame.ACK, make([]byte, 30), frametest.WithTTL(33), frametest.WithTOS(0xb8))
	p4 := decode(t, f4)
	n4 := p4.End - p4.L3
	b = make([]byte, frame.IP6IP6Inner+n4)
	copy(b[frame.IP6IP6Inner:], f4[p4.L3:p4.End])
	m = frame.EncapIP6IP6(b, n4, mac1, mac1, nat6, rip6.Addr())
	if m != frame.IP6IP6Inner+n4 {
		t.Fatalf("EncapIP6IP6 of an IPv4 datagram = %d, want %d", m, frame.IP6IP6Inner+n4)
	}
	pk = gopacket.NewPacket(b[:m], layers.LayerTypeEthernet, gopacket.Default)
	o6, _ := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	i4, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if o6 == nil || i4 == nil {
		t.Fatalf("gopacket does not see IPv4 in IPv6: %v", pk)
	}
	if o6.NextHeader != layers.IPProtocolIPv4 || o6.HopLimit != 33 || o6.TrafficClass != 0xb8 || int(o6.Length) != n4 {
		t.Errorf("outer IPv6 = next %v hop %d tc %#x len %d", o6.NextHeader, o6.HopLimit, o6.TrafficClass, o6.Length)
	}

	// An IPv4 datagram shorter than an IPv6 header (a small UDP datagram,
	// the last fragment of a bigger one) is carried too.
	u4 := frametest.UDP(cip, vip, []byte("x"))
	pu := decode(t, u4)
	nu := pu.End - pu.L3
	b = make([]byte, frame.IP6IP6Inner+nu)
	copy(b[frame.IP6IP6Inner:], u4[pu.L3:pu.End])
	if m := frame.EncapIP6IP6(b, nu, mac1, mac1, nat6, rip6.Addr()); nu >= frame.IPv6Len || m != frame.IP6IP6Inner+nu {
		t.Errorf("EncapIP6IP6 of a %d-byte IPv4 datagram = %d, want %d", nu, m, frame.IP6IP6Inner+nu)
	}
}

// FuzzEncapIP6IP6: EncapIP6IP6 never panics; when it accepts, the result
// decodes as IPv6 carrying the inner bytes unchanged, with next header 41
// or 4 by the inner version.
func FuzzEncapIP6IP6(f *testing.F) {
	for _, s := range seeds() {
		if len(s) > 14 {
			f.Add(s[14:], len(s)-14)
		}
	}
	f.Fuzz(func(t *testing.T, inner []byte, n int) {
		b := make([]byte, frame.IP6IP6Inner+len(inner))
		copy(b[frame.IP6IP6Inner:], inner)
		got := frame.EncapIP6IP6(b, n, mac2, mac1, nat6, rip6.Addr())
		if got == 0 {
			return
		}
		if got != frame.IP6IP6Inner+n || n > len(inner) || !bytes.Equal(b[frame.IP6IP6Inner:got], inner[:n]) {
			t.Fatalf("EncapIP6IP6(n=%d) = %d for %d inner bytes, or the inner bytes changed", n, got, len(inner))
		}
		var p frame.Parsed
		p.Decode(b[:got])
		want := frame.ProtoIPv6
		if inner[0]>>4 == 4 {
			want = frame.ProtoIPIP
		}
		if p.Kind != frame.KindIPv6 || p.Proto != want || p.L4 != frame.IP6IP6Inner || p.End != got {
			t.Fatalf("encapsulated frame does not decode: %+v", p)
		}
	})
}
