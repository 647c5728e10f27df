package sched

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"lvs/ipvs"
)

var vipKey = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: netip.MustParseAddr("192.168.26.10"), Port: 80}

// fixture is one service in a real ipvs.Table, edited through the table as
// the daemon does. Destinations are named A, B, C...: A is 10.0.0.1:80.
type fixture struct {
	tb  testing.TB
	tab *ipvs.Table
}

func newFixture(tb testing.TB, name string, opts ipvs.SchedOptions, weights ...int32) *fixture {
	tb.Helper()
	tab, err := ipvs.NewTable(ipvs.NewRegistry(), New).AddService(ipvs.ServiceSpec{Key: vipKey,
		SchedSpec: ipvs.SchedSpec{SchedName: name, SchedOpts: opts}})
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{tb: tb, tab: tab}
	for i, w := range weights {
		f.add(destName(i), w, 0)
	}
	return f
}

func destName(i int) string { return string(rune('A' + i)) }

func destAddr(name string) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, byte(int(name[0]-'A') / 256), byte(int(name[0]-'A')%256 + 1)})
}

// nameOf returns the letter of d, or "-" for nil.
func nameOf(d *ipvs.Dest) string {
	if d == nil {
		return "-"
	}
	b := d.Addr.As4()
	return destName(int(b[2])*256 + int(b[3]) - 1)
}

func (f *fixture) must(tab *ipvs.Table, err error) {
	f.tb.Helper()
	if err != nil {
		f.tb.Fatal(err)
	}
	f.tab = tab
}

func (f *fixture) add(name string, w int32, upper uint32) {
	f.tb.Helper()
	f.must(f.tab.AddDest(vipKey, ipvs.DestSpec{Addr: destAddr(name), Port: 80, Weight: w, UThreshold: upper}))
}

func (f *fixture) edit(name string, w int32, upper uint32) {
	f.tb.Helper()
	f.must(f.tab.EditDest(vipKey, ipvs.DestSpec{Addr: destAddr(name), Port: 80, Weight: w, UThreshold: upper}))
}

func (f *fixture) del(name string) {
	f.tb.Helper()
	f.must(f.tab.DeleteDest(vipKey, destAddr(name), 80))
}

func (f *fixture) svc() *ipvs.Service { return f.tab.Service(vipKey) }

func (f *fixture) dest(name string) *ipvs.Dest { return f.svc().Dest(destAddr(name), 80) }

// conns binds active and inactive connections to a destination.
func (f *fixture) conns(name string, active, inactive int) {
	c := f.dest(name).C
	for range active {
		c.Bind(true, c.Epoch())
	}
	for range inactive {
		c.Bind(false, c.Epoch())
	}
}

// overload gives a destination an upper threshold of 1 and one connection.
func (f *fixture) overload(name string) {
	f.tb.Helper()
	d := f.dest(name)
	f.edit(name, d.Weight, 1)
	f.conns(name, 1, 0)
	if !f.dest(name).C.Overloaded() {
		f.tb.Fatalf("%s not overloaded", name)
	}
}

func (f *fixture) pick(fl *ipvs.Flow) *ipvs.Dest {
	s := f.svc()
	return s.Sched.Pick(s, fl)
}

// picks returns the names of n picks for flow fl, without separators.
func (f *fixture) picks(n int, fl *ipvs.Flow) string {
	var b strings.Builder
	for range n {
		b.WriteString(nameOf(f.pick(fl)))
	}
	return b.String()
}

// flowFrom is a flow from client src (any port) to the VIP, or to dst if given.
func flowFrom(src string, port uint16) *ipvs.Flow {
	return &ipvs.Flow{Src: netip.AddrPortFrom(netip.MustParseAddr(src), port),
		Dst: netip.AddrPortFrom(vipKey.Addr, 80)}
}

// flowTo is a flow to destination address dst (lblc, lblcr, dh key on it).
func flowTo(dst string, now ipvs.Tick) *ipvs.Flow {
	return &ipvs.Flow{Src: netip.MustParseAddrPort("172.16.0.1:40000"),
		Dst: netip.AddrPortFrom(netip.MustParseAddr(dst), 80), Now: now}
}

// clientFlows returns n flows from distinct clients to distinct addresses.
func clientFlows(n int) []ipvs.Flow {
	fl := make([]ipvs.Flow, n)
	for i := range fl {
		x := uint32(i)*2654435761 + 12345
		fl[i] = ipvs.Flow{
			Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), uint16(1024+i)),
			Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)}), 80),
		}
	}
	return fl
}

func expectSeq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: picks = %s, want %s", what, got, want)
	}
}

func (f *fixture) String() string {
	var b strings.Builder
	for _, d := range f.svc().Dests {
		fmt.Fprintf(&b, "%s(w%d) ", nameOf(d), d.Weight)
	}
	return b.String()
}

// newBoundFixture builds the destinations first and then binds the
// scheduler to the service (ipvsadm -E -s name), so it starts as the
// kernel's init_svc does with destinations present.
func newBoundFixture(tb testing.TB, name string, opts ipvs.SchedOptions, weights ...int32) *fixture {
	tb.Helper()
	f := newFixture(tb, "fo", ipvs.SchedOptions{}, weights...)
	f.must(f.tab.EditService(vipKey, ipvs.SchedSpec{SchedName: name, SchedOpts: opts}, ""))
	return f
}
