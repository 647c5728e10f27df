package frame_test

import (
	"bytes"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestVNetHdr(t *testing.T) {
	f, raw := frametest.GSO(cip, vip, frame.ACK, make([]byte, 20000), 1448, frametest.WithVLAN(2))
	v := frame.VNetHdr(raw)
	p := decode(t, f)
	if !v.Valid() || !v.NeedsCsum() || v.Flags() != frame.VNetNeedsCsum || v.GSOType() != frame.VNetGSOTCPv4 ||
		int(v.HdrLen()) != p.Payload || v.GSOSize() != 1448 || int(v.CsumStart()) != p.L4 || v.CsumOffset() != frame.TCPChecksumOffset {
		t.Errorf("VNetHdr %x: flags %d type %d hdr_len %d gso_size %d csum %d+%d; frame L4 %d payload %d",
			raw, v.Flags(), v.GSOType(), v.HdrLen(), v.GSOSize(), v.CsumStart(), v.CsumOffset(), p.L4, p.Payload)
	}
	// SetTCPGSO describes the frame as the sender (frametest.GSO) did.
	w := frame.VNetHdr(make([]byte, frame.VNetHdrLen))
	w.SetTCPGSO(p, 1448)
	if !bytes.Equal(w, raw) {
		t.Errorf("SetTCPGSO = %x, want %x", []byte(w), raw)
	}
	// Completing the partial sum at csum_start/csum_offset gives a valid frame.
	if !frame.CompletePartial(f[:p.End], int(v.CsumStart()), int(v.CsumOffset())) {
		t.Fatal("CompletePartial = false")
	}
	frametest.Check(t, f, frametest.SumsOK())
	w.Clear()
	if !bytes.Equal(w, make([]byte, frame.VNetHdrLen)) || frame.VNetHdr(raw[:9]).Valid() {
		t.Error("Clear or Valid wrong")
	}
}
