// Package man holds the manual pages; its tests check that they render
// without warnings and that every option of the commands is documented.
package man

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pages are the manual pages make install ships.
var pages = []string{"lvsd.8", "lvsadm.8", "lvssim.1", "lvs.cf.5"}

// TestRender formats each page with groff at the strictest warning level
// (-ww) and with man -l, as an administrator would read it: no warning, no
// error, and some text.
func TestRender(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff is not installed (apt-get install groff-base)")
	}
	for _, page := range pages {
		t.Run(page, func(t *testing.T) {
			var out, errb bytes.Buffer
			cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P", "-cbou", page)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil || errb.Len() > 0 {
				t.Fatalf("groff -man -Tutf8 -ww %s: %v\n%s", page, err, errb.String())
			}
			if !strings.Contains(out.String(), "NAME") || out.Len() < 1000 {
				t.Errorf("groff rendered %d bytes without a NAME section", out.Len())
			}
			man, err := exec.LookPath("man")
			if err != nil {
				return
			}
			out.Reset()
			errb.Reset()
			cmd = exec.Command(man, "--warnings=w", "-l", "-Tutf8", page)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil || errb.Len() > 0 {
				t.Errorf("man -l %s: %v\n%s", page, err, errb.String())
			}
		})
	}
}

// source reads a file of the repository.
func source(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// roff spells an option as a man page source does: dashes escaped.
func roff(opt string) string {
	return strings.ReplaceAll(opt, "-", `\-`)
}

// documented fails for every option of names missing from page.
func documented(t *testing.T, page string, opts []string) {
	t.Helper()
	text := source(t, filepath.Join("docs", "man", page))
	for _, o := range opts {
		if !strings.Contains(text, roff(o)) {
			t.Errorf("%s does not document %s", page, o)
		}
	}
}

// dashed turns flag names into options: "t" → "-t", "config" → "--config".
func dashed(names []string) []string {
	var out []string
	for _, n := range names {
		if len(n) == 1 {
			out = append(out, "-"+n)
		} else {
			out = append(out, "--"+n)
		}
	}
	return out
}

var flagDef = regexp.MustCompile(`fs\.\w*Var\([^,]+,\s*"([\w-]+)"`)

// flagNames returns the flags a flag.FlagSet in src defines.
func flagNames(t *testing.T, src string) []string {
	t.Helper()
	var names []string
	for _, m := range flagDef.FindAllStringSubmatch(src, -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatal("found no flag definitions: has the command's parser changed form?")
	}
	return names
}

// TestLvsdOptions checks lvsd.8 against the flags cmd/lvsd defines.
func TestLvsdOptions(t *testing.T) {
	documented(t, "lvsd.8", dashed(flagNames(t, source(t, "cmd/lvsd/main.go"))))
}

// TestLvssimOptions checks lvssim.1 against the flags and commands of
// cmd/lvssim (the hidden responder command excepted).
func TestLvssimOptions(t *testing.T) {
	src := source(t, "cmd/lvssim/main.go")
	if i := strings.Index(src, "func responder("); i > 0 {
		src = src[:i]
	}
	documented(t, "lvssim.1", dashed(flagNames(t, src)))
	text := source(t, "docs/man/lvssim.1")
	cmds := regexp.MustCompile(`case ("run".*):`).FindStringSubmatch(src)
	if cmds == nil {
		t.Fatal(`no case "run", …: in cmd/lvssim/main.go`)
	}
	for _, c := range strings.Split(cmds[1], ",") {
		c = strings.Trim(strings.TrimSpace(c), `"`)
		if !regexp.MustCompile(`(?m)^\.BR? ` + c + `\b`).MatchString(text) {
			t.Errorf("lvssim.1 has no entry for the %s command", c)
		}
	}
}

// TestLvsadmOptions checks lvsadm.8 against ipvsadm's option table that
// lvsadm parses (admin/ipvsadm/parse.go): every long and short option.
func TestLvsadmOptions(t *testing.T) {
	src := source(t, "admin/ipvsadm/parse.go")
	var opts []string
	for _, m := range regexp.MustCompile(`\{"([\w-]+)", (?:'(\w)'|0), arg\w+\}`).FindAllStringSubmatch(src, -1) {
		opts = append(opts, "--"+m[1])
		if m[2] != "" {
			opts = append(opts, "-"+m[2])
		}
	}
	if len(opts) < 40 {
		t.Fatalf("found %d options in admin/ipvsadm/parse.go; has the option table changed form?", len(opts))
	}
	documented(t, "lvsadm.8", opts)
}
