package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestGuardRuleset(t *testing.T) {
	spec := GuardSpec{
		Interfaces: []string{"eth1", "eth0", "eth0"},
		Owned:      []netip.Addr{netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("10.11.12.10"), netip.MustParseAddr("192.168.26.10")},
		Reals:      []netip.Prefix{netip.MustParsePrefix("10.11.12.1/32"), netip.MustParsePrefix("10.11.12.0/24"), netip.MustParsePrefix("10.11.13.5/32")},
		Local:      []netip.Addr{netip.MustParseAddr("10.11.12.9"), netip.MustParseAddr("192.168.26.9")},
	}
	g, err := spec.guard()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"eth0", "eth1"}; !slices.Equal(g.Interfaces, want) {
		t.Errorf("guard().Interfaces = %v, want %v (one chain per distinct interface)", g.Interfaces, want)
	}
	got := g.String()
	for _, want := range []string{
		"table netdev lvsd {",
		"elements = { 10.11.12.10, 192.168.26.10 }",
		"elements = { 10.11.12.0/24, 10.11.13.5/32 }", // 10.11.12.1/32 is inside 10.11.12.0/24
		"elements = { 10.11.12.9, 192.168.26.9 }",
		"set reals {\n\t\ttype ipv4_addr\n\t\tflags interval\n",
		`chain in0 {` + "\n\t\ttype filter hook ingress device \"eth0\" priority -500; policy accept;",
		`chain in1 {` + "\n\t\ttype filter hook ingress device \"eth1\" priority -500; policy accept;",
		"ip daddr @owned counter meta mark set 0x6c767364 meta pkttype set other",
		"ip saddr @reals ip daddr != @local counter meta mark set 0x6c767364 meta pkttype set other",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ruleset lacks %q; got:\n%s", want, got)
		}
	}
	if strings.Count(got, "chain ") != 2 {
		t.Errorf("want one chain per distinct interface; got:\n%s", got)
	}
}

func TestGuardRulesetRejectsBadNames(t *testing.T) {
	tests := []struct {
		name string
		spec GuardSpec
	}{
		{"quote in interface", GuardSpec{Interfaces: []string{`eth0"; flush ruleset; "`}}},
		{"long interface", GuardSpec{Interfaces: []string{"abcdefghijklmnop"}}},
		{"empty interface", GuardSpec{Interfaces: []string{""}}},
		{"bad table", GuardSpec{Table: "a b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.spec.guard(); err == nil {
				t.Errorf("guard() accepted %+v", tt.spec)
			}
		})
	}
}

func TestPrefixesDropNested(t *testing.T) {
	in := []netip.Prefix{
		netip.MustParsePrefix("10.11.12.1/32"), netip.MustParsePrefix("10.11.12.0/24"),
		netip.MustParsePrefix("10.11.13.5/32"), netip.MustParsePrefix("10.11.12.77/32"),
		netip.MustParsePrefix("10.11.0.0/16"), netip.MustParsePrefix("192.168.1.9/32"),
		netip.MustParsePrefix("192.168.1.9/32"), netip.MustParsePrefix("::1/128"),
	}
	got := prefixes(in)
	want := []string{"10.11.0.0/16", "192.168.1.9/32"}
	if !slices.Equal(got, want) {
		t.Errorf("prefixes = %v, want %v", got, want)
	}
}
