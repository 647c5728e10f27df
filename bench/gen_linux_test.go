//go:build linux

package bench

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

// TestFloodRewrite checks that a flood of more flows than it prebuilds
// rewrites each batch into exactly the frames udpFrame builds for those
// flows (source address, port and both checksums), flow after flow, and
// wraps around after the last flow.
func TestFloodRewrite(t *testing.T) {
	p := genPath{srcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, dstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, sources: netip.MustParsePrefix("10.250.1.128/25")}
	dst := netip.MustParseAddrPort("10.250.1.100:9000")
	const flows = 2*floodPortsPerAddr + 777 // three source addresses
	f := newFlood(p, dst, flows)
	if !f.rewrite || len(f.frames) != ringFrames {
		t.Fatalf("newFlood(%d flows): rewrite %v, %d frames; want rewriting %d frames", flows, f.rewrite, len(f.frames), ringFrames)
	}
	for _, start := range []int{0, floodPortsPerAddr - 10, flows - 5} {
		f.next = start
		f.fill(0, genBatch)
		for i := range genBatch {
			flow := (start + i) % flows
			want := udpFrame(p.srcMAC, p.dstMAC, flowSource(p.sources, flow), dst, make([]byte, payloadBytes))
			if !bytes.Equal(f.frames[i], want) {
				t.Fatalf("frame of flow %d after fill = % x, want % x", flow, f.frames[i], want)
			}
		}
	}
	if got := flowSource(p.sources, floodPortsPerAddr+5); got != netip.MustParseAddrPort("10.250.1.129:1029") {
		t.Errorf("flowSource(%d) = %v, want 10.250.1.129:1029", floodPortsPerAddr+5, got)
	}
	small := newFlood(p, dst, 100)
	if small.rewrite || len(small.frames) != 128 {
		t.Errorf("newFlood(100 flows): rewrite %v, %d frames; want 128 prebuilt", small.rewrite, len(small.frames))
	}
	if !bytes.Equal(small.frames[100], small.frames[0]) {
		t.Errorf("prebuilt frame 100 differs from frame 0: flows must repeat")
	}
}
