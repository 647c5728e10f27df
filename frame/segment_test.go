package frame_test

import (
	"bytes"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// segBufs returns n buffers of size bytes each.
func segBufs(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
	}
	return out
}

func TestSegmentGSOFrame(t *testing.T) {
	tests := []struct {
		name     string
		payload  int
		mss      int
		flags    frame.TCPFlags
		opts     []frametest.Option
		wantSegs int
	}{
		{"65160-byte download frame", 65160 - 54, 1448, frame.ACK | frame.PSH, nil, 45},
		{"fin cwr and vlan", 10000, 1460, frame.ACK | frame.FIN | frame.PSH | frame.CWR | frame.ECE, []frametest.Option{frametest.WithVLAN(3)}, 7},
		{"exact multiple", 2920, 1460, frame.ACK, []frametest.Option{frametest.WithIPOptions(2), frametest.WithMSS(1400)}, 2},
		{"fits in one", 100, 1460, frame.ACK | frame.PSH, nil, 1},
		{"no payload", 0, 1460, frame.ACK, nil, 1},
		{"ip id wraps", 5000, 1000, frame.ACK, []frametest.Option{frametest.WithID(0xffff), frametest.WithSeq(0xffffff00)}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := make([]byte, tt.payload)
			for i := range payload {
				payload[i] = byte(i*13 + i>>8)
			}
			f, _ := frametest.GSO(cip, vip, tt.flags, payload, tt.mss, tt.opts...)
			p := decode(t, f)
			p.Partial = true
			ip0, tcp0 := p.IPv4(f), p.TCP(f)
			bufs := segBufs(64, 1600)
			n := frame.Segment(bufs, f, p, tt.mss)
			if n != tt.wantSegs {
				t.Fatalf("Segment = %d segments, want %d", n, tt.wantSegs)
			}
			var joined []byte
			for i, s := range bufs[:n] {
				want := tt.flags
				if i > 0 {
					want &^= frame.CWR
				}
				if i < n-1 {
					want &^= frame.FIN | frame.PSH
				}
				chunk := payload[min(i*tt.mss, len(payload)):min((i+1)*tt.mss, len(payload))]
				frametest.Check(t, s, frametest.SumsOK(), frametest.Flags(want), frametest.Payload(chunk),
					frametest.Seq(tcp0.Seq()+uint32(i*tt.mss)), frametest.IPID(ip0.ID()+uint16(i)),
					frametest.SrcAddr(cip.Addr()), frametest.DstPort(vip.Port()), frametest.Len(p.Payload+len(chunk)))
				if len(s)-p.L3 > tt.mss+p.Payload-p.L3 {
					t.Errorf("segment %d: %d bytes of IP, more than the MSS allows", i, len(s)-p.L3)
				}
				q := decode(t, s)
				if q.VLAN != p.VLAN || !bytes.Equal(q.TCP(s).Options(), tcp0.Options()) || !bytes.Equal(q.IPv4(s).Options(), ip0.Options()) {
					t.Errorf("segment %d: headers not copied (VLAN %d, options)", i, q.VLAN)
				}
				joined = append(joined, s[q.Payload:q.End]...)
			}
			if !bytes.Equal(joined, payload) {
				t.Errorf("segments carry %d bytes that differ from the %d-byte payload", len(joined), len(payload))
			}
		})
	}
}

func TestSegmentRefuses(t *testing.T) {
	f, _ := frametest.GSO(cip, vip, frame.ACK, make([]byte, 5000), 1000)
	p := decode(t, f)
	u := frametest.UDP(cip, vip, make([]byte, 3000))
	pu := decode(t, u)
	tests := []struct {
		name  string
		bufs  [][]byte
		frame []byte
		p     *frame.Parsed
		mss   int
	}{
		{"too few buffers", segBufs(4, 1100), f, p, 1000},
		{"buffer too small", segBufs(5, 1000), f, p, 1000},
		{"zero mss", segBufs(5, 1100), f, p, 0},
		{"udp", segBufs(5, 1100), u, pu, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := frame.Segment(tt.bufs, tt.frame, tt.p, tt.mss); n != 0 {
				t.Errorf("Segment = %d, want 0", n)
			}
			for i, b := range tt.bufs {
				if len(b) == 0 || b[0] != 0 {
					t.Errorf("buffer %d written or resliced after refusal", i)
				}
			}
		})
	}
	// The last buffer only needs room for what it holds.
	bufs := segBufs(5, 1100)
	bufs[4] = make([]byte, p.Payload+1000)
	if n := frame.Segment(bufs, f, p, 1000); n != 5 {
		t.Errorf("Segment with an exact last buffer = %d, want 5", n)
	}
	if got := frame.MSSForMTU(p, 1500); got != 1460 {
		t.Errorf("MSSForMTU(1500) = %d, want 1460", got)
	}
}

func TestSegmentIPv6(t *testing.T) {
	tests := []struct {
		name     string
		payload  int
		mss      int
		flags    frame.TCPFlags
		opts     []frametest.Option
		wantSegs int
	}{
		{"65,000-byte download frame", 65000, 1428, frame.ACK | frame.PSH, nil, 46},
		{"extension headers, vlan, fin", 10000, 1400, frame.ACK | frame.FIN | frame.PSH, []frametest.Option{frametest.WithVLAN(4),
			frametest.WithExt(frame.ProtoHopOpts, frame.ProtoDstOpts)}, 8},
		{"fits in one", 100, 1428, frame.ACK, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := make([]byte, tt.payload)
			for i := range payload {
				payload[i] = byte(i*7 + i>>8)
			}
			f, vnet := frametest.GSO(cip6, vip6, tt.flags, payload, tt.mss, tt.opts...)
			if vnet[1] != 4 {
				t.Fatalf("virtio-net GSO type = %d, want 4 (TCPv6)", vnet[1])
			}
			p := decode(t, f)
			p.Partial = true
			frametest.Check(t, f, frametest.PartialSumOK())
			bufs := segBufs(64, 1600)
			n := frame.Segment(bufs, f, p, tt.mss)
			if n != tt.wantSegs {
				t.Fatalf("Segment = %d segments, want %d", n, tt.wantSegs)
			}
			var joined []byte
			seq := p.TCP(f).Seq()
			for i, s := range bufs[:n] {
				want := tt.flags
				if i < n-1 {
					want &^= frame.FIN | frame.PSH
				}
				chunk := payload[min(i*tt.mss, len(payload)):min((i+1)*tt.mss, len(payload))]
				frametest.Check(t, s, frametest.SumsOK(), frametest.Flags(want), frametest.Payload(chunk),
					frametest.Seq(seq+uint32(i*tt.mss)), frametest.SrcAddr(cip6.Addr()), frametest.DstAddr(vip6.Addr()),
					frametest.DstPort(vip6.Port()), frametest.Len(p.Payload+len(chunk)))
				q := decode(t, s)
				if q.Kind != frame.KindIPv6 || q.L4 != p.L4 || q.VLAN != p.VLAN {
					t.Errorf("segment %d: headers not copied (%+v)", i, q)
				}
				joined = append(joined, s[q.Payload:q.End]...)
			}
			if !bytes.Equal(joined, payload) {
				t.Errorf("segments carry %d bytes that differ from the %d-byte payload", len(joined), len(payload))
			}
		})
	}
	frags := frametest.Fragments6(frametest.TCP(cip6, vip6, frame.ACK, make([]byte, 3000)), 1280, 1)
	if n := frame.Segment(segBufs(8, 1600), frags[0], decode(t, frags[0]), 1000); n != 0 {
		t.Errorf("Segment of an IPv6 fragment = %d, want 0", n)
	}
}
