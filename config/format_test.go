package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestFormatGolden formats each testdata/*.cf and compares it with its
// .golden file (go test -update rewrites them). A file already in the
// guide's layout must come back byte for byte: its golden file equals it.
func TestFormatGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.cf")
	if len(files) == 0 {
		t.Fatal("no testdata/*.cf files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := mustParse(t, string(in))
			got := Format(c)
			golden := strings.TrimSuffix(f, ".cf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Format(%s) differs from %s:\n%s", f, golden, got)
			}
			if strings.HasPrefix(filepath.Base(f), "guide-") && !bytes.Equal(got, in) {
				t.Errorf("Format(%s) does not reproduce the guide-style file byte for byte:\n%s", f, got)
			}
			roundTrip(t, c)
			if again := Format(mustParse(t, string(got))); !bytes.Equal(again, got) {
				t.Errorf("Format is not idempotent on %s", f)
			}
		})
	}
}

// TestFormatBuiltInCode formats a configuration made without Parse.
func TestFormatBuiltInCode(t *testing.T) {
	c := NewConfig()
	c.Primary = ip("192.168.26.9")
	c.NATRouter, c.NATRouterDevice, c.NATNetmask = ip("10.11.12.10"), "eth1:1", NetmaskBits(24)
	v := NewVirtual("web")
	v.Active, v.Address, v.Device = true, ip("192.168.26.10"), "eth0:1"
	v.Send = "GET / HTTP/1.0\\r\\n\\r\\n"
	s := NewServer("web1")
	s.Address, s.Active = ip("10.11.12.1"), true
	v.Servers = []*Server{s}
	c.Virtuals = []*Virtual{v}
	want := `primary = 192.168.26.9
service = lvs
network = nat
nat_router = 10.11.12.10 eth1:1
nat_nmask = 255.255.255.0
virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
     send = "GET / HTTP/1.0\r\n\r\n"
     server web1 {
         address = 10.11.12.1
         active = 1
     }
}
`
	if got := string(Format(c)); got != want {
		t.Errorf("Format = \n%s\nwant\n%s", got, want)
	}
	if w, err := Validate(c); err != nil || len(w) != 0 {
		t.Errorf("Validate = %v, %v; want no problems", w, err)
	}
}

func TestQuoteValue(t *testing.T) {
	tests := []struct {
		in     string
		always bool
		want   string
	}{
		{"eth0", false, "eth0"},
		{"eth0", true, `"eth0"`},
		{"a b", false, `"a b"`},
		{"", false, `""`},
		{`say "hi"`, false, `'say "hi"'`},
		{"#x", false, `"#x"`},
	}
	for _, tt := range tests {
		if got := quoteValue(tt.in, tt.always); got != tt.want {
			t.Errorf("quoteValue(%q, %v) = %s, want %s", tt.in, tt.always, got, tt.want)
		}
	}
}
