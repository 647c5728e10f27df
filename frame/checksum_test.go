package frame_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"lvs/frame"
)

// naiveSum is RFC 1071 two bytes at a time, the reference for Sum.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// same reports whether two folded sums are equal in ones' complement
// arithmetic, where 0 and 0xffff both mean zero.
func same(a, b uint16) bool { return a == b || a == 0 && b == 0xffff || a == 0xffff && b == 0 }

func TestSumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 3000)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := 0; n < 300; n++ {
		for _, init := range []uint32{0, 0xffff, 0x1234_5678, 0xffff_ffff} {
			b := buf[:n]
			w := uint32(naiveSum(b)) + init>>16 + init&0xffff
			w = w>>16 + w&0xffff
			want := uint16(w>>16 + w&0xffff)
			if got := frame.Fold(frame.Sum(b, init)); !same(got, want) {
				t.Fatalf("Fold(Sum(%d bytes, %#x)) = %#04x, want %#04x", n, init, got, want)
			}
		}
	}
	// All ones: the carries must wrap around many times.
	ff := make([]byte, 65536)
	for i := range ff {
		ff[i] = 0xff
	}
	if got := frame.Fold(frame.Sum(ff, 0)); got != 0xffff {
		t.Errorf("Fold(Sum(64 KB of 0xff)) = %#04x, want 0xffff", got)
	}
}

// TestRFC1624Example is the example of RFC 1624 §4: HC = 0xdd2f, m =
// 0x5555 → m' = 0x3285 gives HC' = 0x0000 by eqn. 3 (eqn. 2 gives 0xffff).
func TestRFC1624Example(t *testing.T) {
	if got := frame.Update16(0xdd2f, 0x5555, 0x3285); got != 0x0000 {
		t.Errorf("Update16(0xdd2f, 0x5555, 0x3285) = %#04x, want 0x0000", got)
	}
}

// TestUpdateMatchesRecompute changes random words of random data and
// compares the incremental update with a full recomputation.
func TestUpdateMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 64)
	for i := 0; i < 20000; i++ {
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		sum := ^naiveSum(b)
		off := 2 * r.IntN(len(b)/2-1)
		var o, n [4]byte
		copy(o[:], b[off:])
		binary.BigEndian.PutUint32(n[:], r.Uint32())
		if i%3 == 0 {
			copy(n[:], o[:]) // no change must keep the sum
		}
		got16 := frame.Update16(sum, binary.BigEndian.Uint16(o[:]), binary.BigEndian.Uint16(n[:]))
		got32 := frame.Update32(sum, o, n)
		c := append([]byte(nil), b...)
		copy(c[off:], n[:2])
		if want := ^naiveSum(c); !same(got16, want) {
			t.Fatalf("Update16 = %#04x, want %#04x", got16, want)
		}
		copy(c[off:], n[:])
		if want := ^naiveSum(c); !same(got32, want) {
			t.Fatalf("Update32 = %#04x, want %#04x", got32, want)
		}
		// Partial: the field holds the non-inverted sum.
		p := naiveSum(b)
		if got, want := frame.UpdatePartial32(p, o, n), naiveSum(c); !same(got, want) {
			t.Fatalf("UpdatePartial32 = %#04x, want %#04x", got, want)
		}
		copy(c[off:], b[off:off+4])
		copy(c[off:], n[:2])
		if got, want := frame.UpdatePartial16(p, binary.BigEndian.Uint16(o[:]), binary.BigEndian.Uint16(n[:])), naiveSum(c); !same(got, want) {
			t.Fatalf("UpdatePartial16 = %#04x, want %#04x", got, want)
		}
	}
}

// TestPartialUpdateDiffers shows why the partial update is separate: the
// normal update applied to a partial field gives a wrong checksum.
func TestPartialUpdateDiffers(t *testing.T) {
	p := uint16(0x1234)
	o, n := [4]byte{10, 0, 0, 1}, [4]byte{192, 168, 7, 9}
	if frame.Update32(p, o, n) == frame.UpdatePartial32(p, o, n) {
		t.Errorf("Update32 and UpdatePartial32 agree on %#04x: test data does not tell them apart", p)
	}
}

func TestCompletePartialBounds(t *testing.T) {
	b := make([]byte, 40)
	tests := []struct {
		name          string
		start, offset int
		want          bool
	}{
		{"ok", 20, 16, true},
		{"field at end", 20, 18, true},
		{"field past end", 20, 19, false},
		{"start past end", 41, 0, false},
		{"negative", -1, 0, false},
		{"negative offset", 0, -2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := frame.CompletePartial(b, tt.start, tt.offset); got != tt.want {
				t.Errorf("CompletePartial(40 bytes, %d, %d) = %v, want %v", tt.start, tt.offset, got, tt.want)
			}
		})
	}
}
