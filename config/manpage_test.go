package config

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestManPage keeps docs/man/lvs.cf.5 in step with the key tables: every
// key is documented, and the EXTENSIONS section lists exactly the
// extension keys of Extensions.
func TestManPage(t *testing.T) {
	b, err := os.ReadFile("../docs/man/lvs.cf.5")
	if err != nil {
		t.Fatal(err)
	}
	man := string(b)
	all := append(append(append(allNames(globalKeys), allNames(virtualKeys)...), allNames(serverKeys)...), allNames(markKeys)...)
	for _, k := range all {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(k) + `\b`).MatchString(man) {
			t.Errorf("lvs.cf.5 does not mention key %q", k)
		}
	}
	start := strings.Index(man, ".SH EXTENSIONS")
	end := strings.Index(man[start+1:], ".SH ")
	if start < 0 || end < 0 {
		t.Fatal("lvs.cf.5 has no EXTENSIONS section")
	}
	ext := man[start : start+1+end]
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^\.BI "([a-z_0-9]+) = "`).FindAllStringSubmatch(ext, -1) {
		documented = append(documented, m[1])
	}
	var want []string
	for _, e := range Extensions() {
		switch e.Block {
		case "global", "virtual", "server":
			if e.Key != "fwmark_rule" && e.Key != "masquerade" {
				want = append(want, e.Key)
			}
		}
		if !strings.Contains(ext, e.Key) {
			t.Errorf("EXTENSIONS section does not mention %s key %q", e.Block, e.Key)
		}
	}
	slices.Sort(documented)
	slices.Sort(want)
	if !slices.Equal(documented, want) {
		t.Errorf("EXTENSIONS section documents %v, the code's extensions are %v", documented, want)
	}
}
