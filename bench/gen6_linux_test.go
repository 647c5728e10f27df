//go:build linux

package bench

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestUDPFrameAgainstGopacket checks the generator's IPv4 and IPv6 frames
// byte for byte against the same frame serialised by gopacket with its
// own checksums, and that gopacket decodes them to the same fields.
func TestUDPFrameAgainstGopacket(t *testing.T) {
	srcMAC, dstMAC := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	payload := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	tests := []struct {
		name     string
		src, dst string
		build    func(net.HardwareAddr, net.HardwareAddr, netip.AddrPort, netip.AddrPort, []byte) []byte
		size     int
	}{
		{"ipv4", "10.250.1.128:1024", "10.250.1.100:9000", udpFrame, frameBytes},
		{"ipv4 other flow", "10.250.1.229:61023", "10.250.3.100:9001", udpFrame, frameBytes},
		{"ipv6", "[2001:db8:250:1:ff00::]:1024", "[2001:db8:250:1::100]:9000", udpFrame6, frameBytes6},
		{"ipv6 other flow", "[2001:db8:250:1:ff00::63]:61023", "[2001:db8:250:1::100]:9000", udpFrame6, frameBytes6},
		{"ipv6 high bits", "[fe80::ffff:ffff:ffff:ffff]:65535", "[ff02::1]:1", udpFrame6, frameBytes6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
			got := tt.build(srcMAC, dstMAC, src, dst, payload)
			if len(got) != tt.size {
				t.Errorf("frame is %d bytes, want %d", len(got), tt.size)
			}
			want := gopacketFrame(t, srcMAC, dstMAC, src, dst, payload)
			if !bytes.Equal(got, want) {
				t.Fatalf("frame\n% x\ngopacket builds\n% x", got, want)
			}
			p := gopacket.NewPacket(got, layers.LayerTypeEthernet, gopacket.Default)
			if e := p.ErrorLayer(); e != nil {
				t.Fatalf("gopacket cannot decode the frame: %v", e.Error())
			}
			u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if u == nil || u.SrcPort != layers.UDPPort(src.Port()) || u.DstPort != layers.UDPPort(dst.Port()) || !bytes.Equal(u.Payload, payload) {
				t.Errorf("decoded UDP = %+v, want %v → %v with the payload", u, src, dst)
			}
		})
	}
}

// gopacketFrame serialises Ethernet/IP/UDP with gopacket, checksums
// computed by gopacket: the oracle of the generator's frames.
func gopacketFrame(t *testing.T, srcMAC, dstMAC net.HardwareAddr, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	var ip gopacket.SerializableLayer
	if src.Addr().Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		u.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		u.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, u, gopacket.Payload(payload))
	if err != nil {
		t.Fatalf("gopacket: %v", err)
	}
	return buf.Bytes()
}

// TestFloodRewrite6 is TestFloodRewrite for an IPv6 flood: the frames a
// rewriting flood fills are exactly the frames udpFrame6 builds for those
// flows, from floodNet6, across source addresses and around the wrap.
func TestFloodRewrite6(t *testing.T) {
	p := genPath{srcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, dstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, sources: floodNet}
	dst := netip.AddrPortFrom(vip6, udpPort)
	const flows = 2*floodPortsPerAddr + 777
	f := newFlood(p, dst, flows)
	if !f.rewrite || !f.v6 || len(f.frames) != ringFrames {
		t.Fatalf("newFlood(%d IPv6 flows): rewrite %v, v6 %v, %d frames; want rewriting %d IPv6 frames", flows, f.rewrite, f.v6, len(f.frames), ringFrames)
	}
	for _, start := range []int{0, floodPortsPerAddr - 10, flows - 5} {
		f.next = start
		f.fill(0, genBatch)
		for i := range genBatch {
			flow := (start + i) % flows
			want := udpFrame6(p.srcMAC, p.dstMAC, flowSource(floodNet6, flow), dst, make([]byte, payloadBytes))
			if !bytes.Equal(f.frames[i], want) {
				t.Fatalf("frame of flow %d after fill = % x, want % x", flow, f.frames[i], want)
			}
		}
	}
	if got, want := flowSource(floodNet6, floodPortsPerAddr+5), netip.MustParseAddrPort("[2001:db8:250:1:ff00::1]:1029"); got != want {
		t.Errorf("flowSource(%d) = %v, want %v", floodPortsPerAddr+5, got, want)
	}
	small := newFlood(p, dst, 100)
	if small.rewrite || !bytes.Equal(small.frames[0], udpFrame6(p.srcMAC, p.dstMAC, flowSource(floodNet6, 0), dst, make([]byte, payloadBytes))) {
		t.Errorf("newFlood(100 IPv6 flows): rewrite %v, frame 0 not flow 0's IPv6 frame", small.rewrite)
	}
}
