package admin

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"lvs/ipvs"
)

var update = flag.Bool("update", false, "rewrite golden files")

type nopSched struct{}

func (nopSched) Name() string                              { return "nop" }
func (nopSched) Update(*ipvs.Service)                      {}
func (nopSched) Pick(*ipvs.Service, *ipvs.Flow) *ipvs.Dest { return nil }

// sampleStatus is the reference sample of ipvsadm -L -n (ecosystem.md §1.2)
// plus a UDP service and a fwmark bundle, built through a real table.
func sampleStatus(t *testing.T) Status {
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
	st := StatusFromTable(tb)
	st.Services[2].Stats.CPS, st.Services[2].Stats.InBPS = 12, 2_500_000_000
	return st
}

func TestWriteListGolden(t *testing.T) {
	tests := []struct {
		name string
		f    ListFormat
	}{
		{"list", 0},
		{"stats", FmtStats},
		{"stats-exact", FmtStats | FmtExact},
		{"rate", FmtRate},
		{"thresholds", FmtThresholds},
		{"persistent-conn", FmtPersistentConn},
		{"save", FmtRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteList(&b, sampleStatus(t), tt.f); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "ipvsadm-"+tt.name+".golden"), b.Bytes())
		})
	}
}

func TestWriteTimeouts(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTimeouts(&b, Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "Timeout (tcp tcpfin udp): 900 120 300\n"; got != want {
		t.Errorf("WriteTimeouts = %q, want %q", got, want)
	}
}

func TestLargenum(t *testing.T) {
	tests := []struct {
		v    uint64
		f    ListFormat
		want string
	}{
		{99_999_999, 0, " 99999999"},
		{123_456_789, 0, "  123456K"},
		{2_500_000_000, 0, "    2500M"},
		{250_000_000_000, 0, "     250G"},
		{123_456_789_012_345, 0, "     123T"},
		{7, FmtExact, "        7"},
		{123_456_789_012, FmtExact, " 123456789012"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		largenums(&b, tt.f, tt.v)
		if b.String() != tt.want {
			t.Errorf("largenum(%d, %v) = %q, want %q", tt.v, tt.f, b.String(), tt.want)
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
