package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noDefaultIptables points the default rules file at a path that does not
// exist, so the host's /etc/sysconfig/iptables cannot change the result.
func noDefaultIptables(t *testing.T) {
	t.Helper()
	old := defaultIptablesFile
	defaultIptablesFile = filepath.Join(t.TempDir(), "absent")
	t.Cleanup(func() { defaultIptablesFile = old })
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigTestExamples(t *testing.T) {
	noDefaultIptables(t)
	tests := []struct {
		cf, ipt, summary string
	}{
		{"nat.cf", "", "configuration OK: 1 virtual server (1 active), 3 real servers\n"},
		{"direct.cf", "", "configuration OK: 1 virtual server (1 active), 2 real servers\n"},
		{"ftp.cf", "ftp.iptables", "configuration OK: 1 virtual server (1 active), 2 real servers, 2 firewall-mark rules, 1 masquerade rule\n"},
		{"ftp-native.cf", "", "configuration OK: 1 virtual server (1 active), 2 real servers, 2 firewall-mark rules, 1 masquerade rule\n"},
		{"http-https.cf", "http-https.iptables", "configuration OK: 2 virtual servers (2 active), 4 real servers, 2 firewall-mark rules, 0 masquerade rules\n"},
	}
	for _, tt := range tests {
		t.Run(tt.cf, func(t *testing.T) {
			opts := Options{ConfigFile: "../examples/" + tt.cf, ConfigTest: true}
			if tt.ipt != "" {
				opts.IptablesFile = "../examples/" + tt.ipt
			}
			var out, errb bytes.Buffer
			if code := ConfigTest(opts, &out, &errb); code != ExitOK {
				t.Fatalf("ConfigTest = %d, want 0\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
			}
			if out.String() != tt.summary || errb.Len() != 0 {
				t.Errorf("stdout = %q, stderr = %q; want %q and nothing", out.String(), errb.String(), tt.summary)
			}
		})
	}
}

func TestConfigTestReportsEveryProblem(t *testing.T) {
	noDefaultIptables(t)
	cf := writeFile(t, "lvs.cf", `primary = 192.168.26.9
network = direct
keepalive = x
virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
     port = htp
     fwmark = 80
     server a {
          address = 192.168.26.20
          active = 1
     }
}
`)
	ipt := writeFile(t, "iptables", "*mangle\n-A PREROUTING -p tcp -j DROP\nCOMMIT\n")
	var out, errb bytes.Buffer
	code := ConfigTest(Options{ConfigFile: cf, IptablesFile: ipt}, &out, &errb)
	if code != ExitError {
		t.Errorf("ConfigTest = %d, want 1", code)
	}
	want := []string{
		cf + `:3: keepalive: expected a number of seconds (an integer from 1 to 2147483647), got "x"`,
		cf + `:7: port: expected a port number or service name, got "htp"`,
		ipt + `:2: target DROP (mangle PREROUTING) is not understood`,
		"warning: " + cf + ":8: virtual web: fwmark is set without persistent",
	}
	got := errb.String()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("stderr lacks %q\nstderr:\n%s", w, got)
		}
	}
	if out.String() != "3 errors\n" {
		t.Errorf("stdout = %q, want %q", out.String(), "3 errors\n")
	}
}

func TestConfigTestIptablesFiles(t *testing.T) {
	cf := "../examples/nat.cf"
	t.Run("missing default is fine", func(t *testing.T) {
		noDefaultIptables(t)
		if code := ConfigTest(Options{ConfigFile: cf}, &bytes.Buffer{}, &bytes.Buffer{}); code != ExitOK {
			t.Errorf("ConfigTest = %d, want 0", code)
		}
	})
	t.Run("broken default is an error", func(t *testing.T) {
		old := defaultIptablesFile
		defaultIptablesFile = writeFile(t, "iptables", "*nat\n-A POSTROUTING -j SNAT --to-source 1.2.3.4\nCOMMIT\n")
		t.Cleanup(func() { defaultIptablesFile = old })
		var errb bytes.Buffer
		if code := ConfigTest(Options{ConfigFile: cf}, &bytes.Buffer{}, &errb); code != ExitError || !strings.Contains(errb.String(), ":2: option --to-source is not understood") {
			t.Errorf("ConfigTest = %d, stderr %q; want 1 and the line of the SNAT rule", code, errb.String())
		}
	})
	t.Run("missing named file is an error", func(t *testing.T) {
		var errb bytes.Buffer
		code := ConfigTest(Options{ConfigFile: cf, IptablesFile: filepath.Join(t.TempDir(), "nope")}, &bytes.Buffer{}, &errb)
		if code != ExitError || !strings.Contains(errb.String(), "lvsd: reading iptables rules: open ") {
			t.Errorf("ConfigTest = %d, stderr %q; want 1 and the open error", code, errb.String())
		}
	})
	t.Run("missing config", func(t *testing.T) {
		var errb bytes.Buffer
		code := ConfigTest(Options{ConfigFile: filepath.Join(t.TempDir(), "lvs.cf")}, &bytes.Buffer{}, &errb)
		if code != ExitError || !strings.Contains(errb.String(), "lvsd: reading configuration: open ") {
			t.Errorf("ConfigTest = %d, stderr %q", code, errb.String())
		}
	})
}

func TestConfigDump(t *testing.T) {
	noDefaultIptables(t)
	var out, errb bytes.Buffer
	if code := ConfigDump(Options{ConfigFile: "../examples/http-https.cf", IptablesFile: "../examples/http-https.iptables"}, &out, &errb); code != ExitOK {
		t.Fatalf("ConfigDump = %d, stderr %s", code, errb.String())
	}
	src, err := os.ReadFile("../examples/http-https.cf")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, l := range strings.SplitAfter(string(src), "\n") {
		if !strings.HasPrefix(l, "#") {
			want.WriteString(l)
		}
	}
	if out.String() != want.String() {
		t.Errorf("ConfigDump printed\n%s\nwant the file without its comments\n%s", out.String(), want.String())
	}
	bad := writeFile(t, "lvs.cf", "primary = x\n")
	out.Reset()
	errb.Reset()
	if code := ConfigDump(Options{ConfigFile: bad}, &out, &errb); code != ExitError || out.Len() != 0 {
		t.Errorf("ConfigDump(broken) = %d with stdout %q; want 1 and nothing", code, out.String())
	}
}
