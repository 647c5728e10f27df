package config

import (
	"strings"
	"testing"
)

// TestFwmarkGroupsPerFamily: IPVS keys a firewall-mark service by mark and
// family, so an IPv4 and an IPv6 virtual block with the same mark are two
// services and their persistence may differ; two blocks of one family with
// that mark are still one service and warned about.
func TestFwmarkGroupsPerFamily(t *testing.T) {
	block := func(name, addr, persistent, pmask, server string) string {
		return "virtual " + name + " {\n     active = 1\n     address = " + addr + " eth0:1\n     port = 80\n     fwmark = 80\n" +
			"     persistent = " + persistent + "\n     pmask = " + pmask + "\n     server s {\n         address = " + server +
			"\n         active = 1\n     }\n}\n"
	}
	head := "primary = 192.168.26.9\nnetwork = nat\nnat_router = 10.11.12.10 eth1:1\nnat_nmask = 255.255.255.0\n" +
		"nat_router6 = fd00:11:12::10 eth1:1\nnat_nmask6 = 64\n"
	v4 := block("web", "192.168.26.10", "300", "255.255.255.0", "10.11.12.1")
	v6 := block("web6", "2001:db8:26::10", "60", "64", "fd00:11:12::1")
	v6b := block("web6b", "2001:db8:26::11", "120", "64", "fd00:11:12::2")
	tests := []struct {
		name string
		text string
		want string // "" for no shared-mark warning
	}{
		{"one mark, two families", head + v4 + v6, ""},
		{"one mark, one family twice", head + v4 + v6 + v6b, "virtual web6b: fwmark 80 is shared with virtual web6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parse6(t, tt.text)
			var got []string
			for _, w := range c.Warnings {
				if strings.Contains(w.Msg, "is shared with") {
					got = append(got, w.Msg)
				}
			}
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("warnings %q, want none about a shared mark", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("warnings %q, want one containing %q", got, tt.want)
			}
		})
	}
}
