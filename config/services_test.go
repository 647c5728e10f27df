package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadServices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services")
	text := "# comment\nhttp\t\t80/tcp\t\twww # WorldWideWeb\nhttp 80/udp\nmyapp 7777/tcp app-alias\nbroken x/tcp\nudponly 9999/udp\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readServices(path)
	want := map[string]uint16{"http": 80, "www": 80, "myapp": 7777, "app-alias": 7777}
	if len(got) != len(want) {
		t.Errorf("readServices = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("readServices[%q] = %d, want %d", k, got[k], v)
		}
	}
	if m := readServices(filepath.Join(t.TempDir(), "missing")); len(m) != 0 {
		t.Errorf("readServices(missing) = %v, want empty", m)
	}
}

func TestLookupServiceBuiltin(t *testing.T) {
	for name, want := range map[string]uint16{"http": 80, "https": 443, "ftp": 21, "smtp": 25, "domain": 53} {
		if got, ok := LookupService(name); !ok || got != want {
			t.Errorf("LookupService(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := LookupService("no-such-service"); ok {
		t.Error("LookupService(no-such-service) succeeded")
	}
}

func TestParseCInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10", 10, true}, {"0x10", 16, true}, {"0X1f", 31, true}, {"010", 8, true}, {"0", 0, true},
		{"-5", -5, true}, {"+7", 7, true}, {"08", 0, false}, {"0x", 0, false}, {"", 0, false},
		{"1_000", 0, false}, {"--1", 0, false}, {"12a", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCInt(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNetmask(t *testing.T) {
	m, err := ParseNetmask("255.255.240.0")
	if err != nil || m.Bits() != 20 || m.String() != "255.255.240.0" {
		t.Errorf("ParseNetmask(255.255.240.0) = %v (%d), %v", m, m.Bits(), err)
	}
	for _, bad := range []string{"255.0.255.0", "0.255.255.255", "255.255.255.1", "1.2.3", "::"} {
		if _, err := ParseNetmask(bad); err == nil {
			t.Errorf("ParseNetmask(%q) succeeded", bad)
		}
	}
	if z, _ := ParseNetmask("0.0.0.0"); z.Bits() != 0 || !z.IsValid() || z.String() != "0.0.0.0" {
		t.Errorf("ParseNetmask(0.0.0.0) = %v", z)
	}
	if (Netmask{}).Bits() != -1 || (Netmask{}).String() != "" {
		t.Error("zero Netmask is not unset")
	}
}
