package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// base is a minimal valid configuration the key tests extend.
const base = `primary = 192.168.26.9
network = nat
nat_router = 10.11.12.10 eth1:1
nat_nmask = 255.255.255.0
`

// wrap puts global lines, virtual lines and server lines into a file.
func wrap(global, virtual, server string) string {
	return base + global + `virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
` + virtual + `     server web1 {
         address = 10.11.12.1
         active = 1
` + server + `     }
}
`
}

func mustParse(t testing.TB, text string) *Config {
	t.Helper()
	c, err := Parse("test.cf", strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return c
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// stripLines clears what legitimately differs between a parsed file and
// the same configuration reparsed from Format: line numbers and warnings.
func stripLines(c *Config) *Config {
	cp := *c
	cp.Warnings = nil
	strip := func(vs []*Virtual) []*Virtual {
		var out []*Virtual
		for _, v := range vs {
			vv := *v
			vv.Line = 0
			vv.Servers = nil
			for _, s := range v.Servers {
				ss := *s
				ss.Line = 0
				vv.Servers = append(vv.Servers, &ss)
			}
			out = append(out, &vv)
		}
		return out
	}
	cp.Virtuals, cp.Failovers = strip(c.Virtuals), strip(c.Failovers)
	cp.FWMarkRules, cp.Masquerades = nil, nil
	for _, b := range c.FWMarkRules {
		bb := *b
		bb.Line = 0
		cp.FWMarkRules = append(cp.FWMarkRules, &bb)
	}
	for _, b := range c.Masquerades {
		bb := *b
		bb.Line = 0
		cp.Masquerades = append(cp.Masquerades, &bb)
	}
	return &cp
}

// roundTrip checks that Parse(Format(c)) equals c, line numbers aside.
func roundTrip(t testing.TB, c *Config) {
	t.Helper()
	out := Format(c)
	c2, err := Parse("formatted.cf", strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("Parse(Format(c)): %v\n%s", err, out)
	}
	if a, b := stripLines(c), stripLines(c2); !reflect.DeepEqual(a, b) {
		t.Fatalf("Parse(Format(c)) differs from c\nformatted:\n%s\nbefore: %s\nafter:  %s", out, dump(a), dump(b))
	}
}

func dump(c *Config) string {
	var b strings.Builder
	cp := *c
	cp.Virtuals, cp.Failovers, cp.FWMarkRules, cp.Masquerades = nil, nil, nil, nil
	fmt.Fprintf(&b, "%+v\n", cp)
	for _, v := range append(append([]*Virtual{}, c.Virtuals...), c.Failovers...) {
		vv := *v
		vv.Servers = nil
		fmt.Fprintf(&b, "  %+v\n", vv)
		for _, s := range v.Servers {
			fmt.Fprintf(&b, "    %+v\n", *s)
		}
	}
	for _, r := range c.FWMarkRules {
		fmt.Fprintf(&b, "  %+v\n", *r)
	}
	for _, r := range c.Masquerades {
		fmt.Fprintf(&b, "  %+v\n", *r)
	}
	return b.String()
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
