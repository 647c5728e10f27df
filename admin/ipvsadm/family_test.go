package ipvsadm

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"lvs/admin"
	"lvs/ipvs"
)

// TestMixedFamilies: an IPv6 service tunnelled to an IPv4 real server (the
// mix of families IPVS allows) is listed with the server in its own
// family, as ipvsadm prints a destination (its own address family since
// ipvsadm 1.29); -a with an IPv4 -r on an IPv6 service parses.
func TestMixedFamilies(t *testing.T) {
	rip4 := netip.MustParseAddr("10.11.12.1")
	st := admin.Status{Services: []admin.ServiceStatus{{Proto: "TCP", Addr: vip6, Port: 80, Sched: "rr", PMaskBits: 128,
		Dests: []admin.DestStatus{{Addr: rip4, Port: 80, Forward: "Tunnel", Weight: 1, Active: 2, Inactive: 3}}}}}
	for _, tt := range []struct {
		name string
		f    ListFormat
		want string
	}{
		{"list", 0, "TCP  [2001:db8::10]:80 rr\n  -> 10.11.12.1:80                Tunnel  1      2          3         \n"},
		{"rule", FmtRule, "-A -t [2001:db8::10]:80 -s rr\n-a -t [2001:db8::10]:80 -r 10.11.12.1:80 -i -w 1\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteList(&b, st, tt.f); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(b.String(), tt.want) {
				t.Errorf("WriteList:\n%s\nwant it to end with:\n%s", b.String(), tt.want)
			}
		})
	}
	c, err := ParseArgs(strings.Fields("-a -t [2001:db8::10]:80 -r 10.11.12.1 -i"))
	if err != nil || c.Service != web6 || c.Dest.Addr != rip4 || c.Dest.Port != 80 || c.Dest.Method != ipvs.Tunnel {
		t.Errorf("ParseArgs = %+v, %v; want the IPv4 real server 10.11.12.1:80 tunnelled behind [2001:db8::10]:80", c, err)
	}
}

// TestMixedFamilies4in6: the other way round, an IPv4 service tunnelled to
// an IPv6 real server (IPv4 in IPv6) lists the server bracketed,
// [addr]:port, in -L -n and -S, and -a with an IPv6 -r on an IPv4 service
// parses.
func TestMixedFamilies4in6(t *testing.T) {
	vip4, rip6 := netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("2001:db8:12::3")
	st := admin.Status{Services: []admin.ServiceStatus{{Proto: "TCP", Addr: vip4, Port: 80, Sched: "rr", PMaskBits: 32,
		Dests: []admin.DestStatus{{Addr: rip6, Port: 80, Forward: "Tunnel", Weight: 1, Active: 2, Inactive: 3}}}}}
	for _, tt := range []struct {
		name string
		f    ListFormat
		want string
	}{
		{"list", 0, "TCP  192.168.26.10:80 rr\n  -> [2001:db8:12::3]:80          Tunnel  1      2          3         \n"},
		{"rule", FmtRule, "-A -t 192.168.26.10:80 -s rr\n-a -t 192.168.26.10:80 -r [2001:db8:12::3]:80 -i -w 1\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteList(&b, st, tt.f); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(b.String(), tt.want) {
				t.Errorf("WriteList:\n%s\nwant it to end with:\n%s", b.String(), tt.want)
			}
		})
	}
	web4 := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip4, Port: 80}
	c, err := ParseArgs(strings.Fields("-a -t 192.168.26.10:80 -r [2001:db8:12::3]:80 -i"))
	if err != nil || c.Service != web4 || c.Dest.Addr != rip6 || c.Dest.Port != 80 || c.Dest.Method != ipvs.Tunnel {
		t.Errorf("ParseArgs = %+v, %v; want the IPv6 real server [2001:db8:12::3]:80 tunnelled behind 192.168.26.10:80", c, err)
	}
}
