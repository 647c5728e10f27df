package admintest

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"testing"
	"time"

	"lvs/admin"
	"lvs/ipvs"
)

// The addresses and services of the sample table.
var (
	VIP = netip.MustParseAddr("192.168.26.10")
	RIP = netip.MustParseAddr("10.11.12.1")
	Web = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: VIP, Port: 80}
	DNS = ipvs.ServiceKey{Proto: ipvs.UDP, Addr: VIP, Port: 53}
)

type nopSched struct{}

func (nopSched) Name() string                              { return "nop" }
func (nopSched) Update(*ipvs.Service)                      {}
func (nopSched) Pick(*ipvs.Service, *ipvs.Flow) *ipvs.Dest { return nil }

// SampleStatus is the reference sample of ipvsadm -L -n (ecosystem.md §1.2)
// plus a UDP service and a fwmark bundle, built through a real table.
func SampleStatus(t *testing.T) admin.Status {
	t.Helper()
	tb := ipvs.NewTable(ipvs.NewRegistry(), func(string, ipvs.SchedOptions) (ipvs.Scheduler, error) { return nopSched{}, nil })
	must := func(n *ipvs.Table, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		tb = n
	}
	vip := netip.MustParseAddr("192.168.26.10")
	web := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}
	dns := ipvs.ServiceKey{Proto: ipvs.UDP, Addr: vip, Port: 53}
	must(tb.AddService(ipvs.ServiceSpec{Key: ipvs.MarkKey(80), SchedSpec: ipvs.SchedSpec{SchedName: "rr"}}))
	must(tb.AddService(ipvs.ServiceSpec{Key: dns, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}}))
	must(tb.AddService(ipvs.ServiceSpec{Key: web, SchedSpec: ipvs.SchedSpec{SchedName: "wlc", Persistence: 300 * time.Second, PMaskBits: 24}}))
	must(tb.AddDest(web, ipvs.DestSpec{Addr: netip.MustParseAddr("10.11.12.2"), Port: 80, Method: ipvs.Route, Weight: 0, UThreshold: 100, LThreshold: 50}))
	must(tb.AddDest(web, ipvs.DestSpec{Addr: netip.MustParseAddr("10.11.12.1"), Port: 80, Method: ipvs.Masq, Weight: 1}))
	must(tb.AddDest(dns, ipvs.DestSpec{Addr: netip.MustParseAddr("10.11.12.3"), Port: 53, Method: ipvs.Tunnel, Weight: 2}))
	d1 := tb.Service(web).Dest(netip.MustParseAddr("10.11.12.1"), 80)
	for i := 0; i < 3; i++ {
		d1.C.Bind(true, 0)
	}
	for i := 0; i < 12; i++ {
		d1.C.Bind(false, 0)
	}
	d1.C.InPkts.Store(24100)
	d1.C.InBytes.Store(3120000)
	d1.C.Persist.Store(4)
	tb.Service(web).C.Conns.Store(1532)
	tb.Service(web).C.InPkts.Store(48211)
	tb.Service(web).C.InBytes.Store(123456789)
	d2 := tb.Service(web).Dest(netip.MustParseAddr("10.11.12.2"), 80)
	d2.C.Bind(false, 0)
	st := admin.StatusFromTable(tb)
	st.Services[2].Stats.CPS, st.Services[2].Stats.InBPS = 12, 2_500_000_000
	return st
}

var update = flag.Bool("update", false, "rewrite golden files")

// Golden compares got with the golden file at path; with -update it
// writes got there first.
func Golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading Golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
