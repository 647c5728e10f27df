package frame_test

import (
	"bytes"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

// fragBufs returns k buffers for frames of an egress MTU mtu.
func fragBufs(k, mtu int) (frames, bufs [][]byte) {
	for range k {
		bufs = append(bufs, make([]byte, frame.EthernetLen+mtu))
	}
	return make([][]byte, k), bufs
}

func TestFragmentIPIP(t *testing.T) {
	tests := []struct {
		name    string
		payload int
		mtu     int
		want    []int // the fragments' outer total lengths
	}{
		// 3028-byte datagram, 1480 bytes of it per fragment (a multiple of 8).
		{"udp 3000 over 1500", 3000, 1500, []int{1500, 1500, 20 + 68}},
		// One byte over: a second fragment of 1 byte... of the inner's tail.
		{"just over", 1453, 1500, []int{1500, 20 + 1}},
		// An MTU that is not 20 plus a multiple of 8 rounds the data down.
		{"odd mtu", 1000, 1006, []int{1004, 20 + 44}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := frametest.UDP(cip, vip, bytes.Repeat([]byte{0xa5}, tc.payload), frametest.WithTTL(9), frametest.WithTOS(0x2b))
			var p frame.Parsed
			p.Decode(f)
			in := f[p.L3:p.End]
			frames, bufs := fragBufs(4, tc.mtu)
			k := frame.FragmentIPIP(frames, bufs, in, tc.mtu, mac2, mac1, dirAddr, rip.Addr(), 0x4242)
			if k != len(tc.want) || frame.IPIPFragments(len(in), tc.mtu) != k {
				t.Fatalf("FragmentIPIP = %d fragments (IPIPFragments %d), want %d", k, frame.IPIPFragments(len(in), tc.mtu), len(tc.want))
			}
			var got []byte
			for i, fr := range frames[:k] {
				e := frame.Ethernet(fr)
				if e.Dst() != mac2 || e.Src() != mac1 || e.Type() != frame.EtherTypeIPv4 {
					t.Errorf("fragment %d: Ethernet %v → %v type %#x", i, e.Src(), e.Dst(), e.Type())
				}
				h := frame.IPv4(fr[frame.EthernetLen:])
				last := i == k-1
				switch {
				case h.TotalLen() != tc.want[i] || len(fr) != frame.EthernetLen+tc.want[i]:
					t.Errorf("fragment %d: total length %d (frame %d), want %d", i, h.TotalLen(), len(fr), tc.want[i])
				case h.TotalLen() > tc.mtu:
					t.Errorf("fragment %d: %d bytes over an MTU of %d", i, h.TotalLen(), tc.mtu)
				case h.Protocol() != frame.ProtoIPIP || h.Src() != dirAddr || h.Dst() != rip.Addr() || h.ID() != 0x4242:
					t.Errorf("fragment %d: proto %d %v → %v id %#x", i, h.Protocol(), h.Src(), h.Dst(), h.ID())
				case h.DF() || h.MF() == last || h.FragOffset() != len(got):
					t.Errorf("fragment %d: DF %v MF %v offset %d, want no DF, MF %v, offset %d", i, h.DF(), h.MF(), h.FragOffset(), !last, len(got))
				case !h.ValidChecksum() || h.TTL() != 9 || h.TOS() != 0x2a:
					t.Errorf("fragment %d: checksum ok %v, TTL %d, TOS %#x; want valid, 9, 0x2a", i, h.ValidChecksum(), h.TTL(), h.TOS())
				case !last && (h.TotalLen()-frame.IPv4MinLen)%8 != 0:
					t.Errorf("fragment %d carries %d bytes, not a multiple of 8", i, h.TotalLen()-frame.IPv4MinLen)
				}
				got = append(got, fr[frame.IPIPInner:]...)
			}
			if !bytes.Equal(got, in) {
				t.Errorf("the fragments reassemble to %d bytes that differ from the %d-byte inner datagram", len(got), len(in))
			}
		})
	}
}

func TestFragmentIPIPRefuses(t *testing.T) {
	df := frametest.UDP(cip, vip, make([]byte, 3000), frametest.WithDF())
	ok := frametest.UDP(cip, vip, make([]byte, 3000))
	tests := []struct {
		name string
		f    []byte
		nbuf int
		size int
	}{
		{"df set", df, 3, 1500},
		{"too few buffers", ok, 2, 1500},
		{"buffers too small", ok, 3, 1400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.f[frame.EthernetLen:]
			frames, bufs := fragBufs(tc.nbuf, tc.size)
			if k := frame.FragmentIPIP(frames, bufs, in, 1500, mac2, mac1, dirAddr, rip.Addr(), 1); k != 0 {
				t.Errorf("FragmentIPIP = %d, want 0", k)
			}
		})
	}
}

func TestFragmentIPIPNoAllocs(t *testing.T) {
	f := frametest.UDP(cip, vip, make([]byte, 3000))
	in := f[frame.EthernetLen:]
	frames, bufs := fragBufs(3, 1500)
	if a := testing.AllocsPerRun(100, func() { frame.FragmentIPIP(frames, bufs, in, 1500, mac2, mac1, dirAddr, rip.Addr(), 1) }); a != 0 {
		t.Errorf("FragmentIPIP allocs = %v, want 0", a)
	}
}
