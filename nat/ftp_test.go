package nat

import (
	"net/netip"
	"testing"
)

func TestParsePASV(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = no match
		span Span
	}{
		{"227 Entering Passive Mode (10,11,12,1,39,16).\r\n", "10.11.12.1:10000", Span{27, 43}},
		{"227 Entering Passive Mode 10,11,12,1,39,16\r\n", "10.11.12.1:10000", Span{26, 42}},
		{"227 =192,168,26,10,78,32\r\n", "192.168.26.10:20000", Span{5, 24}},
		{"227 Entering Passive Mode (10,11,12,1,39).\r\n", "", Span{}},
		{"227 Entering Passive Mode (10,11,12,256,39,16).\r\n", "", Span{}},
		{"227 Entering Passive Mode (10,11,12,1,0,0).\r\n", "", Span{}},
		{"226 Transfer complete (1,2,3,4,5,6)\r\n", "", Span{}},
		{"227 no numbers here\r\n(1,2,3,4,5,6)", "", Span{}},
		{"227 (1,2,3,4,5,6", "1.2.3.4:1286", Span{5, 16}},
	}
	for _, tt := range tests {
		ap, sp, ok := ParsePASV([]byte(tt.in))
		if tt.want == "" {
			if ok {
				t.Errorf("ParsePASV(%q) = %v, want no match", tt.in, ap)
			}
			continue
		}
		if !ok || ap.String() != tt.want || sp != tt.span {
			t.Errorf("ParsePASV(%q) = %v %v %v, want %s %v", tt.in, ap, sp, ok, tt.want, tt.span)
		}
	}
}

func TestParseEPSV(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"229 Entering Extended Passive Mode (|||10000|)\r\n", 10000},
		{"229 Entering Extended Passive Mode (!!!65535!)\r\n", 65535},
		{"229 Entering Extended Passive Mode (|||65536|)\r\n", 0},
		{"229 Entering Extended Passive Mode (||1|10000|)\r\n", 0},
		{"229 Entering Extended Passive Mode (|||10000)\r\n", 0},
		{"229 (|||10000", 0},
		{"227 (|||10000|)", 0},
	}
	for _, tt := range tests {
		p, ok := ParseEPSV([]byte(tt.in))
		if ok != (tt.want != 0) || p != tt.want {
			t.Errorf("ParseEPSV(%q) = %d, %v; want %d", tt.in, p, ok, tt.want)
		}
	}
}

func TestParsePORTAndEPRT(t *testing.T) {
	ap, sp, ok := ParsePORT([]byte("PORT 203,0,113,11,156,65\r\n"))
	if !ok || ap.String() != "203.0.113.11:40001" || sp != (Span{5, 24}) {
		t.Errorf("ParsePORT = %v %v %v", ap, sp, ok)
	}
	if _, _, ok := ParsePORT([]byte("port  1,2,3,4,5,6\r\n")); !ok {
		t.Errorf("ParsePORT rejected a lower-case verb and two spaces")
	}
	for _, bad := range []string{"PORT 1,2,3,4,5\r\n", "PASV\r\n", "PORT 1,2,3,4,5,x\r\n", "PORT"} {
		if _, _, ok := ParsePORT([]byte(bad)); ok {
			t.Errorf("ParsePORT(%q) matched", bad)
		}
	}
	ap2, ok := ParseEPRT([]byte("EPRT |1|203.0.113.11|40001|\r\n"))
	if !ok || ap2.String() != "203.0.113.11:40001" {
		t.Errorf("ParseEPRT = %v %v", ap2, ok)
	}
	for _, tc := range []struct{ in, want string }{
		{"EPRT |2|2001:db8:113::11|40001|\r\n", "[2001:db8:113::11]:40001"},
		{"eprt !2!1080::8:800:200C:417A!5282!\r\n", "[1080::8:800:200c:417a]:5282"}, // RFC 2428's example, another delimiter
	} {
		if ap, ok := ParseEPRT([]byte(tc.in)); !ok || ap.String() != tc.want {
			t.Errorf("ParseEPRT(%q) = %v %v, want %s", tc.in, ap, ok, tc.want)
		}
	}
	for _, bad := range []string{"EPRT |3|::1|40001|\r\n", "EPRT |2|203.0.113.11|40001|\r\n", "EPRT |2|::ffff:203.0.113.11|40001|\r\n",
		"EPRT |2|fe80::1%eth0|40001|\r\n", "EPRT |2|2001:db8::zz|40001|\r\n", "EPRT |2|2001:db8::11|0|\r\n", "EPRT |2|2001:db8::11|40001\r\n",
		"EPRT |2||40001|\r\n", "EPRT |1|203.0.113|40001|\r\n", "EPRT |1|203.0.113.11|40001\r\n",
		"EPRT |1|203.0.113.11|0|\r\n", "EPRT ", "EPRT |1|1.2.3.4|"} {
		if _, ok := ParseEPRT([]byte(bad)); ok {
			t.Errorf("ParseEPRT(%q) matched", bad)
		}
	}
}

func TestRewritePASV(t *testing.T) {
	in := "227 Entering Passive Mode (10,11,12,1,39,16).\r\n"
	ap, sp, ok := ParsePASV([]byte(in))
	if !ok {
		t.Fatal("no match")
	}
	repl := AppendHostPort(nil, netip.AddrPortFrom(netip.MustParseAddr("192.168.26.10"), ap.Port()))
	buf := make([]byte, 100)
	off := 7
	copy(buf[off:], in)
	n := Splice(buf, off, len(in), sp, repl)
	want := "227 Entering Passive Mode (192,168,26,10,39,16).\r\n"
	if got := string(buf[off : off+n]); got != want {
		t.Errorf("rewritten %q, want %q", got, want)
	}
	// Shrinking works too.
	n2 := Splice(buf, off, n, Span{sp.Start, sp.Start + len(repl)}, []byte("1,2,3,4,39,16"))
	if got := string(buf[off : off+n2]); got != "227 Entering Passive Mode (1,2,3,4,39,16).\r\n" {
		t.Errorf("shrunk to %q", got)
	}
	if n := testing.AllocsPerRun(100, func() {
		var b [HostPortMaxLen]byte
		ParsePASV([]byte(in))
		AppendHostPort(b[:0], ap)
	}); n != 0 {
		t.Errorf("parse and format allocate %v times", n)
	}
}

func TestSeqAdj(t *testing.T) {
	var s SeqAdj
	if s.Seq(1000) != 1000 || s.Ack(1000) != 1000 || !s.Zero() {
		t.Fatalf("a zero correction changed numbers")
	}
	// The segment at 1000 (50 bytes) grew by 4: it keeps its number, the
	// following ones move by 4, and acks of them move back.
	s.Resize(1000, 4)
	tests := []struct {
		name      string
		seq, want uint32
	}{
		{"resized segment", 1000, 1000},
		{"retransmission before", 900, 900},
		{"next segment", 1050, 1054},
	}
	for _, tt := range tests {
		if got := s.Seq(tt.seq); got != tt.want {
			t.Errorf("%s: Seq(%d) = %d, want %d", tt.name, tt.seq, got, tt.want)
		}
	}
	if got := s.Ack(1054); got != 1050 {
		t.Errorf("Ack(1054) = %d, want 1050", got)
	}
	if got := s.Ack(1000); got != 1000 {
		t.Errorf("Ack(1000) = %d, want 1000", got)
	}
	// A second resize later in the stream accumulates.
	s.Resize(2000, 3)
	if got := s.Seq(2100); got != 2107 {
		t.Errorf("after two resizes Seq(2100) = %d, want 2107", got)
	}
	if got := s.Seq(2000); got != 2004 {
		t.Errorf("second resized segment Seq(2000) = %d, want 2004", got)
	}
	if got := s.Ack(2107); got != 2100 {
		t.Errorf("Ack(2107) = %d, want 2100", got)
	}
	// A retransmission of the first resized segment does not move the
	// position back.
	s.Resize(1000, 4)
	if s.Pos != 2000 {
		t.Errorf("retransmission moved Pos to %d", s.Pos)
	}
	// Wrap-around.
	var w SeqAdj
	w.Resize(0xfffffff0, 5)
	if got := w.Seq(0x10); got != 0x15 {
		t.Errorf("Seq across the wrap = %#x, want 0x15", got)
	}
}

func TestHelperExpectations(t *testing.T) {
	h := NewHelper()
	c := client.Addr()
	v := netip.AddrPortFrom(vip, 12000)
	r := netip.MustParseAddrPort("10.11.12.1:12000")
	h.ExpectPassive(c, v, r, Stats{}, 0)
	if _, _, ok := h.TakePassive(netip.MustParseAddr("203.0.113.99"), v, 1); ok {
		t.Errorf("another client took the expectation")
	}
	if got, _, ok := h.TakePassive(c, v, 1); !ok || got != r {
		t.Errorf("TakePassive = %v, %v; want %v", got, ok, r)
	}
	if _, _, ok := h.TakePassive(c, v, 1); ok {
		t.Errorf("an expectation was taken twice")
	}
	h.ExpectActive(r.Addr(), client, netip.AddrPortFrom(vip, 20), Stats{}, 0)
	if _, _, ok := h.TakeActive(r.Addr(), client, 10*60*1000); ok {
		t.Errorf("an expectation outlived its timeout")
	}
	k := CtlKey{Client: client, Virtual: netip.AddrPortFrom(vip, 21)}
	if h.Ctl(k, false, 0) != nil {
		t.Errorf("Ctl without create made a state")
	}
	ctl := h.Ctl(k, true, 0)
	ctl.ResizeOut(100, 4)
	if got := h.Ctl(k, false, 1).Out(); got.After != 4 {
		t.Errorf("Ctl state lost: %+v", got)
	}
}

func TestHelperForget(t *testing.T) {
	h := NewHelper()
	k := CtlKey{Client: client, Virtual: netip.AddrPortFrom(vip, 21)}
	h.Ctl(k, true, 0).ResizeOut(100, 4)
	h.Forget(k)
	if h.Ctl(k, false, 0) != nil {
		t.Errorf("Forget kept the state")
	}
	if n, _ := h.Len(); n != 0 {
		t.Errorf("Len = %d control connections after Forget, want 0", n)
	}
}
