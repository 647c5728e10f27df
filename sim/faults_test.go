package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestLinkUpRestoresRoutes sets a client's only link down and up through
// the simulator's faults: down flushes its default route, up must give it
// back (soak and chaos rely on it, and a director restarted after a flap
// reads the kernel's routes).
func TestLinkUpRestoresRoutes(t *testing.T) {
	s := siteForTest(t, DefaultTopology, "kernel")
	ctx := context.Background()
	defaults := func() int {
		t.Helper()
		rs, err := s.nodes["client1"].Netlink().RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rs {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				n++
			}
		}
		return n
	}
	if n := defaults(); n != 1 {
		t.Fatalf("client1 has %d default routes at start, want 1", n)
	}
	for _, tc := range []struct {
		kind  FaultKind
		want  int
		words string
	}{
		{FaultLinkDown, 0, "set client1 eth0 down"},
		{FaultLinkUp, 1, "routes restored: default via 203.0.113.254"},
		{FaultLinkUp, 1, "routes restored: default via 203.0.113.254"}, // already there: not an error
	} {
		what, err := s.inject(ctx, &Fault{Kind: tc.kind, Target: "client1", Interface: "eth0"})
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if !strings.Contains(what, tc.words) {
			t.Errorf("%s said %q, want it to contain %q", tc.kind, what, tc.words)
		}
		if n := defaults(); n != tc.want {
			t.Errorf("after %s: %d default routes, want %d", tc.kind, n, tc.want)
		}
	}
	if err := s.ping("client1", s.Topo.Node("gw").Interfaces[1].Addresses[0].Addr()); err != nil {
		t.Errorf("client1 cannot reach the gateway after link-up: %v", err)
	}
}
