package keepalived

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	dr := filepath.Join("testdata", "dr.conf")
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring; "" for empty output
		stderr     string // substring
		wantOutput bool   // stdout must be non-empty
	}{
		{"help", []string{"--help"}, 0, "Usage: lvsadm import-keepalived", "", true},
		{"no file", nil, 2, "", "expected one keepalived.conf, got 0 arguments", false},
		{"bad address", []string{"--primary", "eth0", dr}, 2, "", `--primary: expected an IPv4 address, got "eth0"`, false},
		{"missing file", []string{"testdata/none.conf"}, 1, "", "reading testdata/none.conf", false},
		{"no router address", []string{dr}, 1, "", "testdata/dr.conf:5: vrrp_instance VI_1: cannot tell the primary router's public address", false},
		{"one error", []string{dr}, 1, "", "import-keepalived: 1 error in testdata/dr.conf: nothing written", false},
		{"converted", []string{"--primary", "192.0.2.2", "--backup", "192.0.2.3", dr}, 0, "virtual tcp_192.0.2.100_80 {",
			"warning: testdata/dr.conf:42: virtual_server 192.0.2.100 80, real_server 192.0.2.11 80: HTTP_GET: url digest", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Command(tt.args, &out, &errb)
			if code != tt.code {
				t.Errorf("Command(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.code, errb.String())
			}
			if tt.wantOutput != (out.Len() > 0) || !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("Command(%q) stdout:\n%s\nwant it to hold %q", tt.args, out.String(), tt.stdout)
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("Command(%q) stderr:\n%s\nwant it to hold %q", tt.args, errb.String(), tt.stderr)
			}
		})
	}
}

// TestCommandOutput checks -o: the file is written and the one it replaces
// is kept as .bak.
func TestCommandOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "lvs.cf")
	if err := os.WriteFile(out, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Command([]string{"-o", out, filepath.Join("testdata", "nat.conf")}, &stdout, &stderr); code != 0 {
		t.Fatalf("Command -o = %d; stderr:\n%s", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("Command -o printed %q to stdout", stdout.String())
	}
	got, err := os.ReadFile(out)
	want, _ := os.ReadFile(filepath.Join("testdata", "nat.cf.golden"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s = %q (%v), want testdata/nat.cf.golden", out, got, err)
	}
	if bak, err := os.ReadFile(out + ".bak"); err != nil || string(bak) != "old\n" {
		t.Errorf("%s.bak = %q (%v), want the old file", out, bak, err)
	}
}
