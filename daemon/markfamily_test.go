package daemon

import (
	"net/netip"
	"testing"

	"lvs/config"
	"lvs/ipvs"
)

// TestDesiredMarkPerFamily: as the kernel keys a firewall-mark service by
// mark and family, an IPv4 and an IPv6 virtual block with the same mark are
// two services (-f 80 and -f 80 -6), each with its own family's servers;
// an IPv6 one stays IPv6 when it has no real server.
func TestDesiredMarkPerFamily(t *testing.T) {
	block := func(name, vip, rip string) *config.Virtual {
		v := config.NewVirtual(name)
		v.Active, v.Address, v.Port, v.FWMark = true, netip.MustParseAddr(vip), 80, 80
		if rip != "" {
			s := config.NewServer(name + "_s")
			s.Active, s.Address = true, netip.MustParseAddr(rip)
			v.Servers = append(v.Servers, s)
		}
		return v
	}
	tests := []struct {
		name   string
		blocks []*config.Virtual
		want   map[ipvs.ServiceKey][]string
	}{
		{"both families", []*config.Virtual{block("web", "192.168.26.10", "10.11.12.1"), block("web6", "2001:db8:26::10", "fd00:11:12::1")},
			map[ipvs.ServiceKey][]string{ipvs.MarkKey(80): {"10.11.12.1"}, ipvs.MarkKey6(80): {"fd00:11:12::1"}}},
		{"IPv6 without servers", []*config.Virtual{block("web6", "2001:db8:26::10", "")},
			map[ipvs.ServiceKey][]string{ipvs.MarkKey6(80): nil}},
		{"one family bundled", []*config.Virtual{block("a6", "2001:db8:26::10", "fd00:11:12::1"), block("b6", "2001:db8:26::11", "fd00:11:12::2")},
			map[ipvs.ServiceKey][]string{ipvs.MarkKey6(80): {"fd00:11:12::1", "fd00:11:12::2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Config{Network: config.NetworkDirect, Virtuals: tt.blocks}
			got := map[ipvs.ServiceKey][]string{}
			for _, w := range Desired(c, nil) {
				if _, dup := got[w.Spec.Key]; dup {
					t.Errorf("service %v twice", w.Spec.Key)
				}
				got[w.Spec.Key] = nil
				for _, d := range w.Dests {
					got[w.Spec.Key] = append(got[w.Spec.Key], d.Addr.String())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("services %v, want %v", got, tt.want)
			}
			for k, want := range tt.want {
				g, ok := got[k]
				if !ok || len(g) != len(want) {
					t.Fatalf("services %v, want %v", got, tt.want)
				}
				for i := range want {
					if g[i] != want[i] {
						t.Errorf("%v: servers %v, want %v", k, g, want)
					}
				}
			}
		})
	}
}
