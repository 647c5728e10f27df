package admin

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestWriteDaemonBGP(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	b := &BGPStatus{
		Peers: []BGPPeerStatus{
			{Name: "upstream", Address: netip.MustParseAddr("192.168.26.1"), State: "established", Up: true, Since: now.Add(-90 * time.Second)},
			{Name: "second", Address: netip.MustParseAddr("192.168.26.2"), State: "active", Reason: "hold timer expired"},
		},
		VIPs: []BGPVIPStatus{
			{VIP: netip.MustParseAddr("192.168.26.10"), Announced: true, Reason: "serving", Since: now.Add(-60 * time.Second)},
			{VIP: netip.MustParseAddr("192.168.26.11"), Reason: "no real server up"},
		},
	}
	tests := []struct {
		name string
		h    HAStatus
		want string
	}{
		{"alone (ecmp)", HAStatus{BGP: b}, `router: alone (no backup in lvs.cf): active
bgp peer upstream (192.168.26.1): established for 90s
bgp peer second (192.168.26.2): active, last end: hold timer expired
bgp route 192.168.26.10/32: announced (serving) for 60s
bgp route 192.168.26.11/32: withdrawn (no real server up)
`},
		{"drained", HAStatus{BGP: &BGPStatus{Draining: true, VIPs: []BGPVIPStatus{{VIP: netip.MustParseAddr("192.168.26.10"), Reason: "drained"}}}},
			`router: alone (no backup in lvs.cf): active
bgp: drained (every VIP withdrawn; lvsadm drain --undrain announces them again)
bgp route 192.168.26.10/32: withdrawn (drained)
`},
		{"no bgp", HAStatus{}, "router: alone (no backup in lvs.cf): active\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := WriteDaemon(&out, tt.h, now); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("WriteDaemon =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDrainCommandUsage(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"--bogus"}} {
		var out, errw strings.Builder
		if code := DrainCommand(t.Context(), args, &out, &errw); code != 2 {
			t.Errorf("DrainCommand(%q) = %d, want 2 (usage)", args, code)
		}
	}
}
