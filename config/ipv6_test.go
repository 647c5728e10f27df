package config

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// base6 is a minimal IPv6 NAT configuration the IPv6 tests extend.
const base6 = `primary = 192.168.26.9
network = nat
nat_router6 = fd00:11:12::10 eth1:1
nat_nmask6 = 64
`

// wrap6 puts global, virtual and server lines into an IPv6 file: the
// virtual block starts on line 5 plus the global lines.
func wrap6(global, virtual, server string) string {
	return base6 + global + `virtual web6 {
     active = 1
     address = 2001:db8:26::10 eth0:1
` + virtual + `     server web1 {
         address = fd00:11:12::1
         active = 1
` + server + `     }
}
`
}

// isNotYet reports whether e is one of the errors that say an IPv6 part is
// parsed but not yet run by this lvsd.
func isNotYet(e *ParseError) bool {
	return strings.Contains(e.Msg, "are parsed but not yet") && strings.HasSuffix(e.Msg, "by this lvsd")
}

// realErrors returns the errors of err that are not isNotYet.
func realErrors(err error) []*ParseError {
	var out []*ParseError
	for _, e := range Errors(err) {
		if !isNotYet(e) {
			out = append(out, e)
		}
	}
	return out
}

// parse6 parses text and fails on any error other than the not-yet ones.
func parse6(t testing.TB, text string) *Config {
	t.Helper()
	c, err := Parse("test.cf", strings.NewReader(text))
	if es := realErrors(err); c == nil || len(es) > 0 {
		t.Fatalf("Parse: %v\n%s", es, text)
	}
	return c
}

// roundTrip6 is roundTrip for a configuration with IPv6 parts.
func roundTrip6(t testing.TB, c *Config) {
	t.Helper()
	out := Format(c)
	c2, err := Parse("formatted.cf", bytes.NewReader(out))
	if es := realErrors(err); len(es) > 0 {
		t.Fatalf("Parse(Format(c)): %v\n%s", es, out)
	}
	if a, b := stripLines(c), stripLines(c2); !reflect.DeepEqual(a, b) {
		t.Fatalf("Parse(Format(c)) differs from c\nformatted:\n%s\nbefore: %s\nafter:  %s", out, dump(a), dump(b))
	}
}

func TestParseIPv6(t *testing.T) {
	c := parse6(t, wrap6("", "     persistent = 300\n     pmask = 64\n     vip_nmask = 64\n     sorry_server = fd00:11:12::99\n", "         weight = 3\n"))
	v := c.Virtuals[0]
	s := v.Servers[0]
	switch {
	case c.NATRouter6 != ip("fd00:11:12::10") || c.NATRouter6Device != "eth1:1" || c.NATRouter6Interface() != "eth1":
		t.Errorf("nat_router6 = %v %q", c.NATRouter6, c.NATRouter6Device)
	case !c.NATNetmask6.IsPrefixLen() || c.NATNetmask6.Bits() != 64:
		t.Errorf("nat_nmask6 = %v", c.NATNetmask6)
	case !v.IsIPv6() || v.Address != ip("2001:db8:26::10") || v.Device != "eth0:1":
		t.Errorf("address = %v %q", v.Address, v.Device)
	case v.PMask != PrefixLen(64) || v.VIPNetmask != PrefixLen(64):
		t.Errorf("pmask %v vip_nmask %v, want prefix length 64", v.PMask, v.VIPNetmask)
	case v.PMask.Addr() != ip("ffff:ffff:ffff:ffff::") || v.PMask.String() != "64":
		t.Errorf("pmask Addr %v String %q", v.PMask.Addr(), v.PMask.String())
	case v.SorryServer != ip("fd00:11:12::99") || s.Address != ip("fd00:11:12::1") || s.Weight != 3:
		t.Errorf("sorry %v, server %v weight %d", v.SorryServer, s.Address, s.Weight)
	}
	roundTrip6(t, c)

	// pmask 128 is "none", as 255.255.255.255 is for IPv4, and Format
	// writes it back as 128.
	c = parse6(t, wrap6("", "     persistent = 300\n     pmask = 128\n", ""))
	if c.Virtuals[0].PMask.IsValid() {
		t.Errorf("pmask 128 = %v, want unset", c.Virtuals[0].PMask)
	}
	if out := string(Format(c)); !strings.Contains(out, "pmask = 128\n") {
		t.Errorf("Format writes no `pmask = 128`:\n%s", out)
	}
	roundTrip6(t, c)
}

// TestIPv4Unchanged checks that IPv4 files mean what they meant: dotted
// masks stay netmasks, and a prefix length stays an error for IPv4.
func TestIPv4Unchanged(t *testing.T) {
	c := mustParse(t, wrap("", "     persistent = 300\n     pmask = 255.255.255.0\n     vip_nmask = 255.255.255.0\n", ""))
	v := c.Virtuals[0]
	if v.PMask != NetmaskBits(24) || v.VIPNetmask != NetmaskBits(24) || v.PMask.IsPrefixLen() || v.PMask.String() != "255.255.255.0" {
		t.Errorf("pmask %v vip_nmask %v, want the netmask 255.255.255.0", v.PMask, v.VIPNetmask)
	}
	c = mustParse(t, wrap("", "     persistent = 300\n     pmask = 255.255.255.255\n", ""))
	if c.Virtuals[0].PMask.IsValid() || !strings.Contains(string(Format(c)), "pmask = 255.255.255.255\n") {
		t.Errorf("pmask 255.255.255.255 = %v, want unset and written back", c.Virtuals[0].PMask)
	}
	for _, text := range []string{
		wrap("", "     persistent = 300\n     pmask = 24\n", ""),
		wrap("", "     vip_nmask = 24\n", ""),
		base + "nat_nmask = 24\n",
	} {
		if _, err := Parse("test.cf", strings.NewReader(text)); err == nil {
			t.Errorf("Parse accepted a prefix length for IPv4:\n%s", text)
		}
	}
}

// ipv6Problems are IPv6 configurations and the error (or warning) each
// must produce, at its line.
var ipv6Problems = []struct {
	name    string
	text    string
	line    int
	msg     string
	warning bool
}{
	{"ipv6 nat_router", base6 + "nat_router = fd00:11:12::11 eth1:2\n", 5, "nat_router fd00:11:12::11 is IPv6: nat_router is the IPv4 gateway", false},
	{"ipv4 nat_router6", "primary = 192.168.26.9\nnetwork = nat\nnat_router6 = 10.11.12.10 eth1:1\n", 3, "nat_router6 10.11.12.10 is IPv4", false},
	{"families of primary and backup", base6 + "backup = 2001:db8:26::8\n", 5, "primary 192.168.26.9 and backup 2001:db8:26::8 are of different address families", false},
	{"families of the private pair", base6 + "primary_private = 10.0.0.9\nbackup_private = fd00::8\n", 6, "primary_private 10.0.0.9 and backup_private fd00::8 are of different address families", false},
	{"ipv4 real server behind an ipv6 vip with nat", wrap6("", "     server v4 {\n         address = 10.11.12.1\n     }\n", ""), 9,
		"virtual web6, server v4: an IPv4 real server behind the IPv6 VIP 2001:db8:26::10 needs network = tunnel", false},
	{"ipv6 real server behind an ipv4 vip with direct routing", "primary = 192.168.26.9\nnetwork = direct\nvirtual web {\n     address = 192.168.26.10 eth0:1\n     server s {\n         address = 2001:db8:26::2\n     }\n}\n", 6,
		"an IPv6 real server behind the IPv4 VIP 192.168.26.10 needs network = tunnel", false},
	{"sorry server of another family", wrap6("", "     sorry_server = 10.11.12.99\n", ""), 8, "the IPv4 sorry_server 10.11.12.99 cannot serve the IPv6 VIP", false},
	{"dotted pmask for ipv6", wrap6("", "     persistent = 60\n     pmask = 255.255.255.0\n", ""), 9, "pmask of an IPv6 virtual server is a prefix length like 64 (as ipvsadm -M 64), got 255.255.255.0", false},
	{"dotted vip_nmask for ipv6", wrap6("", "     vip_nmask = 255.255.255.0\n", ""), 8, "vip_nmask of an IPv6 virtual server is a prefix length", false},
	{"prefix-length pmask for ipv4", wrap("", "     persistent = 60\n     pmask = 24\n", ""), 9, "pmask of an IPv4 virtual server is a netmask like 255.255.255.0, got 24", false},
	{"pmask past 128", wrap6("", "     pmask = 129\n", ""), 8, "pmask: expected an IPv6 prefix length from 0 to 128, got 129", false},
	{"nat_nmask6 past 128", base6 + "nat_nmask6 = 200\n", 5, "nat_nmask6: expected an IPv6 prefix length from 0 to 128, got 200", false},
	{"link-local vip", wrap6("", "", "") + "virtual ll {\n     address = fe80::1 eth0\n}\n", 14, "address: expected a global or unique-local IPv6 address, got the link-local fe80::1", false},
	{"zone", base6 + "backup = fd00::8%eth0\n", 5, "backup: expected an IPv6 address without a zone, got fd00::8%eth0", false},
	{"ipv4-mapped", base6 + "backup = ::ffff:192.168.26.8\n", 5, "backup: expected an IPv6 address, got the IPv4-mapped ::ffff:192.168.26.8: write 192.168.26.8", false},
	{"multicast", base6 + "backup = ff02::1\n", 5, "backup: expected a unicast IPv6 address, got ff02::1", false},
	{"garbage", base6 + "backup = 2001:db8::zz\n", 5, `backup: expected an IPv4 or IPv6 address like 192.168.26.10 or 2001:db8::10, got "2001:db8::zz"`, false},
	{"nat without nat_router6", "primary = 192.168.26.9\nnetwork = nat\nvirtual web6 {\n     active = 1\n     address = 2001:db8:26::10 eth0:1\n     server s {\n         address = fd00::1\n         active = 1\n     }\n}\n", 2,
		"network = nat with IPv6 real servers needs `nat_router6 = IP DEV`", false},
	{"server is nat_router6", wrap6("", "     server r {\n         address = fd00:11:12::10\n     }\n", ""), 9, "is also nat_router6", false},
	{"rule mixing families", base6 + "fwmark_rule f {\n     mark = 5\n     source = 10.0.0.0/8\n     destination = 2001:db8::/32\n}\n", 8, "fwmark_rule f: source 10.0.0.0/8 and destination 2001:db8::/32 are of different address families", false},
	{"ipv6 rule with host bits", base6 + "masquerade m {\n     source = fd00:11:12::1/64\n}\n", 6, "network fd00:11:12::1/64 has host bits set: expected fd00:11:12::/64", false},
	{"server outside nat_nmask6", wrap6("", "     server far {\n         address = fd00:99::1\n         active = 1\n     }\n", ""), 9,
		"fd00:99::1 is outside the NAT network fd00:11:12::/64 of nat_router6 fd00:11:12::10", true},
	{"nat_router6 without nat", "primary = 192.168.26.9\nnetwork = direct\nnat_router6 = fd00:11:12::10 eth1:1\n", 3, "nat_router6 is only used with network = nat (network is direct)", true},
	{"nat_nmask6 without nat_router6", base + "nat_nmask6 = 64\n", 5, "nat_nmask6 has no effect without nat_router6", true},
	{"ipv6 sorry server behind an ipv4 vip with nat", "primary = 192.168.26.9\nnetwork = nat\nnat_router = 10.11.12.10 eth1:1\nvirtual web {\n     address = 192.168.26.10 eth0:1\n     sorry_server = 2001:db8:26::99\n}\n", 6,
		"virtual web: the IPv6 sorry_server 2001:db8:26::99 cannot serve the IPv4 VIP 192.168.26.10 with network = nat", false},
	{"ipv4 real server behind an ipv6 vip with direct routing", "primary = 192.168.26.9\nnetwork = direct\nvirtual web6 {\n     address = 2001:db8:26::10 eth0:1\n     server v4 {\n         address = 10.11.12.1\n     }\n}\n", 6,
		"virtual web6, server v4: an IPv4 real server behind the IPv6 VIP 2001:db8:26::10 needs network = tunnel (IPVS mixes address families only when tunnelling), network is direct", false},
}

// TestIPv6Runs: what lvsd forwards — IPv6 virtual servers, real servers,
// nat_router6, IPv6 heartbeat addresses, firewall-mark and masquerade
// rules, the FTP helper of an IPv6 NAT service — parses without an error.
func TestIPv6Runs(t *testing.T) {
	for _, text := range []string{
		wrap6("", "", ""),
		"primary = 2001:db8:26::9\nbackup = 2001:db8:26::8\n",
		base6 + "fwmark_rule f {\n     mark = 5\n     destination = 2001:db8:26::10\n}\n",
		base6 + "masquerade m {\n     source = fd00:11:12::/64\n}\n",
		base6 + "masquerade dns {\n     protocol = udp\n     source = fd00:11:12::/64\n     destination = 2001:db8:53::/48\n     dport = 53\n}\n",
		wrap6("", "     port = 21\n     ftp_helper = 1\n", ""),
	} {
		if _, err := Parse("test.cf", strings.NewReader(text)); err != nil {
			t.Errorf("Parse: %v\n%s", err, text)
		}
	}
}

func TestIPv6Problems(t *testing.T) {
	for _, tt := range ipv6Problems {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("test.cf", strings.NewReader(tt.text))
			got := Errors(err)
			if tt.warning && c != nil {
				got = c.Warnings
			}
			for _, e := range got {
				if e.Line == tt.line && strings.Contains(e.Msg, tt.msg) && e.File == "test.cf" {
					return
				}
			}
			what := "error"
			if tt.warning {
				what = "warning"
			}
			t.Errorf("Parse problems = %v\nwant an %s at test.cf:%d containing %q", got, what, tt.line, tt.msg)
		})
	}
}

// TestTunnelMixesFamilies: with the tunnel method IPVS allows real servers
// of the other family; lvsd runs them both ways — IPv4 real servers (and
// sorry server) behind an IPv6 VIP, IPv6 ones behind an IPv4 VIP — so
// that parses without any error and round-trips (an IPv6 virtual server
// without pmask used to come back with a pmask key: Format compared its
// /128 with the IPv4 default).
func TestTunnelMixesFamilies(t *testing.T) {
	for _, tt := range []struct {
		name, vip, sorry, other, same string
	}{
		{"ipv4 behind ipv6", "2001:db8:26::10", "10.11.12.99", "10.11.12.1", "2001:db8:26::2"},
		{"ipv6 behind ipv4", "192.168.26.10", "2001:db8:26::99", "2001:db8:26::1", "10.11.12.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := "primary = 192.168.26.9\nnetwork = tunnel\nvirtual web {\n     active = 1\n     address = " + tt.vip + " eth0:1\n" +
				"     sorry_server = " + tt.sorry + "\n" +
				"     server other {\n         address = " + tt.other + "\n         active = 1\n     }\n" +
				"     server same {\n         address = " + tt.same + "\n         active = 1\n     }\n}\n"
			c, err := Parse("test.cf", strings.NewReader(text))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, text)
			}
			v := c.Virtuals[0]
			if v.Servers[0].Address != ip(tt.other) || v.Servers[1].Address != ip(tt.same) || v.SorryServer != ip(tt.sorry) {
				t.Errorf("servers %v %v, sorry %v", v.Servers[0].Address, v.Servers[1].Address, v.SorryServer)
			}
			roundTrip6(t, c)
		})
	}
}

func TestParseIp6tables(t *testing.T) {
	text := `# Generated by ip6tables-save
*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -d 2001:db8:26::10/128 -p tcp -m multiport --dports 80,443 -j MARK --set-xmark 0x56/0xffffffff
-A PREROUTING -p udp --dport 53 -j MARK --set-mark 53
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s fd00:11:12::/64 -o eth0 -j MASQUERADE
COMMIT
/sbin/ip6tables -t mangle -A PREROUTING -s 2001:db8::/32 -j MARK --set-mark 7
`
	r, err := ParseIp6tables("rules.v6", strings.NewReader(text))
	if r == nil {
		t.Fatalf("ParseIp6tables = nil, %v", err)
	}
	if err != nil {
		t.Errorf("ParseIp6tables: %v (MARK and MASQUERADE rules both run)", err)
	}
	want := []MarkRule{
		{Match: Match{Proto: ProtoTCP, Dst: pfx("2001:db8:26::10/128"), DPortLo: 80, DPortHi: 80, IPv6: true}, Mark: 0x56, File: "rules.v6", Line: 4},
		{Match: Match{Proto: ProtoTCP, Dst: pfx("2001:db8:26::10/128"), DPortLo: 443, DPortHi: 443, IPv6: true}, Mark: 0x56, File: "rules.v6", Line: 4},
		{Match: Match{Proto: ProtoUDP, DPortLo: 53, DPortHi: 53, IPv6: true}, Mark: 53, File: "rules.v6", Line: 5},
		{Match: Match{Src: pfx("2001:db8::/32"), IPv6: true}, Mark: 7, File: "rules.v6", Line: 11},
	}
	if !reflect.DeepEqual(r.Marks, want) {
		t.Errorf("Marks =\n%+v\nwant\n%+v", r.Marks, want)
	}
	wantMasq := []MasqRule{{Match: Match{Src: pfx("fd00:11:12::/64"), Iface: "eth0", IPv6: true}, File: "rules.v6", Line: 9}}
	if !reflect.DeepEqual(r.Masquerades, wantMasq) {
		t.Errorf("Masquerades =\n%+v\nwant\n%+v", r.Masquerades, wantMasq)
	}
	// An IPv4 address in an ip6tables file, and an IPv6 one in an
	// iptables file, are errors naming the line.
	for _, tt := range []struct {
		parse func(string, *strings.Reader) (*Rules, error)
		text  string
		msg   string
	}{
		{func(n string, r *strings.Reader) (*Rules, error) { return ParseIp6tables(n, r) },
			"*mangle\n-A PREROUTING -d 192.168.26.10 -j MARK --set-mark 1\nCOMMIT\n", `-d: expected an IPv6 address or network like 2001:db8::/64, got "192.168.26.10"`},
		{func(n string, r *strings.Reader) (*Rules, error) { return ParseIptables(n, r) },
			"*mangle\n-A PREROUTING -d 2001:db8::1 -j MARK --set-mark 1\nCOMMIT\n", `-d: expected an IPv4 address or network like 10.11.12.0/24, got "2001:db8::1"`},
	} {
		_, err := tt.parse("x", strings.NewReader(tt.text))
		found := false
		for _, e := range Errors(err) {
			found = found || e.Line == 2 && strings.Contains(e.Msg, tt.msg)
		}
		if !found {
			t.Errorf("errors = %v, want one at line 2 containing %q", err, tt.msg)
		}
	}
}

// TestRuleBlocksIPv6: an IPv6 rule block gives rules marked IPv6, and a
// masquerade rule is checked against the IPv6 NAT network.
func TestRuleBlocksIPv6(t *testing.T) {
	c := parse6(t, base6+"fwmark_rule f {\n     mark = 5\n     protocol = tcp\n     destination = 2001:db8:26::10\n     dport = 80\n}\n"+
		"masquerade m {\n     source = fd00:99::/64\n}\n")
	r := c.Rules("test.cf")
	if len(r.Marks) != 1 || !r.Marks[0].IPv6 || r.Marks[0].Dst != pfx("2001:db8:26::10/128") {
		t.Errorf("Marks = %+v", r.Marks)
	}
	if out := string(Format(c)); !strings.Contains(out, "destination = 2001:db8:26::10\n") {
		t.Errorf("Format does not write the /128 as a bare address:\n%s", out)
	}
	ws := CheckRules("test.cf", c, r)
	found := false
	for _, w := range ws {
		found = found || strings.Contains(w.Msg, "masquerade rule for source fd00:99::/64 does not cover the NAT network fd00:11:12::/64 of nat_router6")
	}
	if !found {
		t.Errorf("CheckRules = %v, want the IPv6 masquerade warning", ws)
	}
	roundTrip6(t, c)
}

// TestExamplesIPv6 runs the IPv6 examples through what `lvsd -t` runs
// (Parse, Rules, CheckRules) and pins what they hold and which not-yet
// errors they give.
func TestExamplesIPv6(t *testing.T) {
	tests := []struct {
		file        string
		notYetLines []int
		check       func(c *Config) bool
	}{
		{"../examples/nat6.cf", nil, func(c *Config) bool {
			v := c.Virtuals[0]
			return c.NATRouter6 == ip("fd00:11:12::10") && v.Address == ip("2001:db8:26::10") && v.PMask == PrefixLen(64) &&
				len(v.Servers) == 3 && v.Servers[2].Address == ip("fd00:11:12::3") && v.Servers[2].Weight == 2
		}},
		{"../examples/dual-stack.cf", nil, func(c *Config) bool {
			v4, v6 := c.Virtual("web4"), c.Virtual("web6")
			return v4 != nil && v6 != nil && v4.Address == ip("192.168.26.10") && v6.Address == ip("2001:db8:26::10") &&
				v4.PMask == NetmaskBits(24) && v6.PMask == PrefixLen(64) && c.NATRouter == ip("10.11.12.10") &&
				c.NATRouter6 == ip("fd00:11:12::10") && len(c.FWMarkRules) == 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(tt.file, bytes.NewReader(b))
			if c == nil {
				t.Fatalf("Parse: %v", err)
			}
			var lines []int
			for _, e := range Errors(err) {
				if !isNotYet(e) {
					t.Errorf("error %v", e)
				}
				lines = append(lines, e.Line)
			}
			if !reflect.DeepEqual(lines, tt.notYetLines) {
				t.Errorf("not-yet errors on lines %v, want %v", lines, tt.notYetLines)
			}
			if len(c.Warnings) > 0 {
				t.Errorf("warnings: %v", c.Warnings)
			}
			if ws := CheckRules(tt.file, c, c.Rules(tt.file)); len(ws) > 0 {
				t.Errorf("CheckRules: %v", ws)
			}
			if !tt.check(c) {
				t.Errorf("%s does not hold the site it describes: %s", tt.file, dump(c))
			}
			roundTrip6(t, c)
		})
	}
}

// FuzzParseIp6tables: ParseIp6tables never panics, every rule it returns
// is IPv6 with IPv6 addresses only, and every error is a *ParseError.
func FuzzParseIp6tables(f *testing.F) {
	f.Add([]byte("*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 2001:db8::10/128 -p tcp --dport 80 -j MARK --set-mark 80\nCOMMIT\n"))
	f.Add([]byte("*nat\n-A POSTROUTING -s fd00::/64 -o eth0 -j MASQUERADE\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseIp6tables("fuzz.rules", bytes.NewReader(data))
		if err != nil && !errors.Is(err, ErrInvalid) {
			return // an I/O-level error (a line too long)
		}
		if r == nil {
			t.Fatal("ParseIp6tables returned no rules and no I/O error")
		}
		ms := append([]Match{}, func() []Match {
			var out []Match
			for _, m := range r.Marks {
				out = append(out, m.Match)
			}
			for _, m := range r.Masquerades {
				out = append(out, m.Match)
			}
			return out
		}()...)
		for _, m := range ms {
			if !m.IPv6 || m.Src.IsValid() && !m.Src.Addr().Is6() || m.Dst.IsValid() && !m.Dst.Addr().Is6() ||
				m.DPortLo > m.DPortHi || m.SPortLo > m.SPortHi {
				t.Fatalf("accepted a bad IPv6 rule %+v from %q", m, data)
			}
		}
	})
}
