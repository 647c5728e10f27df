package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func seedFiles(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(p)
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
}

// FuzzParse: Parse never panics, and whatever it accepts round-trips
// through Format to an equal configuration and a stable text.
func FuzzParse(f *testing.F) {
	seedFiles(f, "testdata/*.cf", "../examples/*.cf")
	f.Add([]byte("primary = 1.2.3.4\nvirtual a {\n address = 1.2.3.5 eth0:1\n dirs = [ x ]\n}\n"))
	f.Add([]byte("virtual \"a b\" {\n  send = 'x\"y'\n}\r\n}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.cf", bytes.NewReader(data))
		if c == nil || len(realErrors(err)) > 0 {
			return // only IPv6's "not yet" errors are allowed: the rest must round-trip
		}
		out := Format(c)
		c2, err := Parse("formatted.cf", bytes.NewReader(out))
		if len(realErrors(err)) > 0 {
			t.Fatalf("Parse(Format(c)) failed: %v\ninput:\n%q\nformatted:\n%s", err, data, out)
		}
		if a, b := stripLines(c), stripLines(c2); !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip differs\ninput: %q\nformatted:\n%s\nbefore: %s\nafter:  %s", data, out, dump(a), dump(b))
		}
		if out2 := Format(c2); !bytes.Equal(out, out2) {
			t.Fatalf("Format not stable:\n%s\n---\n%s", out, out2)
		}
	})
}

// FuzzParseIptables: ParseIptables never panics, every accepted MARK rule
// has a mark, and port ranges are ordered.
func FuzzParseIptables(f *testing.F) {
	seedFiles(f, "../examples/*.iptables", "testdata/*.iptables")
	f.Add([]byte("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 10.0.0.0/8 -p tcp --sport 20 -j MASQUERADE\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseIptables("fuzz.rules", bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, m := range r.Marks {
			if m.Mark == 0 || m.DPortLo > m.DPortHi || m.SPortLo > m.SPortHi {
				t.Fatalf("accepted a bad MARK rule %+v from %q", m, data)
			}
		}
		for _, m := range r.Masquerades {
			if m.DPortLo > m.DPortHi || m.SPortLo > m.SPortHi {
				t.Fatalf("accepted a bad MASQUERADE rule %+v from %q", m, data)
			}
		}
	})
}
