package ipvsadm

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"lvs/admin"
	"lvs/ipvs"
)

// TestMixedFamilies: a service tunnelled to a real server of the other
// family (the mix IPVS allows, both ways) is listed with the server in its
// own family, as ipvsadm prints a destination (its own address family
// since ipvsadm 1.29): bracketed when IPv6, [addr]:port, in -L -n and -S;
// and -a with a -r of the other family parses.
func TestMixedFamilies(t *testing.T) {
	vip4 := netip.MustParseAddr("192.168.26.10")
	web4 := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip4, Port: 80}
	for _, tt := range []struct {
		name       string
		svc        ipvs.ServiceKey
		rip        netip.Addr
		pmask      int
		list, rule string
		add        string
	}{
		{"6in4", web6, netip.MustParseAddr("10.11.12.1"), 128,
			"TCP  [2001:db8::10]:80 rr\n  -> 10.11.12.1:80                Tunnel  1      2          3         \n",
			"-A -t [2001:db8::10]:80 -s rr\n-a -t [2001:db8::10]:80 -r 10.11.12.1:80 -i -w 1\n",
			"-a -t [2001:db8::10]:80 -r 10.11.12.1 -i"},
		{"4in6", web4, netip.MustParseAddr("2001:db8:12::3"), 32,
			"TCP  192.168.26.10:80 rr\n  -> [2001:db8:12::3]:80          Tunnel  1      2          3         \n",
			"-A -t 192.168.26.10:80 -s rr\n-a -t 192.168.26.10:80 -r [2001:db8:12::3]:80 -i -w 1\n",
			"-a -t 192.168.26.10:80 -r [2001:db8:12::3]:80 -i"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := admin.Status{Services: []admin.ServiceStatus{{Proto: "TCP", Addr: tt.svc.Addr, Port: 80, Sched: "rr", PMaskBits: tt.pmask,
				Dests: []admin.DestStatus{{Addr: tt.rip, Port: 80, Forward: "Tunnel", Weight: 1, Active: 2, Inactive: 3}}}}}
			for f, want := range map[ListFormat]string{0: tt.list, FmtRule: tt.rule} {
				var b bytes.Buffer
				if err := WriteList(&b, st, f); err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(b.String(), want) {
					t.Errorf("WriteList(format %v):\n%s\nwant it to end with:\n%s", f, b.String(), want)
				}
			}
			c, err := ParseArgs(strings.Fields(tt.add))
			if err != nil || c.Service != tt.svc || c.Dest.Addr != tt.rip || c.Dest.Port != 80 || c.Dest.Method != ipvs.Tunnel {
				t.Errorf("ParseArgs(%s) = %+v, %v; want the real server %v:80 tunnelled behind %v", tt.add, c, err, tt.rip, tt.svc)
			}
		})
	}
}
