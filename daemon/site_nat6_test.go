package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"lvs/config"
	"lvs/frame"
)

const natCf6 = `primary = 192.168.26.9
network = nat
nat_router = 10.11.12.10 eth1:1
nat_router6 = fd00:11:12::10 eth1:1
nat_nmask6 = 64
masquerade ftp-active6 {
     protocol = tcp
     source = fd00:11:12::/64
     sport = 20
}
virtual www6 {
     active = 1
     address = 2001:db8:26::11 eth0:2
     vip_nmask = 64
     port = 80
     scheduler = rr
     server rs1 {
         address = fd00:11:12::1
         active = 1
     }
}
virtual ftp6 {
     active = 1
     address = 2001:db8:26::10 eth0:1
     vip_nmask = 64
     port = 21
     ftp_helper = 1
     scheduler = rr
     server rs1 {
         address = fd00:11:12::1
         active = 1
     }
     server rs2 {
         address = fd00:11:12::2
         active = 1
     }
}
virtual www4 {
     active = 1
     address = 192.168.26.12 eth0:3
     port = 80
     scheduler = rr
     server rs4 {
         address = 10.11.12.4
         active = 1
     }
}
`

// TestNATState6: an IPv6 masquerade block and the ip6tables-save rule
// compile to IPv6 rules; an IPv6 real server's connections come from its
// FTP VIP (port-21 virtuals first), other IPv6 hosts' from the first IPv6
// VIP on the port, IPv4 hosts' from the IPv4 one; ftp_helper on an IPv6
// virtual server lists its control port; the guard keeps the kernel from
// forwarding the masqueraded IPv6 network.
func TestNATState6(t *testing.T) {
	c := parse(t, natCf6)
	look := func(name string) (iface, error) {
		as := []string{"192.168.26.9/24", "2001:db8:26::9/64"}
		if name == "eth1" {
			as = []string{"10.11.12.9/24", "fd00:11:12::9/64"}
		}
		var ps []netip.Prefix
		for _, a := range as {
			ps = append(ps, netip.MustParsePrefix(a))
		}
		return iface{name: name, mac: frame.MAC{2, 0, 0, 0, 0, 9}, mtu: 1500, addrs: ps}, nil
	}
	s, err := buildSite(c, look, nil)
	if err != nil {
		t.Fatalf("buildSite: %v", err)
	}
	ipt, err := config.ParseIp6tables("rules.v6", strings.NewReader("*nat\n-A POSTROUTING -p tcp -s fd00:11:12::/64 --sport 20 -j MASQUERADE\nCOMMIT\n"))
	if err != nil {
		t.Fatalf("ParseIp6tables: %v", err)
	}
	client := netip.MustParseAddrPort("[2001:db8:99::11]:40001")
	ftpVIP := netip.MustParseAddr("2001:db8:26::10")
	for name, rules := range map[string]*config.Rules{"lvs.cf": c.Rules("lvs.cf"), "ip6tables": ipt} {
		n := natState(c, rules, s)
		if n == nil || n.Masq == nil {
			t.Fatalf("%s: natState = %+v, want masquerade rules", name, n)
		}
		if !n.Masq.Match(frame.ProtoTCP, netip.MustParseAddrPort("[fd00:11:12::2]:20"), client, 0) {
			t.Errorf("%s: the active FTP connection of rs2 is not masqueraded", name)
		}
		if n.Masq.Match(frame.ProtoTCP, netip.MustParseAddrPort("[fd00:11:12::2]:22"), client, 0) {
			t.Errorf("%s: a connection from port 22 is masqueraded", name)
		}
		if n.Masq.Match(frame.ProtoTCP, netip.MustParseAddrPort("10.11.12.4:20"), netip.MustParseAddrPort("203.0.113.11:40001"), 0) {
			t.Errorf("%s: an IPv6 rule masquerades an IPv4 connection", name)
		}
		if a, ok := n.Masq.Source(netip.MustParseAddr("fd00:11:12::1"), 0); !ok || a != ftpVIP {
			t.Errorf("%s: rs1 masqueraded to %v, %v; want the FTP VIP", name, a, ok)
		}
		if a, ok := n.Masq.Source(netip.MustParseAddr("fd00:11:12::77"), 0); !ok || a != ftpVIP {
			t.Errorf("%s: another IPv6 host masqueraded to %v, %v; want the port's first IPv6 VIP", name, a, ok)
		}
		if a, ok := n.Masq.Source(netip.MustParseAddr("10.11.12.77"), 0); !ok || a != netip.MustParseAddr("192.168.26.12") {
			t.Errorf("%s: an IPv4 host masqueraded to %v, %v; want the port's IPv4 VIP", name, a, ok)
		}
		if want := netip.AddrPortFrom(ftpVIP, 21); len(n.FTP) != 1 || n.FTP[0] != want {
			t.Errorf("%s: FTP helper services %v, want [%v]", name, n.FTP, want)
		}
		if g := s.guardSpec(rules).guard6(); !slices.Contains(g.Reals6, netip.MustParsePrefix("fd00:11:12::/64")) {
			t.Errorf("%s: the IPv6 guard drops only %v; want the masquerade source fd00:11:12::/64", name, g.Reals6)
		}
	}
}
