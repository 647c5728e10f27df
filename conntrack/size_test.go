package conntrack

import (
	"testing"
	"unsafe"
)

// TestSizes: IPv6 support must not grow what the IPv4 path copies and
// stores: a 64-byte entry (one cache line), a 48-byte Conn.
func TestSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"entry", unsafe.Sizeof(entry{}), 64},
		{"Conn", unsafe.Sizeof(Conn{}), 48},
		{"addr6", unsafe.Sizeof(addr6{}), 48},
		{"shard", unsafe.Sizeof(shard{}), 720},
	} {
		if c.got != c.want {
			t.Errorf("%s is %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}
