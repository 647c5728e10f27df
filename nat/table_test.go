package nat

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"lvs/ipvs"
)

var (
	vip    = netip.MustParseAddr("192.168.26.10")
	rip1   = netip.MustParseAddrPort("10.11.12.1:20")
	rip2   = netip.MustParseAddrPort("10.11.12.2:20")
	client = netip.MustParseAddrPort("203.0.113.11:40001")
)

// reserve reserves the listed ports of the VIP.
type reserve map[uint16]bool

func (r reserve) Reserved(proto uint8, peer, outer netip.AddrPort) bool { return r[outer.Port()] }

func TestAddKeepsPortAndTranslatesBothWays(t *testing.T) {
	tb := NewTable(0)
	f, err := tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.AddrPortFrom(vip, 20); f.Outer != want {
		t.Errorf("Add outer = %v, want %v (MASQUERADE keeps a free source port)", f.Outer, want)
	}
	got, ok := tb.LookupOut(protoTCP, rip1, client, tcpSYN, 1)
	if !ok || got != f {
		t.Errorf("LookupOut = %v, %v; want %v", got, ok, f)
	}
	got, ok = tb.LookupIn(protoTCP, client, f.Outer, tcpSYN|tcpACK, 2)
	if !ok || got.Inner != rip1 {
		t.Errorf("LookupIn = %v, %v; want inner %v", got, ok, rip1)
	}
	if _, ok := tb.LookupIn(protoUDP, client, f.Outer, 0, 2); ok {
		t.Errorf("LookupIn found the TCP flow for UDP")
	}
	if _, ok := tb.LookupIn(protoTCP, netip.MustParseAddrPort("203.0.113.12:40001"), f.Outer, 0, 2); ok {
		t.Errorf("LookupIn found the flow for another peer")
	}
}

func TestAddAvoidsUsedAndReservedPorts(t *testing.T) {
	tb := NewTable(0)
	f1, err := tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// rs2 opens from the same port to the same client: the outer tuple
	// VIP:20 → client is taken, so it gets another privileged port.
	f2, err := tb.Add(protoTCP, rip2, client, vip, 0, Stats{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f2.Outer == f1.Outer || f2.Outer.Port() < 600 || f2.Outer.Port() > 1023 {
		t.Errorf("second flow outer = %v, want a free port in 600-1023 other than %v", f2.Outer, f1.Outer)
	}
	// To another peer the same outer port is free again.
	other := netip.MustParseAddrPort("203.0.113.12:5000")
	f3, _ := tb.Add(protoTCP, rip2, other, vip, 0, Stats{}, nil, 0)
	if f3.Outer.Port() != 20 {
		t.Errorf("flow to another peer: outer %v, want port 20", f3.Outer)
	}
	// A reserved wanted port is never used.
	res := reserve{30000: true}
	hi := netip.MustParseAddrPort("10.11.12.1:30000")
	f4, err := tb.Add(protoTCP, hi, client, vip, 0, Stats{}, res, 0)
	if err != nil || f4.Outer.Port() == 30000 || f4.Outer.Port() < 1024 {
		t.Errorf("Add with a reserved port: %v, %v; want another port >= 1024", f4.Outer, err)
	}
	// Adding the same flow again returns it.
	again, err := tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	if err != nil || again != f1 {
		t.Errorf("Add again = %v, %v; want %v", again, err, f1)
	}
	if tb.Len() != 4 {
		t.Errorf("Len = %d, want 4", tb.Len())
	}
}

func TestNoPortLeft(t *testing.T) {
	tb := NewTable(0)
	all := reserveAll{}
	if _, err := tb.Add(protoUDP, rip1, client, vip, 0, Stats{}, all, 0); !errors.Is(err, ErrNoPort) {
		t.Errorf("Add with every port reserved: err %v, want ErrNoPort", err)
	}
}

type reserveAll struct{}

func (reserveAll) Reserved(uint8, netip.AddrPort, netip.AddrPort) bool { return true }

func TestExpiryFollowsTCPState(t *testing.T) {
	tb := NewTable(0)
	ms := func(d time.Duration) ipvs.Tick { return ipvs.Tick(d.Milliseconds()) }
	f, _ := tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	// SYN_SENT: 2 minutes.
	if _, ok := tb.LookupIn(protoTCP, client, f.Outer, 0, ms(2*time.Minute)+1); ok {
		t.Fatalf("a half-open flow outlived SYN_SENT's timeout")
	}
	f, _ = tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, ms(3*time.Minute))
	now := ms(3 * time.Minute)
	tb.LookupIn(protoTCP, client, f.Outer, tcpSYN|tcpACK, now) // established: 15 minutes
	if _, ok := tb.LookupOut(protoTCP, rip1, client, tcpACK, now+ms(14*time.Minute)); !ok {
		t.Fatalf("an established flow expired before 15 minutes")
	}
	now += ms(14 * time.Minute)
	tb.LookupOut(protoTCP, rip1, client, tcpRST, now) // closed: 10 s
	if _, ok := tb.LookupOut(protoTCP, rip1, client, tcpACK, now+ms(11*time.Second)); ok {
		t.Errorf("a reset flow outlived CLOSE's 10 s")
	}
	if n := tb.Expire(now + ms(time.Hour)); n != 1 || tb.Len() != 0 {
		t.Errorf("Expire removed %d, Len %d; want 1, 0", n, tb.Len())
	}
}

func TestTableFull(t *testing.T) {
	tb := NewTable(2)
	for i := range 2 {
		in := netip.AddrPortFrom(rip1.Addr(), uint16(2000+i))
		if _, err := tb.Add(protoUDP, in, client, vip, 0, Stats{}, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tb.Add(protoUDP, netip.MustParseAddrPort("10.11.12.1:3000"), client, vip, 0, Stats{}, nil, 0); !errors.Is(err, ErrTableFull) {
		t.Errorf("Add to a full table: %v, want ErrTableFull", err)
	}
	// Once the old flows expired there is room again.
	later := ipvs.Tick(DefaultTimeouts().UDP.Milliseconds() + 1)
	if _, err := tb.Add(protoUDP, netip.MustParseAddrPort("10.11.12.1:3000"), client, vip, 0, Stats{}, nil, later); err != nil {
		t.Errorf("Add after expiry: %v", err)
	}
}

func TestInsertFixedTranslation(t *testing.T) {
	tb := NewTable(0)
	fl := Flow{Proto: protoTCP, Inner: netip.MustParseAddrPort("10.11.12.1:12345"), Peer: client,
		Outer: netip.AddrPortFrom(vip, 12345)}
	if _, err := tb.Insert(fl, 0); err != nil {
		t.Fatal(err)
	}
	other := fl
	other.Inner = netip.MustParseAddrPort("10.11.12.2:12345")
	if _, err := tb.Insert(other, 0); err == nil {
		t.Errorf("Insert of a second flow with the same outer tuple succeeded")
	}
}

func TestLookupNoAllocs(t *testing.T) {
	tb := NewTable(0)
	f, _ := tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	n := testing.AllocsPerRun(1000, func() {
		tb.LookupOut(protoTCP, rip1, client, tcpACK, 1)
		tb.LookupIn(protoTCP, client, f.Outer, tcpACK, 1)
	})
	if n != 0 {
		t.Errorf("lookups allocate %v times, want 0", n)
	}
}

func TestMasqueradeMatch(t *testing.T) {
	m := NewMasquerade([]Rule{{Proto: protoTCP, Src: netip.MustParsePrefix("10.11.12.0/24"), SPortLo: 20, SPortHi: 20, OutPort: -1}},
		map[netip.Addr]netip.Addr{rip1.Addr(): vip}, []netip.Addr{netip.MustParseAddr("192.168.26.11"), {}}, nil)
	tests := []struct {
		name     string
		proto    uint8
		src, dst netip.AddrPort
		out      int
		want     bool
	}{
		{"active ftp", protoTCP, rip1, client, 0, true},
		{"other port", protoTCP, netip.MustParseAddrPort("10.11.12.1:21"), client, 0, false},
		{"udp", protoUDP, rip1, client, 0, false},
		{"other network", protoTCP, netip.MustParseAddrPort("10.11.13.1:20"), client, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Match(tt.proto, tt.src, tt.dst, tt.out); got != tt.want {
				t.Errorf("Match(%d, %v, %v) = %v, want %v", tt.proto, tt.src, tt.dst, got, tt.want)
			}
		})
	}
	if a, ok := m.Source(rip1.Addr(), 0); !ok || a != vip {
		t.Errorf("Source(rs1) = %v, %v; want its VIP", a, ok)
	}
	if a, ok := m.Source(netip.MustParseAddr("10.11.12.7"), 0); !ok || a.String() != "192.168.26.11" {
		t.Errorf("Source(other host) = %v, %v; want the port's address", a, ok)
	}
	if _, ok := m.Source(netip.MustParseAddr("10.11.12.7"), 1); ok {
		t.Errorf("Source on a port without an address succeeded")
	}
	ifaced := NewMasquerade([]Rule{{OutPort: 0}}, nil, nil, nil)
	if ifaced.Match(protoUDP, rip1, client, 1) || !ifaced.Match(protoUDP, rip1, client, 0) {
		t.Errorf("-o rule matched the wrong egress port")
	}
}
