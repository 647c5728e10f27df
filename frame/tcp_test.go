package frame_test

import (
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestTCPAccessors(t *testing.T) {
	f := frametest.TCP(cip, vip, frame.SYN|frame.ECE|frame.CWR, nil, frametest.WithMSS(1460),
		frametest.WithSeq(0xdeadbeef), frametest.WithAck(7), frametest.WithWindow(29200))
	p := decode(t, f)
	tc := p.TCP(f)
	if !tc.Valid() || tc.SrcPort() != cip.Port() || tc.DstPort() != vip.Port() || tc.Seq() != 0xdeadbeef ||
		tc.Ack() != 7 || tc.Window() != 29200 || tc.Flags() != frame.SYN|frame.ECE|frame.CWR || tc.Urgent() != 0 ||
		tc.HeaderLen() != 28 || len(tc.Payload()) != 0 || !tc.ValidChecksum(p.IPv4(f)) {
		t.Errorf("TCP view: %d→%d seq %#x ack %d win %d flags %v hl %d", tc.SrcPort(), tc.DstPort(), tc.Seq(), tc.Ack(), tc.Window(), tc.Flags(), tc.HeaderLen())
	}
	if got := tc.Flags().String(); got != "SYN|ECE|CWR" {
		t.Errorf("Flags.String = %q", got)
	}
	tests := []struct {
		name    string
		options []byte
		mss     uint16
		ok      bool
	}{
		{"nop mss", []byte{1, 2, 4, 5, 0xb4, 0, 0, 0}, 1460, true},
		{"after sack-permitted", []byte{4, 2, 2, 4, 0x05, 0x78, 0, 0}, 1400, true},
		{"end first", []byte{0, 2, 4, 5, 0xb4, 0, 0, 0}, 0, false},
		{"bad length", []byte{2, 3, 5, 0xb4}, 0, false},
		{"zero length loops not", []byte{8, 0, 0, 0}, 0, false},
		{"past end", []byte{1, 1, 8, 10}, 0, false},
		{"none", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seg := make([]byte, 20+len(tt.options))
			seg[12] = byte(len(seg)/4) << 4
			copy(seg[20:], tt.options)
			mss, ok := frame.TCP(seg).MSS()
			if mss != tt.mss || ok != tt.ok {
				t.Errorf("MSS = %d, %v; want %d, %v", mss, ok, tt.mss, tt.ok)
			}
		})
	}
}

func TestUDPAccessors(t *testing.T) {
	f := frametest.UDP(cip, vip, []byte("hello"))
	p := decode(t, f)
	u := p.UDP(f)
	if !u.Valid() || u.Length() != 13 || string(u.Payload()) != "hello" || !u.ValidChecksum(p.IPv4(f)) || u.ComputeChecksum(p.IPv4(f)) != u.Checksum() {
		t.Errorf("UDP view: len %d payload %q sum %#04x", u.Length(), u.Payload(), u.Checksum())
	}
	u.SetChecksum(u.Checksum() + 1)
	if u.ValidChecksum(p.IPv4(f)) {
		t.Error("ValidChecksum accepts a wrong checksum")
	}
	u.SetChecksum(0)
	if !u.ValidChecksum(p.IPv4(f)) {
		t.Error("ValidChecksum rejects checksum 0 (none)")
	}
	u.UpdateChecksum(p.IPv4(f))
	frametest.Check(t, f, frametest.SumsOK())

	// The first fragment's UDP length counts every fragment.
	first := frametest.Fragments(frametest.UDP(cip, vip, make([]byte, 3000)), 1500)[0]
	q := decode(t, first)
	if u := q.UDP(first); u.Valid() || u.Length() != 3008 || len(u.Payload()) != 1480-8 {
		t.Errorf("first fragment: Valid %v Length %d Payload %d bytes", u.Valid(), u.Length(), len(u.Payload()))
	}
}
