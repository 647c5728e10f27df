package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExamples parses every file in examples/: each lvs.cf with zero errors
// and zero warnings, each iptables file without errors, and checks that the
// rules of a site cover its firewall marks.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.cf")
	if len(files) < 5 {
		t.Fatalf("found %d example .cf files, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(f, strings.NewReader(string(b)))
			if c == nil || len(realErrors(err)) > 0 {
				t.Fatalf("Parse: %v", err)
			}
			// IPv6 examples are round-tripped as IPv6 ones
			// (TestExamplesIPv6 pins what they hold).
			hasIPv6 := c.NATRouter6.IsValid() || slices.ContainsFunc(c.Virtuals, (*Virtual).IsIPv6)
			if len(c.Warnings) > 0 {
				t.Errorf("warnings: %v", c.Warnings)
			}
			rules := c.Rules(f)
			ipt := strings.TrimSuffix(f, ".cf") + ".iptables"
			if r, err := os.Open(ipt); err == nil {
				got, err := ParseIptables(ipt, r)
				r.Close()
				if err != nil {
					t.Fatalf("ParseIptables: %v", err)
				}
				rules.Merge(got)
			}
			if ws := CheckRules(f, c, rules); len(ws) > 0 {
				t.Errorf("CheckRules: %v", ws)
			}
			if hasIPv6 {
				roundTrip6(t, c)
			} else {
				roundTrip(t, c)
			}
		})
	}
}

// TestExampleNAT pins the figure 1.1 site of the brief.
func TestExampleNAT(t *testing.T) {
	b, err := os.ReadFile("../examples/nat.cf")
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, string(b))
	v := c.Virtuals[0]
	if c.Primary != ip("192.168.26.9") || c.Backup != ip("192.168.26.8") || v.Address != ip("192.168.26.10") ||
		v.Device != "eth0:1" || c.NATRouter != ip("10.11.12.10") || c.NATRouterDevice != "eth1:1" || len(v.Servers) != 3 {
		t.Errorf("nat.cf does not hold the site of figure 1.1: %s", dump(c))
	}
	for i, s := range v.Servers {
		if want := ip("10.11.12." + string(rune('1'+i))); s.Address != want {
			t.Errorf("server %d = %v, want %v", i, s.Address, want)
		}
	}
}
