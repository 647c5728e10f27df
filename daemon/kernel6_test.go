package daemon

import (
	"net/netip"
	"strings"
	"testing"
)

func TestGuardRuleset6(t *testing.T) {
	spec := GuardSpec{
		Interfaces: []string{"eth0"},
		Owned:      []netip.Addr{netip.MustParseAddr("2001:db8:26::10"), netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("2001:db8:26::10")},
		Reals: []netip.Prefix{netip.MustParsePrefix("fd00:11:12::1/128"), netip.MustParsePrefix("fd00:11:12::/64"),
			netip.MustParsePrefix("fd00:11:13::5/128"), netip.MustParsePrefix("10.11.12.1/32")},
		Local: []netip.Addr{netip.MustParseAddr("fd00:11:12::9"), netip.MustParseAddr("::ffff:10.11.12.9")},
	}
	g, err := spec.guard()
	if err != nil {
		t.Fatal(err)
	}
	got := g.String()
	for _, want := range []string{
		"set owned6 {\n\t\ttype ipv6_addr\n\t\telements = { 2001:db8:26::10 }",
		"set reals6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { fd00:11:12::/64, fd00:11:13::5/128 }", // ::1 is inside the /64
		"set local6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\telements = { fd00:11:12::9/128, ff00::/8 }",
		"elements = { 192.168.26.10 }",
		"elements = { 10.11.12.9 }", // the IPv4-mapped address is an IPv4 one
		"ip6 daddr @owned6 counter meta mark set 0x6c767364 meta pkttype set other",
		"ip6 saddr @reals6 ip6 daddr != @local6 counter meta mark set 0x6c767364 meta pkttype set other",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ruleset lacks %q; got:\n%s", want, got)
		}
	}
	if a := lastAddr6(netip.MustParsePrefix("fd00:11:12::/64")); a != netip.MustParseAddr("fd00:11:12::ffff:ffff:ffff:ffff") {
		t.Errorf("lastAddr6(fd00:11:12::/64) = %v", a)
	}
}
