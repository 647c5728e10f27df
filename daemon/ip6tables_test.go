package daemon

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigTestIp6tablesFile: --ip6tables adds an ip6tables-save file's
// MARK and MASQUERADE rules, marked IPv6, to what lvs.cf and --iptables
// give; an IPv4 address in it is an error at its line, and a missing named
// file an open error.
func TestConfigTestIp6tablesFile(t *testing.T) {
	noDefaultIptables(t)
	cf := writeFile(t, "lvs.cf", `primary = 192.168.26.9
network = nat
nat_router6 = fd00:11:12::10 eth1:1
nat_nmask6 = 64
virtual ftp6 {
     active = 1
     address = 2001:db8:26::10 eth0:1
     vip_nmask = 64
     port = 21
     ftp_helper = 1
     server rs1 {
          address = fd00:11:12::1
          active = 1
     }
}
`)
	ip6t := writeFile(t, "ip6tables", "*mangle\n-A PREROUTING -d 2001:db8:26::10 -p tcp --dport 8080 -j MARK --set-mark 8\nCOMMIT\n"+
		"*nat\n-A POSTROUTING -s fd00:11:12::/64 -p tcp --sport 20 -j MASQUERADE\nCOMMIT\n")
	l, err := load(Options{ConfigFile: cf, Ip6tablesFile: ip6t})
	if err != nil || len(l.errs) > 0 {
		t.Fatalf("load = %v, errors %v", err, l.errs)
	}
	if len(l.rules.Marks) != 1 || !l.rules.Marks[0].IPv6 || l.rules.Marks[0].Mark != 8 {
		t.Errorf("marks = %+v, want the ip6tables MARK rule", l.rules.Marks)
	}
	if m := l.rules.Masquerades; len(m) != 1 || !m[0].IPv6 || m[0].Src != netip.MustParsePrefix("fd00:11:12::/64") || m[0].SPortLo != 20 {
		t.Errorf("masquerades = %+v, want the ip6tables MASQUERADE rule", m)
	}
	if code := ConfigTest(Options{ConfigFile: cf, Ip6tablesFile: ip6t}, &bytes.Buffer{}, &bytes.Buffer{}); code != ExitOK {
		t.Errorf("ConfigTest with the ip6tables file = %d, want 0", code)
	}

	bad := writeFile(t, "ip6tables.bad", "*nat\n-A POSTROUTING -s 10.11.12.0/24 -j MASQUERADE\nCOMMIT\n")
	var errb bytes.Buffer
	if code := ConfigTest(Options{ConfigFile: cf, Ip6tablesFile: bad}, &bytes.Buffer{}, &errb); code != ExitError ||
		!strings.Contains(errb.String(), bad+`:2: -s: expected an IPv6 address or network`) {
		t.Errorf("ConfigTest = %d, stderr %q; want 1 and the line of the IPv4 rule", code, errb.String())
	}
	errb.Reset()
	if code := ConfigTest(Options{ConfigFile: cf, Ip6tablesFile: filepath.Join(t.TempDir(), "nope")}, &bytes.Buffer{}, &errb); code != ExitError ||
		!strings.Contains(errb.String(), "lvsd: reading ip6tables rules: open ") {
		t.Errorf("ConfigTest = %d, stderr %q; want 1 and the open error", code, errb.String())
	}
}
