package frame_test

import (
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestToEchoReply(t *testing.T) {
	f := frametest.ICMPEcho(cip.Addr(), vip.Addr(), 0x1234, 7, []byte("abcdefgh"), frametest.WithTTL(55))
	p := decode(t, f)
	if !frame.ToEchoReply(f, p, 64) {
		t.Fatal("ToEchoReply = false for an echo request")
	}
	frametest.Check(t, f, frametest.SumsOK(), frametest.ICMPType(frame.ICMPEchoReply, 0),
		frametest.SrcAddr(vip.Addr()), frametest.DstAddr(cip.Addr()), frametest.TTL(64),
		frametest.SrcMAC(frametest.DefaultDstMAC), frametest.DstMAC(frametest.DefaultSrcMAC),
		frametest.Payload([]byte("abcdefgh")))
	if c := p.ICMP(f); c.ID() != 0x1234 || c.Seq() != 7 {
		t.Errorf("echo id/seq = %#x/%d, want 0x1234/7", c.ID(), c.Seq())
	}
	if frame.ToEchoReply(f, p, 64) {
		t.Error("ToEchoReply = true for an echo reply")
	}
	u := frametest.UDP(cip, vip, nil)
	if frame.ToEchoReply(u, decode(t, u), 64) {
		t.Error("ToEchoReply = true for UDP")
	}
}

func TestPutICMPError(t *testing.T) {
	big := make([]byte, 1472)
	tests := []struct {
		name       string
		frame      []byte
		typ, code  uint8
		mtu        uint16
		wantLen    int
		wantQuoted int // bytes of the offending datagram quoted
	}{
		{"frag needed for a big tcp segment", frametest.TCP(cip, vip, frame.ACK, big, frametest.WithDF()), 3, 4, 1400, 14 + 576, 576 - 28},
		{"time exceeded for a syn", frametest.TCP(cip, vip, frame.SYN, nil, frametest.WithTTL(1)), 11, 0, 0, 14 + 28 + 40, 40},
		{"port unreachable for udp", frametest.UDP(cip, vip, []byte("q"), frametest.WithVLAN(9)), 3, 3, 0, 14 + 28 + 29, 29},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decode(t, tt.frame)
			buf := make([]byte, frame.ICMPErrorMaxLen)
			n := frame.PutICMPError(buf, tt.frame, p, tt.typ, tt.code, tt.mtu, nat, mac1)
			if n != tt.wantLen {
				t.Fatalf("PutICMPError = %d bytes, want %d", n, tt.wantLen)
			}
			e := buf[:n]
			frametest.Check(t, e, frametest.SumsOK(), frametest.ICMPType(tt.typ, tt.code), frametest.SrcAddr(nat),
				frametest.DstAddr(cip.Addr()), frametest.Inner(p.Src, p.Dst), frametest.SrcMAC(mac1),
				frametest.DstMAC(frametest.DefaultSrcMAC), frametest.VLAN(0),
				frametest.Payload(tt.frame[p.L3:p.L3+tt.wantQuoted]))
			q := decode(t, e)
			if !q.ICMPError || q.InnerSrc != p.Src || q.InnerDst != p.Dst {
				t.Errorf("Decode of the error: inner %v → %v", q.InnerSrc, q.InnerDst)
			}
			if got := q.ICMP(e).MTU(); tt.code == frame.ICMPFragNeeded && got != tt.mtu {
				t.Errorf("MTU = %d, want %d", got, tt.mtu)
			}
			// No error about an error (RFC 1122 §3.2.2).
			if m := frame.PutICMPError(buf, e, q, 3, 3, 0, nat, mac1); m != 0 {
				t.Errorf("PutICMPError about an ICMP error = %d, want 0", m)
			}
		})
	}
	frags := frametest.Fragments(frametest.UDP(cip, vip, big), 600)
	buf := make([]byte, frame.ICMPErrorMaxLen)
	if n := frame.PutICMPError(buf, frags[1], decode(t, frags[1]), 11, 1, 0, nat, mac1); n != 0 {
		t.Errorf("PutICMPError about a non-first fragment = %d, want 0", n)
	}
	if n := frame.PutICMPError(buf[:100], frags[0], decode(t, frags[0]), 11, 1, 0, nat, mac1); n != 0 {
		t.Errorf("PutICMPError into a short buffer = %d, want 0", n)
	}
}
