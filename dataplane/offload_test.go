package dataplane

import (
	"testing"

	"lvs/frame"
)

func TestVirtioNetHdrRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    Meta
		want Meta // after a round trip
	}{
		{"zero", Meta{}, Meta{}},
		{"partial", Meta{Flags: NeedsCsum, CsumStart: 34, CsumOffset: 6}, Meta{Flags: NeedsCsum, CsumStart: 34, CsumOffset: 6}},
		{"tso", Meta{Flags: NeedsCsum, GSOType: GSOTCPv4 | GSOECN, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
			Meta{Flags: NeedsCsum, GSOType: GSOTCPv4 | GSOECN, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}},
		{"data-valid dropped on transmit", Meta{Flags: DataValid}, Meta{}},
		{"offsets without NeedsCsum dropped", Meta{CsumStart: 34, CsumOffset: 6}, Meta{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, VirtioNetHdrLen)
			for i := range b {
				b[i] = 0xff // PutVirtioNetHdr must overwrite every byte
			}
			tt.m.PutVirtioNetHdr(b)
			if got := DecodeVirtioNetHdr(b); got != tt.want {
				t.Errorf("DecodeVirtioNetHdr(PutVirtioNetHdr(%+v)) = %+v, want %+v", tt.m, got, tt.want)
			}
		})
	}
}

func TestDecodeVirtioNetHdrMatchesFrameView(t *testing.T) {
	b := make([]byte, frame.VNetHdrLen)
	v := frame.VNetHdr(b)
	v.SetTCPGSO(&frame.Parsed{L4: 38, Payload: 70}, 1448)
	want := Meta{Flags: NeedsCsum, GSOType: GSOTCPv4, HdrLen: 70, GSOSize: 1448, CsumStart: 38, CsumOffset: frame.TCPChecksumOffset}
	if got := DecodeVirtioNetHdr(b); got != want {
		t.Errorf("DecodeVirtioNetHdr(frame.VNetHdr.SetTCPGSO) = %+v, want %+v", got, want)
	}
}

func TestMetaShiftAndIsGSO(t *testing.T) {
	m := Meta{Flags: NeedsCsum, GSOType: GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	m.Shift(4)
	if m.CsumStart != 38 || m.HdrLen != 70 || m.CsumOffset != 16 {
		t.Errorf("Shift(4) = %+v, want CsumStart 38, HdrLen 70, CsumOffset 16", m)
	}
	var z Meta
	z.Shift(4)
	if z != (Meta{}) {
		t.Errorf("Shift(4) of the zero Meta = %+v, want it unchanged (no offsets to move)", z)
	}
	for _, tt := range []struct {
		typ  GSOType
		want bool
	}{{GSONone, false}, {GSOECN, false}, {GSOTCPv4, true}, {GSOTCPv6 | GSOECN, true}, {GSOUDPL4, true}} {
		if got := (Meta{GSOType: tt.typ}).IsGSO(); got != tt.want {
			t.Errorf("Meta{GSOType: %#x}.IsGSO() = %v, want %v", tt.typ, got, tt.want)
		}
	}
}
