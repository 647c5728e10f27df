package frame_test

import (
	"bytes"
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestFragmentIPv4(t *testing.T) {
	src := netip.MustParseAddrPort("203.0.113.7:4000")
	dst := netip.MustParseAddrPort("10.11.12.1:53")
	tests := []struct {
		name    string
		payload int
		mtu     int
		want    []int // the fragments' IP total lengths
	}{
		// a 3028-byte datagram: 3008 bytes of IP payload, 1480 per fragment.
		{"udp 3000 over 1500", 3000, 1500, []int{1500, 1500, 20 + 48}},
		{"one byte over", 1473, 1500, []int{1500, 20 + 1}},
		// 1400 − 20 = 1380, rounded down to 1376; 2008 = 1376 + 632.
		{"mtu 1400", 2000, 1400, []int{1396, 20 + 632}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := frametest.UDP(src, dst, bytes.Repeat([]byte{0xab}, tt.payload))
			frames, bufs := fragBufs(len(tt.want), tt.mtu)
			if k := frame.FragmentIPv4(frames, bufs, in, tt.mtu); k != len(tt.want) {
				t.Fatalf("FragmentIPv4 = %d fragments, want %d", k, len(tt.want))
			}
			var whole []byte
			for i, f := range frames {
				h := frame.IPv4(f[frame.EthernetLen:])
				last := i == len(frames)-1
				if h.TotalLen() != tt.want[i] || len(f) != frame.EthernetLen+tt.want[i] || !h.ValidChecksum() ||
					h.MF() == last || h.DF() || h.ID() != frame.IPv4(in[frame.EthernetLen:]).ID() || h.FragOffset() != len(whole) {
					t.Errorf("fragment %d: total %d, checksum ok %v, MF %v, offset %d; want total %d, MF %v, offset %d",
						i, h.TotalLen(), h.ValidChecksum(), h.MF(), h.FragOffset(), tt.want[i], !last, len(whole))
				}
				frametest.Check(t, f, frametest.SrcAddr(src.Addr()), frametest.DstAddr(dst.Addr()))
				whole = append(whole, h[frame.IPv4MinLen:h.TotalLen()]...)
			}
			if orig := in[frame.EthernetLen+frame.IPv4MinLen:]; !bytes.Equal(whole, orig) {
				t.Errorf("reassembled payload (%d bytes) differs from the datagram's (%d bytes)", len(whole), len(orig))
			}
		})
	}
}

func TestFragmentIPv4Refuses(t *testing.T) {
	src := netip.MustParseAddrPort("203.0.113.7:4000")
	dst := netip.MustParseAddrPort("10.11.12.1:53")
	big := make([]byte, 3000)
	for _, tt := range []struct {
		name string
		in   []byte
		bufs int
	}{
		{"DF set", frametest.UDP(src, dst, big, frametest.WithDF()), 3},
		{"IP options", frametest.UDP(src, dst, big, frametest.WithIPOptions(1)), 3},
		{"too few buffers", frametest.UDP(src, dst, big), 2},
		{"not IPv4", frametest.ARPRequest(frame.MAC{2}, src.Addr(), dst.Addr()), 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			frames, bufs := fragBufs(tt.bufs, 1500)
			if k := frame.FragmentIPv4(frames, bufs, tt.in, 1500); k != 0 {
				t.Errorf("FragmentIPv4 = %d, want 0", k)
			}
		})
	}
}

func TestFragmentIPv4NoAllocs(t *testing.T) {
	in := frametest.UDP(netip.MustParseAddrPort("203.0.113.7:4000"), netip.MustParseAddrPort("10.11.12.1:53"), make([]byte, 3000))
	frames, bufs := fragBufs(3, 1500)
	if n := testing.AllocsPerRun(100, func() { frame.FragmentIPv4(frames, bufs, in, 1500) }); n != 0 {
		t.Errorf("FragmentIPv4 allocates %v times, want 0", n)
	}
}
