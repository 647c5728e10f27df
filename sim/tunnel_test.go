package sim

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"lvs/config"
)

func TestParseIPIPAndRedirect(t *testing.T) {
	real := "    interfaces: [{name: eth0, segment: lan, address: 10.0.0.1/24}]\n"
	src := strings.Replace(base, real, real+"    ipip: [10.0.0.100/32]\n    redirect: [10.0.0.100:80]\n", 1)
	if src == base {
		t.Fatal("base topology changed: no real server interface line to extend")
	}
	topo, err := ParseTopology("t.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseTopology: %v", err)
	}
	rs := topo.Node("rs1")
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.100/32")}; !slices.Equal(rs.IPIP, want) {
		t.Errorf("rs1 ipip = %v, want %v", rs.IPIP, want)
	}
	if want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.100:80")}; !slices.Equal(rs.Redirect, want) {
		t.Errorf("rs1 redirect = %v, want %v", rs.Redirect, want)
	}

	for _, tc := range []struct{ name, old, new, want string }{
		{"ipip on a client", "    role: client\n", "    role: client\n    ipip: [10.0.0.100/32]\n",
			"t.yaml:20: node c: ipip and redirect are for real servers, not for a client"},
		{"redirect without port", real, real + "    redirect: [10.0.0.100]\n",
			`expected redirect as ADDRESS:PORT like 192.168.26.10:80, got "10.0.0.100"`},
		{"ipip not a prefix", real, real + "    ipip: [vip]\n", `expected ipip address as an IPv4 address with prefix length`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTopology("t.yaml", []byte(strings.Replace(base, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseTopology = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestTunnelTopology checks the shipped tunnelling site: every real server
// holds the VIP on tunl0, one is on a segment the routers reach through
// another router, and only lvsd can play the router.
func TestTunnelTopology(t *testing.T) {
	topo, err := LoadTopology("tunnel")
	if err != nil {
		t.Fatal(err)
	}
	c := topo.Site.Config
	if c.Network != config.NetworkTunnel {
		t.Fatalf("network = %v, want tunnel", c.Network)
	}
	vip := c.Virtuals[0].Address
	routed := 0
	for _, s := range c.Virtuals[0].Servers {
		n := nodeWithAddr(topo, s.Address)
		if n == nil {
			t.Fatalf("no node has real server address %v", s.Address)
		}
		if !slices.Contains(n.IPIP, netip.PrefixFrom(vip, 32)) {
			t.Errorf("%s: ipip = %v, want the VIP %v", n.Name, n.IPIP, vip)
		}
		if n.Sysctls["net.ipv4.conf.tunl0.rp_filter"] != "0" || n.Sysctls["net.ipv4.conf.all.rp_filter"] != "0" {
			t.Errorf("%s: rp_filter not off on tunl0 and all: %v", n.Name, n.Sysctls)
		}
		if !n.onLink(c.Primary, segments(topo)) {
			routed++
		}
	}
	if routed == 0 {
		t.Errorf("every real server shares the routers' segment: the tunnel never crosses a router")
	}
	if got := siteFeatures(c); !slices.Equal(got, []Feature{FeatureTunnel}) {
		t.Errorf("siteFeatures = %v, want [tunnel]", got)
	}
	if r, err := chooseRouter("auto", c, "/bin/lvsd"); err != nil || r.Name() != "lvsd" {
		t.Errorf("chooseRouter(auto) with lvsd = %v, %v; want lvsd", r, err)
	}
	if (&kernelRouter{}).Supports(FeatureTunnel) {
		t.Errorf("the kernel stand-in claims to tunnel: nftables cannot encapsulate")
	}
}

// TestDirectTopology checks the direct-routing site: rr over three
// real servers judged exactly (20/20/20 of 60), one of them set up the
// guide's iptables REDIRECT way.
func TestDirectTopology(t *testing.T) {
	topo, err := LoadTopology("direct")
	if err != nil {
		t.Fatal(err)
	}
	v := topo.Site.Config.Virtuals[0]
	if v.Scheduler != config.SchedRR || len(activeServers(v)) != 3 {
		t.Fatalf("virtual %s: scheduler %v over %d servers, want rr over 3", v.Name, v.Scheduler, len(activeServers(v)))
	}
	var web *Traffic
	var share *Assertion
	for _, st := range topo.Scenario {
		if st.Name == "web" {
			web = st.Traffic
		}
		if st.Assert != nil && st.Assert.Kind == AssertShare {
			share = st.Assert
		}
	}
	if web == nil || share == nil || web.Count != 60 || share.Tolerance*60 >= 1 {
		t.Fatalf("web step %+v, share assert %+v: want 60 requests judged to the request", web, share)
	}
	redirect := 0
	for _, n := range topo.Nodes {
		if len(n.Redirect) > 0 {
			redirect++
			if len(n.Loopback) > 0 {
				t.Errorf("%s uses REDIRECT and also holds %v on lo", n.Name, n.Loopback)
			}
		}
	}
	if redirect != 1 {
		t.Errorf("%d real servers use the iptables REDIRECT way, want 1", redirect)
	}
}

func nodeWithAddr(t *Topology, a netip.Addr) *Node {
	for _, n := range t.Nodes {
		for _, i := range n.Interfaces {
			for _, p := range i.Addresses {
				if p.Addr() == a {
					return n
				}
			}
		}
	}
	return nil
}

func segments(t *Topology) map[string]*Segment {
	m := map[string]*Segment{}
	for _, s := range t.Segments {
		m[s.Name] = s
	}
	return m
}
