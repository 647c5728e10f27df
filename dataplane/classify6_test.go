package dataplane

import (
	"net/netip"
	"testing"

	"lvs/frame"
	"lvs/internal/frametest"
)

func TestClassifierIPv6Rules(t *testing.T) {
	c := NewClassifier([]MarkRule{
		{Proto: 6, Dst: netip.MustParsePrefix("2001:db8:26::10/128"), DPortLo: 80, DPortHi: 80, InPort: -1, Mark: 86},
		{Proto: 6, Dst: netip.MustParsePrefix("2001:db8:26::10/128"), DPortLo: 443, DPortHi: 443, InPort: -1, Mark: 86},
		{Src: netip.MustParsePrefix("2001:db8:99::/48"), InPort: 0, Mark: 7},
		{Proto: 17, DPortLo: 53, DPortHi: 53, InPort: -1, Mark: 53, IPv6: true}, // ip6tables -p udp --dport 53
		{Proto: 17, DPortLo: 53, DPortHi: 53, InPort: -1, Mark: 4},              // iptables: IPv4 only
	})
	client := netip.MustParseAddrPort("[2001:db8:98::5]:40000")
	inside := netip.MustParseAddrPort("[2001:db8:99:ff::5]:40000")
	tests := []struct {
		name   string
		frame  []byte
		inPort int
		want   uint32
	}{
		{"http", frametest.TCP(client, netip.MustParseAddrPort("[2001:db8:26::10]:80"), frame.SYN, nil), 0, 86},
		{"https", frametest.TCP(client, netip.MustParseAddrPort("[2001:db8:26::10]:443"), frame.SYN, nil), 0, 86},
		{"other port", frametest.TCP(client, netip.MustParseAddrPort("[2001:db8:26::10]:81"), frame.SYN, nil), 0, 0},
		{"other vip", frametest.TCP(client, netip.MustParseAddrPort("[2001:db8:26::11]:80"), frame.SYN, nil), 0, 0},
		{"source /48 on port 0 (last match wins)", frametest.TCP(inside, netip.MustParseAddrPort("[2001:db8:26::10]:80"), frame.SYN, nil), 0, 7},
		{"source /48 on port 1", frametest.TCP(inside, netip.MustParseAddrPort("[2001:db8:26::10]:80"), frame.SYN, nil), 1, 86},
		{"udp 53 over IPv6", frametest.UDP(client, netip.MustParseAddrPort("[2001:db8:26::10]:53"), nil), 0, 53},
	}
	var p frame.Parsed
	for _, tt := range tests {
		p.Decode(tt.frame)
		if got := c.Mark6(&p, tt.inPort); got != tt.want {
			t.Errorf("%s: Mark6 = %d, want %d", tt.name, got, tt.want)
		}
		if got := c.Mark(&p, tt.inPort); got != 0 {
			t.Errorf("%s: the IPv4 Mark of an IPv6 frame = %d, want 0", tt.name, got)
		}
	}
	// IPv6 rules never mark IPv4 frames: an IPv6 prefix is not "any".
	p.Decode(frametest.TCP(netip.MustParseAddrPort("198.51.100.1:40000"), netip.MustParseAddrPort("192.168.26.10:80"), frame.SYN, nil))
	if got := c.Mark(&p, 0); got != 0 {
		t.Errorf("IPv4 SYN marked %d by IPv6 rules", got)
	}
	p.Decode(frametest.UDP(netip.MustParseAddrPort("198.51.100.1:4000"), netip.MustParseAddrPort("192.168.26.10:53"), nil))
	if got := c.Mark(&p, 0); got != 4 {
		t.Errorf("IPv4 UDP 53 marked %d, want 4 (the iptables rule only)", got)
	}
}
