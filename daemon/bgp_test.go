package daemon

import (
	"net/netip"
	"reflect"
	"testing"

	"lvs/bgp"
	"lvs/config"
	"lvs/ipvs"
	"lvs/sched"
)

const twoServicesCf = `primary = 192.168.26.9
network = direct
virtual http {
     active = 1
     address = 192.168.26.10 eth0:1
     port = 80
     scheduler = mh
     bgp_community = 65000:100
     server a {
         address = 192.168.26.21
         active = 1
     }
}
virtual https {
     active = 1
     address = 192.168.26.10 eth0:1
     port = 443
     scheduler = mh
     bgp_community = 65000:100,65000:200
     bgp_med = 30
     server a {
         address = 192.168.26.21
         active = 1
     }
}
virtual dns {
     active = 1
     address = 192.168.26.11 eth0:2
     port = 53
     protocol = udp
     scheduler = sh
     server a {
         address = 192.168.26.21
         active = 1
     }
}
virtual off {
     active = 0
     address = 192.168.26.12 eth0:3
     server a {
         address = 192.168.26.21
         active = 1
     }
}
`

// TestCanServe: a VIP can serve while each of its services has a
// destination with a weight above 0 (a quiesced or missing one cannot).
func TestCanServe(t *testing.T) {
	c := parse(t, twoServicesCf)
	vip, dns := netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("192.168.26.11")
	tests := []struct {
		name    string
		weights map[string]int32 // virtual → weight of its one destination; absent: no destination
		want    map[netip.Addr]bool
	}{
		{"all up", map[string]int32{"http": 1, "https": 1, "dns": 1}, map[netip.Addr]bool{vip: true, dns: true}},
		{"one service of the VIP down", map[string]int32{"http": 1, "dns": 1}, map[netip.Addr]bool{vip: false, dns: true}},
		{"quiesced", map[string]int32{"http": 1, "https": 1, "dns": 0}, map[netip.Addr]bool{vip: true, dns: false}},
		{"nothing up", nil, map[netip.Addr]bool{vip: false, dns: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := ipvs.NewTable(ipvs.NewRegistry(), sched.New)
			var err error
			for _, v := range c.ActiveVirtuals() {
				spec := serviceSpec(v)
				if tbl, err = tbl.AddService(spec); err != nil {
					t.Fatal(err)
				}
				if w, ok := tt.weights[v.Name]; ok {
					if tbl, err = tbl.AddDest(spec.Key, ipvs.DestSpec{Addr: v.Servers[0].Address, Port: v.Port, Method: ipvs.Route, Weight: w}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := canServe(c, tbl); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("canServe = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRoute: a VIP's route carries the communities of all its virtual
// servers, once each, and the first MED set.
func TestRoute(t *testing.T) {
	c := parse(t, twoServicesCf)
	tests := []struct {
		vip  string
		want bgp.Route
	}{
		{"192.168.26.10", bgp.Route{VIP: netip.MustParseAddr("192.168.26.10"), Communities: []uint32{65000<<16 | 100, 65000<<16 | 200}, MED: 30}},
		{"192.168.26.11", bgp.Route{VIP: netip.MustParseAddr("192.168.26.11")}},
	}
	for _, tt := range tests {
		if got := route(c, netip.MustParseAddr(tt.vip)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("route(%s) = %+v, want %+v", tt.vip, got, tt.want)
		}
	}
}

// TestOwnAddr: the default router id is this host's address among
// directors, primary and backup.
func TestOwnAddr(t *testing.T) {
	c := config.NewConfig()
	c.Primary, c.Backup = netip.MustParseAddr("192.168.26.9"), netip.MustParseAddr("192.168.26.8")
	c.Directors = []netip.Addr{netip.MustParseAddr("192.168.26.7"), c.Primary}
	tests := []struct {
		name string
		all  []string
		want string // "" = none
	}{
		{"a director", []string{"10.0.0.1/8", "192.168.26.7/24"}, "192.168.26.7"},
		{"the backup", []string{"192.168.26.8/24"}, "192.168.26.8"},
		{"none", []string{"192.168.26.99/24"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []netip.Prefix
			for _, p := range tt.all {
				all = append(all, netip.MustParsePrefix(p))
			}
			got, ok := ownAddr(c, all)
			if tt.want == "" && ok || tt.want != "" && (!ok || got.String() != tt.want) {
				t.Errorf("ownAddr = %v, %v; want %q", got, ok, tt.want)
			}
			if len(c.Directors) != 2 {
				t.Fatalf("ownAddr changed the directors list to %v", c.Directors)
			}
		})
	}
}

// TestPairOnly: backup_active is ignored in the ECMP mode, so the pair's
// connection and config sync do not start; in a pair it stays.
func TestPairOnly(t *testing.T) {
	for _, r := range []config.Redundancy{config.RedundancyPair, config.RedundancyECMP} {
		c := config.NewConfig()
		c.Redundancy, c.BackupActive = r, true
		got := pairOnly(c)
		if want := r == config.RedundancyPair; got.BackupActive != want {
			t.Errorf("pairOnly(%v).BackupActive = %v, want %v", r, got.BackupActive, want)
		}
		if !c.BackupActive {
			t.Errorf("pairOnly(%v) changed its argument", r)
		}
	}
}
