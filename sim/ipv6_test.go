package sim

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// base6 is base made dual-stack: an IPv6 network on the segment, an IPv6
// virtual server and real server, a client with both families, a ping
// step, curl by name and a smaller MTU.
var base6 = strings.NewReplacer(
	"{name: lan, subnet: 10.0.0.0/24}", `{name: lan, subnet: 10.0.0.0/24, subnet6: "fd00:1::/64"}`,
	"  nat_router = 10.0.0.10 eth0:1\n", "  nat_router = 10.0.0.10 eth0:1\n  nat_router6 = fd00:1::10 eth0\n  nat_nmask6 = 64\n",
	"interfaces: [{name: eth0, segment: lan, address: 10.0.0.50/24}]", `interfaces: [{name: eth0, segment: lan, addresses: [10.0.0.50/24, "fd00:1::50/64"], mtu: 1400}]`,
	"interfaces: [{name: eth0, segment: lan, address: 10.0.0.1/24}]", `interfaces: [{name: eth0, segment: lan, addresses: [10.0.0.1/24, "fd00:1::1/64"]}]`+"\n    routes: [{to: default, via: \"fd00:1::10\"}]",
	"nodes:\n", `  virtual www6 {
       active = 1
       address = fd00:1::100 eth0
       port = 80
       scheduler = rr
       server rs1 {
           address = fd00:1::1
           active = 1
       }
  }
nodes:
`,
	"  - assert: {kind: failures, of: web, max: 0}\n", `  - name: web6
    traffic: {kind: http, client: curl, from: c, host: www.t, resolve: [10.0.0.100, "fd00:1::100"], to: "[fd00:1::100]:80", count: 10}
  - name: ping6
    fault: {kind: ping, target: c, to: "fd00:1::100"}
  - assert: {kind: failures, of: web, max: 0}
  - assert: {kind: share, of: web6, tolerance: 0.001}
`,
).Replace(base)

func TestParseIPv6Topology(t *testing.T) {
	topo, err := ParseTopology("t.yaml", []byte(base6))
	if err != nil {
		t.Fatalf("ParseTopology(dual-stack): %v\n%s", err, base6)
	}
	if seg := topo.Segments[0]; seg.Subnet6 != netip.MustParsePrefix("fd00:1::/64") || !seg.Contains(netip.MustParseAddr("fd00:1::50")) {
		t.Errorf("segment = %+v, want subnet6 fd00:1::/64", seg)
	}
	c := topo.Node("c")
	if c.Interfaces[0].MTU != 1400 || len(c.Interfaces[0].Addresses) != 2 || !c.hasIPv6() {
		t.Errorf("client interface = %+v, want two addresses and MTU 1400", c.Interfaces[0])
	}
	if r := topo.Node("rs1").Routes[0]; !r.Default || r.Via != netip.MustParseAddr("fd00:1::10") {
		t.Errorf("rs1 route = %+v, want the IPv6 default route", r)
	}
	var web6, ping *Step
	for _, s := range topo.Scenario {
		switch s.Name {
		case "web6":
			web6 = s
		case "ping6":
			ping = s
		}
	}
	if web6 == nil || web6.Traffic.To != netip.MustParseAddrPort("[fd00:1::100]:80") || web6.Traffic.Host != "www.t" || len(web6.Traffic.Resolve) != 2 {
		t.Fatalf("web6 = %+v", web6)
	}
	if ping == nil || ping.Fault.Kind != FaultPing || ping.Fault.To != netip.MustParseAddr("fd00:1::100") {
		t.Errorf("ping6 = %+v", ping)
	}
	if got := siteFeatures(topo.Site.Config); !slices.Contains(got, FeatureIPv6) {
		t.Errorf("siteFeatures = %v, want ipv6", got)
	}
	// A dual-stack client sends each step from its addresses of the target's family.
	s := &Site{Topo: topo}
	for _, to := range []string{"10.0.0.100:80", "[fd00:1::100]:80"} {
		ap := netip.MustParseAddrPort(to)
		srcs := s.sources([]string{"c"}, ap)
		if len(srcs) != 1 || srcs[0].addr.Is4() != ap.Addr().Is4() {
			t.Errorf("sources(c, %v) = %v, want the one address of its family", to, srcs)
		}
	}
	want := []string{"-6", "--resolve", "www.t:80:10.0.0.100,[fd00:1::100]", "http://www.t:80/"}
	if got := curlTarget(web6.Traffic); !slices.Equal(got, want) {
		t.Errorf("curlTarget = %q, want %q", got, want)
	}
	plain := *web6.Traffic
	plain.Host, plain.Resolve = "", nil
	if got := curlTarget(&plain); !slices.Equal(got, []string{"http://[fd00:1::100]:80/"}) {
		t.Errorf("curlTarget without host = %q", got)
	}
}

func TestParseIPv6Errors(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"IPv6 address outside the segment", `"fd00:1::50/64"`, `"fd00:2::50/64"`, "address fd00:2::50/64 of c/eth0 is outside segment lan (10.0.0.0/24, fd00:1::/64)"},
		{"zone", `"fd00:1::50/64"`, `"fe80::1%eth0"`, "expected address as an IPv4 address with prefix length"},
		{"small mtu", "mtu: 1400", "mtu: 576", "expected mtu as a whole number from 1280 to 65535"},
		{"host without curl", "client: curl, ", "", "host www.t: only client curl resolves a name"},
		{"resolve without the target", `resolve: [10.0.0.100, "fd00:1::100"]`, `resolve: [10.0.0.100]`, "resolve must hold the address of to"},
		{"no address of the family", `[10.0.0.50/24, "fd00:1::50/64"]`, `[10.0.0.50/24]`, "c has no address of that family"},
		{"ping without to", `fault: {kind: ping, target: c, to: "fd00:1::100"}`, `fault: {kind: ping, target: c}`, `missing "to"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(base6, tc.old, tc.new, 1)
			if src == base6 {
				t.Fatalf("%q not found", tc.old)
			}
			_, err := ParseTopology("t.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseTopology = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
