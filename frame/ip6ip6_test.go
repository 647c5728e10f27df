package frame_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"lvs/frame"
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
