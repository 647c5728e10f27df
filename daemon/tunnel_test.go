package daemon

import (
	"net/netip"
	"slices"
	"testing"

	"lvs/dataplane"
	"lvs/frame"
	"lvs/ipvs"
)

const tunnelCf = `primary = 192.168.26.9
network = tunnel
virtual www {
     active = 1
     address = 192.168.26.10 eth0:1
     port = 80
     scheduler = rr
     server near {
         address = 192.168.26.1
         active = 1
     }
     server far {
         address = 10.20.30.3
         active = 1
     }
}
`

// TestTunnelSite: with network = tunnel every destination is tunnelled, and
// a real server on another segment is reached through the kernel's route
// to it, whose gateway lvsd keeps resolved.
func TestTunnelSite(t *testing.T) {
	c := parse(t, tunnelCf)
	want := Desired(c, nil)
	if len(want) != 1 || len(want[0].Dests) != 2 {
		t.Fatalf("Desired = %+v, want one service with two destinations", want)
	}
	for _, d := range want[0].Dests {
		if d.Method != ipvs.Tunnel || d.Port != 80 {
			t.Errorf("dest %v:%d method %v, want Tunnel to port 80", d.Addr, d.Port, d.Method)
		}
	}
	tb, err := Reconcile(testTable(), want)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	for _, d := range tb.Services()[0].Dests {
		if d.Method != ipvs.Tunnel {
			t.Errorf("table dest %v: method %v, want Tunnel", d.Addr, d.Method)
		}
	}

	wan, gw := netip.MustParseAddr("192.168.26.253"), netip.MustParseAddr("192.168.26.254")
	look := func(name string) (iface, error) {
		return iface{name: name, mac: frame.MAC{2, 0, 0, 0, 0, 9}, mtu: 1500,
			addrs: []netip.Prefix{netip.MustParsePrefix("192.168.26.9/24")},
			routes: []dataplane.Route{
				{Prefix: netip.MustParsePrefix("10.20.30.0/24"), Via: wan},
				{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Via: gw},
			}}, nil
	}
	s, err := buildSite(c, look, nil)
	if err != nil {
		t.Fatalf("buildSite: %v", err)
	}
	port, hop, ok := dataplane.NewRoutes(s.routes).Lookup([4]byte{10, 20, 30, 3})
	if !ok || port != 0 || netip.AddrFrom4(hop) != wan {
		t.Errorf("route to the far real server: port %d hop %v ok %v, want port 0 via %v", port, netip.AddrFrom4(hop), ok, wan)
	}
	for _, a := range []netip.Addr{netip.MustParseAddr("192.168.26.1"), wan} {
		if !slices.Contains(s.reals[0], a) {
			t.Errorf("neighbours kept resolved on eth0 = %v, want %v among them", s.reals[0], a)
		}
	}
	if !slices.Contains(s.realServers, netip.MustParseAddr("10.20.30.3")) {
		t.Errorf("real servers = %v, want the far one too", s.realServers)
	}
	if s.ports[0].Addr != netip.MustParseAddr("192.168.26.9") {
		t.Errorf("port address = %v, want 192.168.26.9 (the outer source of IPIP packets)", s.ports[0].Addr)
	}
}
