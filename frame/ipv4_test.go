package frame_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestIPv4Accessors(t *testing.T) {
	f := frametest.UDP(cip, vip, make([]byte, 3000), frametest.WithID(0x4242), frametest.WithTOS(0xb8),
		frametest.WithTTL(17), frametest.WithIPOptions(2))
	frags := frametest.Fragments(f, 1500)
	tests := []struct {
		name               string
		f                  []byte
		hl, total, off     int
		mf, df, frag       bool
		optLen, payloadLen int
	}{
		{"whole", f, 32, 3040, 0, false, false, false, 12, 3008},
		{"first fragment", frags[0], 32, 32 + 1464, 0, true, false, true, 12, 1464},
		{"last fragment", frags[2], 32, 32 + 3008 - 2*1464, 2928, false, false, true, 12, 3008 - 2*1464},
		{"df", frametest.TCP(cip, vip, frame.ACK, nil, frametest.WithDF()), 20, 40, 0, false, true, false, 0, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := frame.IPv4(tt.f[14:])
			if !ip.Valid() || !ip.ValidChecksum() {
				t.Fatalf("Valid = %v, ValidChecksum = %v", ip.Valid(), ip.ValidChecksum())
			}
			got := []any{ip.HeaderLen(), ip.TotalLen(), ip.FragOffset(), ip.MF(), ip.DF(), ip.IsFragment(), len(ip.Options()), len(ip.Payload())}
			want := []any{tt.hl, tt.total, tt.off, tt.mf, tt.df, tt.frag, tt.optLen, tt.payloadLen}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("accessor %d (HeaderLen, TotalLen, FragOffset, MF, DF, IsFragment, Options, Payload) = %v, want %v", i, got[i], want[i])
				}
			}
			if ip.Src() != cip.Addr() || ip.Dst() != vip.Addr() {
				t.Errorf("addresses %v → %v", ip.Src(), ip.Dst())
			}
			if ip.ComputeChecksum() != ip.Checksum() {
				t.Errorf("ComputeChecksum = %#04x, field %#04x", ip.ComputeChecksum(), ip.Checksum())
			}
		})
	}
	ip := frame.IPv4(f[14:])
	if ip.ID() != 0x4242 || ip.TOS() != 0xb8 || ip.TTL() != 17 || ip.Protocol() != frame.ProtoUDP {
		t.Errorf("ID %#x TOS %#x TTL %d proto %d", ip.ID(), ip.TOS(), ip.TTL(), ip.Protocol())
	}
	// An ICMP quote: header valid, datagram not.
	q := frame.IPv4(f[14 : 14+40])
	if !q.ValidHeader() || q.Valid() || len(q.Payload()) != 8 {
		t.Errorf("quote: ValidHeader %v Valid %v Payload %d bytes", q.ValidHeader(), q.Valid(), len(q.Payload()))
	}
}

// TestDecTTLKeepsChecksum decrements the TTL of headers with random
// contents and compares the patched checksum with a recomputation,
// covering the end-around carry of ip_decrease_ttl.
func TestDecTTLKeepsChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	h := frame.IPv4(make([]byte, 20))
	carries := 0
	for i := 0; i < 200000; i++ {
		binary.BigEndian.PutUint64(h[0:], r.Uint64())
		binary.BigEndian.PutUint64(h[8:], r.Uint64())
		binary.BigEndian.PutUint32(h[16:], r.Uint32())
		h[0] = 0x45
		h[8] = byte(2 + r.IntN(254))
		h.UpdateChecksum()
		if h.Checksum() >= 0xff00 {
			carries++
		}
		ttl := h.TTL()
		if !h.DecTTL() || h.TTL() != ttl-1 || !h.ValidChecksum() {
			t.Fatalf("DecTTL at %d: TTL %d, checksum %#04x valid %v", ttl, h.TTL(), h.Checksum(), h.ValidChecksum())
		}
	}
	if carries == 0 {
		t.Error("no checksum near 0xffff tested: the carry path is untested")
	}
	h[8] = 1
	if h.DecTTL() || h.TTL() != 1 {
		t.Error("DecTTL at TTL 1 changed the header or returned true")
	}
}

func TestIPv4Setters(t *testing.T) {
	f := frametest.TCP(cip, vip, frame.SYN, nil)
	ip := frame.IPv4(f[14:54])
	ip.SetTotalLen(40)
	ip.SetID(9)
	ip.SetTTL(3)
	frametest.Check(t, f, frametest.SumsOK(), frametest.IPID(9), frametest.TTL(3))
}
