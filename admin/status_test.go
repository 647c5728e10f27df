package admin

import (
	"net/netip"
	"testing"

	"lvs/ipvs"
	"lvs/sched"
)

// TestStatusFromTableFamily: a firewall-mark service is of its key's family
// (-f 1 or -f 1 -6), whatever its real servers, and with none; an address
// service is its address's family.
func TestStatusFromTableFamily(t *testing.T) {
	tests := []struct {
		name  string
		key   ipvs.ServiceKey
		dests []string
		want6 bool
	}{
		{"IPv6 mark, IPv6 servers", ipvs.MarkKey6(1), []string{"2001:db8:1::1", "2001:db8:1::2"}, true},
		{"IPv6 mark, no server", ipvs.MarkKey6(1), nil, true},
		{"IPv4 mark, IPv4 servers", ipvs.MarkKey(1), []string{"10.11.12.1"}, false},
		{"IPv4 mark, IPv6 servers", ipvs.MarkKey(1), []string{"2001:db8:1::1", "2001:db8:1::2"}, false},
		{"IPv4 mark, no server", ipvs.MarkKey(1), nil, false},
		{"IPv6 address", ipvs.ServiceKey{Proto: ipvs.TCP, Addr: netip.MustParseAddr("2001:db8::10"), Port: 80}, nil, true},
		{"IPv4 address, IPv6 server", ipvs.ServiceKey{Proto: ipvs.TCP, Addr: netip.MustParseAddr("192.168.26.10"), Port: 80},
			[]string{"2001:db8:1::1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := ipvs.NewTable(ipvs.NewRegistry(), sched.New).AddService(ipvs.ServiceSpec{Key: tt.key,
				SchedSpec: ipvs.SchedSpec{SchedName: "rr", PMaskBits: 128}})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.dests {
				if tb, err = tb.AddDest(tt.key, ipvs.DestSpec{Addr: netip.MustParseAddr(a), Method: ipvs.Route, Weight: 1}); err != nil {
					t.Fatal(err)
				}
			}
			st := StatusFromTable(tb)
			if got := st.Services[0].Is6(); got != tt.want6 {
				t.Errorf("Is6 = %v, want %v (%+v)", got, tt.want6, st.Services[0])
			}
		})
	}
}

// TestSortFamily: ipvs_cmp_services orders by mark, then family, then
// protocol: an IPv4 UDP service lists before an IPv6 TCP one.
func TestSortFamily(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.168.26.10"), netip.MustParseAddr("2001:db8::10")
	st := Status{Services: []ServiceStatus{
		{FWMark: 1},
		{FWMark: 1, IPv6: true},
		{Proto: "TCP", Addr: v6, Port: 80},
		{Proto: "UDP", Addr: v4, Port: 53},
		{Proto: "TCP", Addr: v4, Port: 80},
		{FWMark: 0, Proto: "UDP", Addr: v6, Port: 53},
	}}
	st.Sort()
	var got []string
	for _, s := range st.Services {
		if s.FWMark != 0 {
			got = append(got, ipvs.MarkKey(s.FWMark).String()+map[bool]string{true: " IPv6"}[s.IPv6])
			continue
		}
		got = append(got, s.Proto+" "+netip.AddrPortFrom(s.Addr, s.Port).String())
	}
	want := []string{"TCP 192.168.26.10:80", "UDP 192.168.26.10:53", "TCP [2001:db8::10]:80", "UDP [2001:db8::10]:53", "FWM 1", "FWM 1 IPv6"}
	if len(got) != len(want) {
		t.Fatalf("sorted %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted %v, want %v", got, want)
		}
	}
}
