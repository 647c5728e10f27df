package nat

import (
	"net/netip"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

var (
	vip6    = netip.MustParseAddr("2001:db8:26::10")
	rip6a   = netip.MustParseAddrPort("[fd00:11:12::1]:20")
	rip6b   = netip.MustParseAddrPort("[fd00:11:12::2]:20")
	client6 = netip.MustParseAddrPort("[2001:db8:113::11]:40001")
)

// TestIPv6Flows: IPv6 flows translate both ways beside IPv4 ones, keep
// their source port, are told apart by every part of their addresses, and
// are looked up without allocating.
func TestIPv6Flows(t *testing.T) {
	tb := NewTable(0)
	f4, err := tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	f6, err := tb.Add(protoTCP, rip6a, client6, vip6, 0, Stats{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.AddrPortFrom(vip6, 20); f6.Outer != want {
		t.Errorf("Add outer = %v, want %v", f6.Outer, want)
	}
	// A second server to the same peer keeps the port too? No: the outer
	// tuple (client6, vip6:20) is taken, so it gets another port.
	g6, err := tb.Add(protoTCP, rip6b, client6, vip6, 0, Stats{}, nil, 0)
	if err != nil || g6.Outer == f6.Outer || g6.Outer.Addr() != vip6 {
		t.Errorf("second Add = %v, %v; want another port of %v", g6, err, vip6)
	}
	for _, fl := range []Flow{f4, f6, g6} {
		if got, ok := tb.LookupOut(protoTCP, fl.Inner, fl.Peer, tcpSYN, 1); !ok || got != fl {
			t.Errorf("LookupOut(%v → %v) = %v, %v; want %v", fl.Inner, fl.Peer, got, ok, fl)
		}
		if got, ok := tb.LookupIn(protoTCP, fl.Peer, fl.Outer, tcpSYN|tcpACK, 2); !ok || got.Inner != fl.Inner {
			t.Errorf("LookupIn(%v → %v) = %v, %v; want inner %v", fl.Peer, fl.Outer, got, ok, fl.Inner)
		}
	}
	misses := []struct {
		name        string
		proto       uint8
		peer, outer netip.AddrPort
	}{
		{"other protocol", protoUDP, client6, f6.Outer},
		{"other port", protoTCP, client6, netip.AddrPortFrom(vip6, 21)},
		{"high half differs", protoTCP, netip.MustParseAddrPort("[2001:db9:113::11]:40001"), f6.Outer},
		{"low half differs", protoTCP, netip.MustParseAddrPort("[2001:db8:113::12]:40001"), f6.Outer},
		{"peer port differs", protoTCP, netip.MustParseAddrPort("[2001:db8:113::11]:40002"), f6.Outer},
		{"IPv4-mapped form of an IPv4 flow", protoTCP, netip.AddrPortFrom(netip.AddrFrom16(client.Addr().As16()), client.Port()), f4.Outer},
	}
	for _, m := range misses {
		if got, ok := tb.FindIn(m.proto, m.peer, m.outer, 3); ok {
			t.Errorf("%s: FindIn(%v → %v) = %v, want no flow", m.name, m.peer, m.outer, got)
		}
	}
	if tb.Len() != 3 {
		t.Errorf("Len = %d, want 3", tb.Len())
	}
	n := testing.AllocsPerRun(1000, func() {
		tb.LookupOut(protoTCP, rip6a, client6, tcpACK, 4)
		tb.LookupIn(protoTCP, client6, f6.Outer, tcpACK, 4)
	})
	if n != 0 {
		t.Errorf("IPv6 lookups allocate %v times, want 0", n)
	}
	// Expiry and sweeping treat both families alike.
	if got := tb.Expire(ipvs.Tick((2*time.Minute + time.Hour).Milliseconds())); got != 3 || tb.Len() != 0 {
		t.Errorf("Expire = %d, Len = %d; want 3 and 0", got, tb.Len())
	}
}

// TestImportIPv6: an IPv6 NAT flow (an FTP data connection of an IPv6
// virtual service, or a masqueraded one) crosses the wire as a version-2
// record and the standby translates it both ways; records that mix
// families are refused.
func TestImportIPv6(t *testing.T) {
	master, backup := NewTable(0), NewTable(0)
	f, err := master.Add(protoTCP, rip6a, client6, vip6, 0, Stats{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := master.Add(protoUDP, rip6b, client6, vip6, 0, Stats{}, nil, 0)
	master.LookupIn(protoTCP, client6, f.Outer, tcpSYN|tcpACK, 5)
	var recs []conntrack.Record
	master.Records(10, func(r conntrack.Record) bool { recs = append(recs, r); return true })
	if len(recs) != 2 {
		t.Fatalf("Records = %d records, want 2", len(recs))
	}
	c := &ipvs.Counters{}
	for _, r := range recs {
		b := conntrack.AppendRecord(nil, r)
		if len(b) != conntrack.RecordLen6 {
			t.Errorf("record of %v is %d bytes, want the IPv6 record's %d", r.Real, len(b), conntrack.RecordLen6)
		}
		got, _, err := conntrack.ParseRecord(b)
		if err != nil || got != r {
			t.Fatalf("ParseRecord(AppendRecord(%+v)) = %+v, %v", r, got, err)
		}
		if err := backup.Import(got, Stats{Dest: c}, 1000); err != nil {
			t.Fatalf("Import(%+v): %v", got, err)
		}
	}
	for _, fl := range []Flow{f, u} {
		got, ok := backup.LookupOut(fl.Proto, fl.Inner, fl.Peer, tcpACK, 1001)
		if !ok || got.Outer != fl.Outer || got.Stats.Dest != c {
			t.Errorf("standby LookupOut(%v → %v) = %+v %v, want outer %v", fl.Inner, fl.Peer, got, ok, fl.Outer)
		}
		if _, ok := backup.LookupIn(fl.Proto, fl.Peer, fl.Outer, tcpACK, 1001); !ok {
			t.Errorf("standby LookupIn(%v → %v) missed", fl.Peer, fl.Outer)
		}
	}
	var state conntrack.State
	backup.Entries(1001, func(e Entry) bool {
		if e.Proto == protoTCP {
			state = e.State
		}
		return true
	})
	if state != conntrack.StateEstablished {
		t.Errorf("standby TCP flow state = %v, want ESTABLISHED", state)
	}
	r := recs[0]
	for _, bad := range []struct {
		name string
		mod  func(*conntrack.Record)
	}{
		{"IPv4 real server", func(r *conntrack.Record) { r.Real = rip1 }},
		{"IPv4 client", func(r *conntrack.Record) { r.Client = client }},
		{"IPv4 public address", func(r *conntrack.Record) { r.Virtual = netip.AddrPortFrom(vip, 20) }},
		{"IPv4-mapped client", func(r *conntrack.Record) {
			r.Client = netip.AddrPortFrom(netip.AddrFrom16(client.Addr().As16()), client.Port())
		}},
	} {
		x := r
		bad.mod(&x)
		if err := NewTable(0).Import(x, Stats{}, 1000); err == nil {
			t.Errorf("%s: Import(%+v) succeeded, want it refused", bad.name, x)
		}
	}
}

// TestHelperIPv6Expectations: the FTP helper keeps expectations of IPv6
// data connections apart from IPv4 ones.
func TestHelperIPv6Expectations(t *testing.T) {
	h := NewHelper()
	outer := netip.AddrPortFrom(vip6, 20)
	h.ExpectPassive(client6.Addr(), netip.AddrPortFrom(vip6, 40000), rip6a, Stats{}, 0)
	h.ExpectActive(rip6a.Addr(), client6, outer, Stats{}, 0)
	if _, _, ok := h.TakePassive(client.Addr(), netip.AddrPortFrom(vip6, 40000), 1); ok {
		t.Error("TakePassive with an IPv4 client found the IPv6 expectation")
	}
	if real, _, ok := h.TakePassive(client6.Addr(), netip.AddrPortFrom(vip6, 40000), 1); !ok || real != rip6a {
		t.Errorf("TakePassive = %v, %v; want %v", real, ok, rip6a)
	}
	if got, _, ok := h.TakeActive(rip6a.Addr(), client6, 1); !ok || got != outer {
		t.Errorf("TakeActive = %v, %v; want %v", got, ok, outer)
	}
}

// TestMasqueradeMatch6: IPv6 rules match IPv6 packets only and IPv4 rules
// IPv4 ones (an ip6tables rule without addresses is not an IPv4 rule),
// and an IPv6 source is masqueraded to its VIP or the port's IPv6 address.
func TestMasqueradeMatch6(t *testing.T) {
	port6 := netip.MustParseAddr("2001:db8:26::11")
	m := NewMasquerade([]Rule{
		{Proto: protoTCP, Src: netip.MustParsePrefix("fd00:11:12::/64"), SPortLo: 20, SPortHi: 20, OutPort: -1, IPv6: true},
		{Proto: protoUDP, Dst: netip.MustParsePrefix("2001:db8:99::/48"), OutPort: 0, IPv6: true},
		{Proto: protoUDP, DPortLo: 53, DPortHi: 53, OutPort: -1, IPv6: true}, // ip6tables -p udp --dport 53: no address
		{Proto: protoTCP, Src: netip.MustParsePrefix("10.11.12.0/24"), OutPort: -1},
	}, map[netip.Addr]netip.Addr{rip6a.Addr(): vip6, rip1.Addr(): vip}, nil, []netip.Addr{port6, {}})
	ap := netip.MustParseAddrPort
	tests := []struct {
		name     string
		proto    uint8
		src, dst netip.AddrPort
		out      int
		want     bool
	}{
		{"active ftp", protoTCP, rip6a, client6, 0, true},
		{"other source port", protoTCP, ap("[fd00:11:12::1]:21"), client6, 0, false},
		{"other network", protoTCP, ap("[fd00:11:13::1]:20"), client6, 0, false},
		{"destination network", protoUDP, ap("[fd00:11:12::1]:5000"), ap("[2001:db8:99:1::1]:123"), 0, true},
		{"destination network, other port", protoUDP, ap("[fd00:11:12::1]:5000"), ap("[2001:db8:99:1::1]:123"), 1, false},
		{"dns anywhere", protoUDP, ap("[fd00:11:12::1]:5000"), ap("[2001:db8:1::1]:53"), 1, true},
		{"ipv4 rule for ipv4", protoTCP, rip1, client, 0, true},
		{"ipv6 rule not for ipv4", protoUDP, ap("10.11.12.1:5000"), ap("192.0.2.1:53"), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Match(tt.proto, tt.src, tt.dst, tt.out); got != tt.want {
				t.Errorf("Match(%d, %v, %v, %d) = %v, want %v", tt.proto, tt.src, tt.dst, tt.out, got, tt.want)
			}
		})
	}
	if a, ok := m.Source(rip6a.Addr(), 1); !ok || a != vip6 {
		t.Errorf("Source(%v) = %v, %v; want its VIP %v", rip6a.Addr(), a, ok, vip6)
	}
	if a, ok := m.Source(netip.MustParseAddr("fd00:11:12::7"), 0); !ok || a != port6 {
		t.Errorf("Source(other IPv6 host) = %v, %v; want the port's IPv6 address %v", a, ok, port6)
	}
	if _, ok := m.Source(netip.MustParseAddr("fd00:11:12::7"), 1); ok {
		t.Errorf("Source on a port without an IPv6 address succeeded")
	}
	if a, ok := m.Source(rip1.Addr(), 1); !ok || a != vip {
		t.Errorf("Source(%v) = %v, %v; want its IPv4 VIP", rip1.Addr(), a, ok)
	}
	if n := testing.AllocsPerRun(100, func() { m.Match(protoUDP, rip6a, client6, 0); m.Source(rip6a.Addr(), 0) }); n != 0 {
		t.Errorf("Match and Source of IPv6 allocate %v times, want 0", n)
	}
}
