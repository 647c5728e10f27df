package dataplane_test

import (
	"bytes"
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/ipvs"
)

// A datagram without DF that is too big once encapsulated is sent in
// fragments of the outer packet, as IPVS does (ip_vs_tunnel_xmit, then
// ip_fragment), not dropped; the real server reassembles the IPIP packet.
func TestTunnelFragmentsWithoutDF(t *testing.T) {
	for _, payload := range []int{1441, 1460} { // one byte over; a full-sized segment
		s := newTunnelSite(t, 4096)
		s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
		s.run(0) // drain: the SYN went to rip1
		big := frametest.TCP(client, web, frame.ACK, bytes.Repeat([]byte{0x5a}, payload), frametest.WithSrcMAC(gwMAC), frametest.WithTTL(64))
		inner := bytes.Clone(big[frame.EthernetLen:])
		out := s.run(0, big)
		if len(out[0]) != 0 {
			t.Errorf("payload %d: %d frames answered to the client, want none (no DF: no fragmentation needed)", payload, len(out[0]))
		}
		if len(out[1]) != 2 {
			t.Fatalf("payload %d: %d frames to rip1, want 2 outer fragments (counters %+v)", payload, len(out[1]), dataplane.Sum(&s.w.C))
		}
		var got []byte
		for i, f := range out[1] {
			if len(f) > frame.EthernetLen+1500 {
				t.Errorf("fragment %d: %d-byte frame over the 1500 MTU", i, len(f))
			}
			h := frame.IPv4(f[frame.EthernetLen:])
			if h.Protocol() != frame.ProtoIPIP || h.Src() != prvOwn || h.Dst() != rip1 || !h.ValidChecksum() ||
				h.MF() != (i == 0) || h.FragOffset() != len(got) || h.DF() {
				t.Errorf("fragment %d: proto %d %v → %v MF %v offset %d DF %v", i, h.Protocol(), h.Src(), h.Dst(), h.MF(), h.FragOffset(), h.DF())
			}
			if e := frame.Ethernet(f); e.Dst() != rip1MAC || e.Src() != privMAC {
				t.Errorf("fragment %d: %v → %v, want %v → %v", i, e.Src(), e.Dst(), privMAC, rip1MAC)
			}
			got = append(got, f[frame.IPIPInner:h.TotalLen()+frame.EthernetLen]...)
		}
		// Reassembled: the client's datagram with its TTL decremented.
		frametest.Check(t, append(bytes.Clone(big[:frame.EthernetLen]), got...), frametest.TTL(63), frametest.DstAddr(vip), frametest.SumsOK())
		if len(got) != len(inner) || !bytes.Equal(got[20:], inner[20:]) {
			t.Errorf("payload %d: reassembled %d bytes, want the client's %d", payload, len(got), len(inner))
		}
		d := s.table.Service(ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}).Dest(rip1, 80)
		if d.C.InPkts.Load() != 2 { // the SYN and the big segment, once
			t.Errorf("payload %d: rip1 InPkts = %d, want 2", payload, d.C.InPkts.Load())
		}
		if c := dataplane.Sum(&s.w.C); c.Drops[dataplane.DropTooBig] != 0 {
			t.Errorf("payload %d: too_big drops %d, want 0", payload, c.Drops[dataplane.DropTooBig])
		}
	}
}

func TestTunnelFragmentNoAllocs(t *testing.T) {
	s := newTunnelSite(t, 1) // a queue of one frame: writes past it are dropped and recycled
	s.run(0, frametest.TCP(client, web, frame.SYN, nil, frametest.WithSrcMAC(gwMAC)))
	big := frametest.TCP(client, web, frame.ACK, make([]byte, 1460), frametest.WithSrcMAC(gwMAC))
	buf := make([]byte, len(big))
	frames, meta := [][]byte{nil}, make([]dataplane.Meta, 1)
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, big)
		frames[0] = buf
		s.w.Process(frames, meta, now)
	}); n != 0 {
		t.Fatalf("Process of a datagram sent in outer fragments allocs = %v, want 0", n)
	}
}
