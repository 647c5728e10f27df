package dataplane

import (
	"testing"

	"lvs/frame"
)

func TestRewriteDirect(t *testing.T) {
	mac1, mac2 := frame.MAC{2, 0, 0, 0, 0, 1}, frame.MAC{2, 0, 0, 0, 0, 2}
	f := make([]byte, 60)
	copy(f[12:], []byte{0x08, 0x00})
	f[14+8] = 64 // TTL, must be untouched
	rewriteDirect(f, mac1, mac2)
	e := frame.Ethernet(f)
	if e.Dst() != mac1 || e.Src() != mac2 || f[14+8] != 64 || e.Type() != frame.EtherTypeIPv4 {
		t.Errorf("rewriteDirect: dst %v src %v ttl %d type %#x", e.Dst(), e.Src(), f[14+8], e.Type())
	}
}
