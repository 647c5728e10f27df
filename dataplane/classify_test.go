package dataplane

import (
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestClassifierGuideRules(t *testing.T) {
	vip := netip.MustParsePrefix("192.168.26.10/32")
	// The guide's §3.4 and §3.5 rules: HTTP+HTTPS → 80, FTP control and
	// the passive range → 21.
	c := NewClassifier([]MarkRule{
		{Proto: 6, Dst: vip, DPortLo: 80, DPortHi: 80, InPort: -1, Mark: 80},
		{Proto: 6, Dst: vip, DPortLo: 443, DPortHi: 443, InPort: -1, Mark: 80},
		{Proto: 6, Dst: vip, DPortLo: 21, DPortHi: 21, InPort: -1, Mark: 21},
		{Proto: 6, Dst: vip, DPortLo: 10000, DPortHi: 20000, InPort: -1, Mark: 21},
		{Proto: 17, Src: netip.MustParsePrefix("10.0.0.0/8"), InPort: 1, Mark: 7},
	})
	client := netip.MustParseAddrPort("203.0.113.5:40000")
	tests := []struct {
		name   string
		frame  []byte
		inPort int
		want   uint32
	}{
		{"http", frametest.TCP(client, netip.MustParseAddrPort("192.168.26.10:80"), frame.SYN, nil), 0, 80},
		{"https", frametest.TCP(client, netip.MustParseAddrPort("192.168.26.10:443"), frame.SYN, nil), 0, 80},
		{"ftp", frametest.TCP(client, netip.MustParseAddrPort("192.168.26.10:21"), frame.SYN, nil), 0, 21},
		{"passive low", frametest.TCP(client, netip.MustParseAddrPort("192.168.26.10:10000"), frame.SYN, nil), 0, 21},
		{"passive high", frametest.TCP(client, netip.MustParseAddrPort("192.168.26.10:20000"), frame.SYN, nil), 0, 21},
		{"above range", frametest.TCP(client, netip.MustParseAddrPort("192.168.26.10:20001"), frame.SYN, nil), 0, 0},
		{"other vip", frametest.TCP(client, netip.MustParseAddrPort("192.168.26.11:80"), frame.SYN, nil), 0, 0},
		{"udp to 80", frametest.UDP(client, netip.MustParseAddrPort("192.168.26.10:80"), nil), 0, 0},
		{"udp from 10/8 on port 1", frametest.UDP(netip.MustParseAddrPort("10.1.2.3:5"), netip.MustParseAddrPort("1.1.1.1:53"), nil), 1, 7},
		{"udp from 10/8 on port 0", frametest.UDP(netip.MustParseAddrPort("10.1.2.3:5"), netip.MustParseAddrPort("1.1.1.1:53"), nil), 0, 0},
	}
	var p frame.Parsed
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Decode(tt.frame)
			if got := c.Mark(&p, tt.inPort); got != tt.want {
				t.Errorf("Mark = %d, want %d", got, tt.want)
			}
		})
	}
	p.Decode(tests[0].frame)
	if n := testing.AllocsPerRun(1000, func() { c.Mark(&p, 0) }); n != 0 {
		t.Errorf("Mark allocs = %v, want 0", n)
	}
}

func TestClassifierLastMatchWins(t *testing.T) {
	c := NewClassifier([]MarkRule{
		{InPort: -1, Mark: 1},
		{Proto: 6, InPort: -1, Mark: 2},
	})
	var p frame.Parsed
	p.Decode(frametest.TCP(netip.MustParseAddrPort("1.2.3.4:1"), netip.MustParseAddrPort("5.6.7.8:2"), frame.ACK, nil))
	if got := c.Mark(&p, 0); got != 2 {
		t.Errorf("Mark = %d, want 2 (iptables MARK does not stop the chain)", got)
	}
	var nilC *Classifier
	if nilC.Mark(&p, 0) != 0 {
		t.Error("nil classifier marked a frame")
	}
}
