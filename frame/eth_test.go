package frame_test

import (
	"bytes"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestEthernetVLAN(t *testing.T) {
	tagged := frametest.UDP(cip, vip, make([]byte, 100), frametest.WithVLAN(4094)) // no Ethernet padding
	plain := frametest.UDP(cip, vip, make([]byte, 100))
	e := frame.Ethernet(tagged)
	if !e.Valid() || !e.Tagged() || e.VLAN() != 4094 || e.PayloadType() != frame.EtherTypeIPv4 || e.HeaderLen() != 18 {
		t.Errorf("tagged: Valid %v Tagged %v VLAN %d PayloadType %#x HeaderLen %d", e.Valid(), e.Tagged(), e.VLAN(), e.PayloadType(), e.HeaderLen())
	}
	if e.Src() != frametest.DefaultSrcMAC || e.Dst() != frametest.DefaultDstMAC {
		t.Errorf("MACs = %v → %v", e.Src(), e.Dst())
	}
	if !bytes.Equal(e.Payload()[:20], plain[14:34]) {
		t.Error("Payload of the tagged frame is not the IP header")
	}
	untagged := frame.StripVLAN(append([]byte(nil), tagged...))
	if !bytes.Equal(untagged, plain) {
		t.Errorf("StripVLAN =\n%x\nwant\n%x", untagged, plain)
	}
	if got := frame.StripVLAN(plain); &got[0] != &plain[0] {
		t.Error("StripVLAN moved an untagged frame")
	}
	buf := make([]byte, len(plain)+4)
	if n := frame.PutVLAN(buf, plain, 4094); n != len(tagged) || !bytes.Equal(buf[:n], tagged) {
		t.Errorf("PutVLAN = %d bytes\n%x\nwant\n%x", n, buf[:n], tagged)
	}
	if n := frame.PutVLAN(buf, tagged, 1); n != 0 {
		t.Errorf("PutVLAN of a tagged frame = %d, want 0", n)
	}
	if frame.Ethernet(tagged[:17]).Valid() || frame.Ethernet(tagged[:13]).Valid() {
		t.Error("Valid accepts a truncated header")
	}
	if got := mac1.String(); got != "02:aa:00:00:00:01" {
		t.Errorf("MAC.String = %q", got)
	}
}

func TestARP(t *testing.T) {
	req := frametest.ARPRequest(mac1, cip.Addr(), vip.Addr())
	p := decode(t, req)
	a := p.ARP(req)
	if a.Op() != frame.ARPRequest || a.SenderMAC() != mac1 || a.SenderIP() != cip.Addr() || a.TargetIP() != vip.Addr() || a.IsGratuitous() {
		t.Fatalf("ARP request view: op %d %v %v → %v", a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetIP())
	}
	ours := frame.MAC{0x02, 0xbb, 1, 2, 3, 4}
	tests := []struct {
		name   string
		put    func(buf []byte) int
		op     uint16
		ethDst frame.MAC
		sha    frame.MAC
		spa    netip.Addr
		tha    frame.MAC
		tpa    netip.Addr
	}{
		{"reply", func(b []byte) int { return frame.PutARPReply(b, a, ours, vip.Addr()) },
			frame.ARPReply, mac1, ours, vip.Addr(), mac1, cip.Addr()},
		{"request", func(b []byte) int { return frame.PutARPRequest(b, ours, nat, rip.Addr()) },
			frame.ARPRequest, frame.BroadcastMAC, ours, nat, frame.MAC{}, rip.Addr()},
		{"gratuitous request", func(b []byte) int { return frame.PutGratuitousARP(b, frame.ARPRequest, ours, vip.Addr()) },
			frame.ARPRequest, frame.BroadcastMAC, ours, vip.Addr(), frame.MAC{}, vip.Addr()},
		{"gratuitous reply", func(b []byte) int { return frame.PutGratuitousARP(b, frame.ARPReply, ours, vip.Addr()) },
			frame.ARPReply, frame.BroadcastMAC, ours, vip.Addr(), frame.BroadcastMAC, vip.Addr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, frame.ARPFrameLen)
			if n := tt.put(buf); n != frame.ARPFrameLen {
				t.Errorf("length = %d, want %d", n, frame.ARPFrameLen)
			}
			l := frametest.Decode(buf)
			if l.ARP == nil || l.Eth == nil {
				t.Fatalf("gopacket does not see ARP: %v", l.Err)
			}
			got := []any{l.ARP.Operation, frame.MAC(l.Eth.DstMAC), frame.MAC(l.Eth.SrcMAC), frame.MAC(l.ARP.SourceHwAddress),
				netip.AddrFrom4([4]byte(l.ARP.SourceProtAddress)), frame.MAC(l.ARP.DstHwAddress), netip.AddrFrom4([4]byte(l.ARP.DstProtAddress))}
			want := []any{tt.op, tt.ethDst, tt.sha, tt.sha, tt.spa, tt.tha, tt.tpa}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("field %d = %v, want %v", i, got[i], want[i])
				}
			}
			var q frame.Parsed
			q.Decode(buf)
			if q.Kind != frame.KindARP || q.ARPOp != tt.op || q.Src.Addr() != tt.spa || q.Dst.Addr() != tt.tpa {
				t.Errorf("Decode: %+v", q)
			}
			if g := q.ARP(buf).IsGratuitous(); g != (tt.spa == tt.tpa) {
				t.Errorf("IsGratuitous = %v", g)
			}
		})
	}
}
