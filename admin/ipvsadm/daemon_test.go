package ipvsadm

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"lvs/admin"
)

func TestWriteDaemonBGP(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	b := &admin.BGPStatus{
		Peers: []admin.BGPPeerStatus{
			{Name: "upstream", Address: netip.MustParseAddr("192.168.26.1"), State: "established", Up: true, Since: now.Add(-90 * time.Second)},
			{Name: "second", Address: netip.MustParseAddr("192.168.26.2"), State: "active", Reason: "hold timer expired"},
		},
		VIPs: []admin.BGPVIPStatus{
			{VIP: netip.MustParseAddr("192.168.26.10"), Announced: true, Reason: "serving", Since: now.Add(-60 * time.Second)},
			{VIP: netip.MustParseAddr("192.168.26.11"), Reason: "no real server up"},
		},
	}
	tests := []struct {
		name string
		h    admin.HAStatus
		want string
	}{
		{"alone (ecmp)", admin.HAStatus{BGP: b}, `router: alone (no backup in lvs.cf): active
bgp peer upstream (192.168.26.1): established for 90s
bgp peer second (192.168.26.2): active, last end: hold timer expired
bgp route 192.168.26.10/32: announced (serving) for 60s
bgp route 192.168.26.11/32: withdrawn (no real server up)
`},
		{"drained", admin.HAStatus{BGP: &admin.BGPStatus{Draining: true, VIPs: []admin.BGPVIPStatus{{VIP: netip.MustParseAddr("192.168.26.10"), Reason: "drained"}}}},
			`router: alone (no backup in lvs.cf): active
bgp: drained (every VIP withdrawn; lvsadm drain --undrain announces them again)
bgp route 192.168.26.10/32: withdrawn (drained)
`},
		{"no bgp", admin.HAStatus{}, "router: alone (no backup in lvs.cf): active\n"},
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

func TestWriteDaemonPair(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	h := admin.HAStatus{Dataplane: "tcx+afpacket", Role: "primary", State: "active", Peer: netip.MustParseAddr("192.168.26.8"), PeerAlive: true,
		Takeovers: 2, Releases: 1, Serial: 4, PeerSerial: 3, SerialMismatch: true,
		Channels: []admin.HeartbeatChannel{{Channel: "public", Peer: netip.MustParseAddr("192.168.26.8"), Age: 1500 * time.Millisecond},
			{Channel: "private", Peer: netip.MustParseAddr("10.11.12.8"), Age: -1}},
		ConnSync: &admin.ConnSyncStatus{Mode: "master", Iface: "eth1", SyncID: 3, Records: 120, Datagrams: 4, Last: now, Lag: 800 * time.Millisecond},
		ConfigSync: &admin.ConfigSyncStatus{Enabled: true, Pushes: 1, LastCheck: now.Add(-5 * time.Second),
			LastResult: "applied serial 4: 2 services"}}
	var b strings.Builder
	if err := WriteDaemon(&b, h, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dataplane: tcx+afpacket\nmaster sync daemon (mcast=eth1, syncid=3)\n",
		"router: primary, active (2 takeovers, 1 releases)\n",
		"partner: 192.168.26.8 alive, serial_no 3 (ours 4: MISMATCH)\n",
		"heartbeat public: 192.168.26.8, last 1.5s ago\n",
		"heartbeat private: 10.11.12.8, last never heard\n",
		"connection sync: master, sent 120 records in 4 datagrams, lag 0.8s\n",
		"config sync: on, 1 pushed, 0 received, 0 refused, last check 5s ago, last push: applied serial 4: 2 services\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteDaemon output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	WriteDaemon(&b, admin.HAStatus{Role: "backup", State: "standby", ConfigSync: &admin.ConfigSyncStatus{Reason: "needs heartbeat_key"}}, now)
	if !strings.Contains(b.String(), "config sync: off (needs heartbeat_key)\n") {
		t.Errorf("disabled config sync shown as:\n%s", b.String())
	}
}
