package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"lvs/config"
	"lvs/frame"
)

const natCf = `primary = 192.168.26.9
network = nat
nat_router = 10.11.12.10 eth1:1
masquerade ftp-active {
     protocol = tcp
     source = 10.11.12.0/24
     sport = 20
}
virtual www {
     active = 1
     address = 192.168.26.11 eth0:2
     port = 80
     scheduler = rr
     server rs1 {
         address = 10.11.12.1
         active = 1
     }
}
virtual ftp {
     active = 1
     address = 192.168.26.10 eth0:1
     port = 21
     ftp_helper = 1
     scheduler = rr
     server rs1 {
         address = 10.11.12.1
         active = 1
     }
     server rs2 {
         address = 10.11.12.2
         active = 1
     }
}
`

// TestNATState: the masquerade block and the guide's iptables rule compile
// to the same rules; a real server's connections come from its FTP VIP
// (port-21 virtuals first), other hosts' from the first VIP on the port;
// ftp_helper lists the control port.
func TestNATState(t *testing.T) {
	c := parse(t, natCf)
	look := func(name string) (iface, error) {
		a := "192.168.26.9/24"
		if name == "eth1" {
			a = "10.11.12.9/24"
		}
		return iface{name: name, mac: frame.MAC{2, 0, 0, 0, 0, 9}, mtu: 1500, addrs: []netip.Prefix{netip.MustParsePrefix(a)}}, nil
	}
	s, err := buildSite(c, look, nil)
	if err != nil {
		t.Fatalf("buildSite: %v", err)
	}
	ipt, err := config.ParseIptables("rules", strings.NewReader("*nat\n-A POSTROUTING -p tcp -s 10.11.12.0/24 --sport 20 -j MASQUERADE\nCOMMIT\n"))
	if err != nil {
		t.Fatalf("ParseIptables: %v", err)
	}
	client := netip.MustParseAddrPort("203.0.113.11:40001")
	for name, rules := range map[string]*config.Rules{"lvs.cf": c.Rules("lvs.cf"), "iptables": ipt} {
		n := natState(c, rules, s)
		if n == nil || n.Masq == nil {
			t.Fatalf("%s: natState = %+v, want masquerade rules", name, n)
		}
		if !n.Masq.Match(frame.ProtoTCP, netip.MustParseAddrPort("10.11.12.2:20"), client, 0) {
			t.Errorf("%s: the active FTP connection of rs2 is not masqueraded", name)
		}
		if n.Masq.Match(frame.ProtoTCP, netip.MustParseAddrPort("10.11.12.2:22"), client, 0) {
			t.Errorf("%s: a connection from port 22 is masqueraded", name)
		}
		if a, ok := n.Masq.Source(netip.MustParseAddr("10.11.12.1"), 0); !ok || a != netip.MustParseAddr("192.168.26.10") {
			t.Errorf("%s: rs1 masqueraded to %v, %v; want the FTP VIP", name, a, ok)
		}
		if a, ok := n.Masq.Source(netip.MustParseAddr("10.11.12.77"), 0); !ok || a != netip.MustParseAddr("192.168.26.10") {
			t.Errorf("%s: another host masqueraded to %v, %v; want the port's first VIP", name, a, ok)
		}
		if len(n.FTP) != 1 || n.FTP[0] != netip.MustParseAddrPort("192.168.26.10:21") {
			t.Errorf("%s: FTP helper services %v, want [192.168.26.10:21]", name, n.FTP)
		}
		// The kernel must not forward the masqueraded hosts' traffic too.
		if g := s.guardSpec(rules); !slices.Contains(prefixes(g.Reals), "10.11.12.0/24") {
			t.Errorf("%s: guard drops only %v; want the masquerade source 10.11.12.0/24", name, prefixes(g.Reals))
		}
	}
	c.Masquerades = nil
	c.Virtuals[1].FTPHelper = false
	if n := natState(c, c.Rules("lvs.cf"), s); n != nil {
		t.Errorf("natState without rules or helper = %+v, want nil", n)
	}
}
