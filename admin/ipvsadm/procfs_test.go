package ipvsadm

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"lvs/admin"
	"lvs/admin/admintest"
)

func dest(addr string, port uint16, fwd string, weight, active, inactive int32) admin.DestStatus {
	return admin.DestStatus{Addr: netip.MustParseAddr(addr), Port: port, Forward: fwd, Weight: weight, Active: active, Inactive: inactive}
}

// fixtureStatus is the table of prometheus/procfs testdata/fixtures.ttar
// (fixtures/proc/net/ip_vs), a kernel director's output, in its hash order.
func fixtureStatus() admin.Status {
	tcp := func(addr string, port uint16, sched string, dests ...admin.DestStatus) admin.ServiceStatus {
		return admin.ServiceStatus{Proto: "TCP", Addr: netip.MustParseAddr(addr), Port: port, Sched: sched, Dests: dests}
	}
	return admin.Status{Services: []admin.ServiceStatus{
		tcp("192.168.0.22", 3306, "wlc",
			dest("192.168.82.22", 3306, "Tunnel", 100, 248, 2),
			dest("192.168.83.24", 3306, "Tunnel", 100, 248, 2),
			dest("192.168.83.21", 3306, "Tunnel", 100, 248, 1)),
		tcp("192.168.0.57", 3306, "wlc",
			dest("192.168.84.22", 3306, "Tunnel", 0, 0, 0),
			dest("192.168.82.21", 3306, "Tunnel", 100, 1499, 0),
			dest("192.168.50.21", 3306, "Tunnel", 100, 1498, 0)),
		tcp("192.168.0.55", 3306, "wlc",
			dest("192.168.50.26", 3306, "Tunnel", 0, 0, 0),
			dest("192.168.49.32", 3306, "Tunnel", 100, 0, 0)),
		tcp("2620::1", 80, "sh",
			dest("2620::2", 80, "Route", 1, 0, 0),
			dest("2620::3", 80, "Route", 1, 0, 0),
			dest("2620::4", 80, "Route", 1, 1, 1)),
		{FWMark: 0x10001000, Sched: "wlc", Dests: []admin.DestStatus{
			dest("192.168.50.26", 3306, "Route", 0, 0, 1),
			dest("192.168.50.21", 3306, "Route", 0, 0, 2)}},
	}}
}

// trimLines drops the blanks at line ends; the fixture file has none, the
// kernel (and lvsd) print "wlc  " before the newline.
func trimLines(b []byte) string {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func TestWriteProcIPVSFixture(t *testing.T) {
	var b bytes.Buffer
	if err := WriteProcIPVS(&b, fixtureStatus()); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "procfs-ip_vs.fixture"))
	if err != nil {
		t.Fatal(err)
	}
	if got := trimLines(b.Bytes()); got != string(want) {
		t.Errorf("WriteProcIPVS differs from the kernel fixture:\ngot:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(b.String(), "TCP  C0A80016:0CEA wlc  \n") {
		t.Errorf("service line lacks the kernel's trailing blanks (\"%%s %%s \" with no ops):\n%s", b.String())
	}
}

func TestWriteProcIPVSStatsFixture(t *testing.T) {
	// Two services whose sums are the fixture's totals.
	st := admin.Status{Services: []admin.ServiceStatus{
		{Stats: admin.Counters{Conns: 0x16AA370 - 5, InPkts: 0xE33656E5 - 7, InBytes: 0x51D8C8883AB3 - 11, CPS: 3, InPPS: 0x1FB3C, InBPS: 0x1282A8F}},
		{Stats: admin.Counters{Conns: 5, InPkts: 7, InBytes: 11, CPS: 1}},
	}}
	var b bytes.Buffer
	if err := WriteProcIPVSStats(&b, st); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "procfs-ip_vs_stats.fixture"))
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("WriteProcIPVSStats differs from the kernel fixture:\ngot:\n%s\nwant:\n%s", b.String(), want)
	}
}

// procStatus is admintest.SampleStatus plus what the fixture lacks: persistence with
// a mask, one-packet scheduling and a persistent IPv6 service.
func procStatus(t *testing.T) admin.Status {
	st := admintest.SampleStatus(t)
	st.Sort()
	st.Services[1].OnePacket = true
	st.Services = append(st.Services, admin.ServiceStatus{Proto: "TCP", Addr: netip.MustParseAddr("2001:db8::10"), Port: 443,
		Sched: "rr", Persistence: 60 * time.Second, PMaskBits: 64,
		Dests: []admin.DestStatus{dest("2001:db8:1::1", 443, "Masq", 5, 1, 2)}})
	return st
}

func TestWriteProcIPVSGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteProcIPVS(&b, procStatus(t)); err != nil {
		t.Fatal(err)
	}
	admintest.Golden(t, filepath.Join("testdata", "proc-ip_vs.golden"), b.Bytes())
	for _, want := range []string{
		"TCP  C0A81A0A:0050 wlc  persistent 75000 FFFFFF00\n", // 300 s at HZ 250, /24
		"UDP  C0A81A0A:0035 rr ops  \n",
		"TCP  [2001:0db8:0000:0000:0000:0000:0000:0010]:01BB rr persistent 15000 40000000\n", // ntohl(64) on a little-endian kernel
		"FWM  00000050 rr \n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestProcIPVSParsedByProcfs reads lvsd's text back with the parser
// node_exporter uses, from a directory laid out as /proc.
func TestProcIPVSParsedByProcfs(t *testing.T) {
	st := procStatus(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ipvs, stats bytes.Buffer
	if err := WriteProcIPVS(&ipvs, st); err != nil {
		t.Fatal(err)
	}
	if err := WriteProcIPVSStats(&stats, st); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"ip_vs": ipvs.Bytes(), "ip_vs_stats": stats.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, "net", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := procfs.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.IPVSBackendStatus()
	if err != nil {
		t.Fatalf("procfs IPVSBackendStatus: %v", err)
	}
	var want []procfs.IPVSBackendStatus
	for _, s := range st.Services {
		for _, d := range s.Dests {
			b := procfs.IPVSBackendStatus{RemoteAddress: net.IP(d.Addr.AsSlice()), RemotePort: d.Port, Proto: s.Proto,
				LocalPort: s.Port, ActiveConn: uint64(d.Active), InactConn: uint64(d.Inactive), Weight: uint64(d.Weight)}
			if s.FWMark != 0 {
				b.Proto, b.LocalPort, b.LocalMark = "FWM", 0, "00000050"
			} else {
				b.LocalAddress = net.IP(s.Addr.AsSlice())
			}
			want = append(want, b)
		}
	}
	eq := func(a, b procfs.IPVSBackendStatus) bool {
		return a.LocalAddress.Equal(b.LocalAddress) && a.RemoteAddress.Equal(b.RemoteAddress) && a.LocalPort == b.LocalPort &&
			a.RemotePort == b.RemotePort && a.LocalMark == b.LocalMark && a.Proto == b.Proto &&
			a.ActiveConn == b.ActiveConn && a.InactConn == b.InactConn && a.Weight == b.Weight
	}
	if !slices.EqualFunc(got, want, eq) {
		t.Errorf("procfs read back:\n%+v\nwant:\n%+v", got, want)
	}
	tot, err := fs.IPVSStats()
	if err != nil {
		t.Fatalf("procfs IPVSStats: %v", err)
	}
	if tot.Connections != 1532 || tot.IncomingPackets != 48211 || tot.IncomingBytes != 123456789 {
		t.Errorf("procfs IPVSStats = %+v, want conns 1532, in packets 48211, in bytes 123456789", tot)
	}
}

func TestWriteProcConns(t *testing.T) {
	conns := []admin.ConnStatus{
		{Proto: "TCP", Client: netip.MustParseAddrPort("192.168.26.99:51234"), Virtual: netip.MustParseAddrPort("192.168.26.10:80"),
			Dest: netip.MustParseAddrPort("10.11.12.1:80"), State: "ESTABLISHED", Expires: 897*time.Second + 600*time.Millisecond},
		{Proto: "UDP", Client: netip.MustParseAddrPort("192.168.26.97:5353"), Virtual: netip.MustParseAddrPort("192.168.26.10:53"),
			Dest: netip.MustParseAddrPort("10.11.12.3:53"), State: "UDP", Expires: 299 * time.Second},
		{Proto: "IP", Client: netip.MustParseAddrPort("192.168.26.0:0"), Virtual: netip.MustParseAddrPort("0.0.0.80:0"),
			Dest: netip.MustParseAddrPort("10.11.12.4:0"), State: "NONE", Expires: -time.Second},
		{Proto: "TCP", Client: netip.MustParseAddrPort("[2001:db8::99]:40000"), Virtual: netip.MustParseAddrPort("[2001:db8::10]:443"),
			Dest: netip.MustParseAddrPort("[2001:db8:1::1]:443"), State: "SYN_RECV", Expires: 59 * time.Second},
	}
	var b bytes.Buffer
	if err := WriteProcConns(&b, conns); err != nil {
		t.Fatal(err)
	}
	// Rows as ip_vs_conn_seq_show prints them: "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s\n".
	want := "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n" +
		"TCP C0A81A63 C822 C0A81A0A 0050 0A0B0C01 0050 ESTABLISHED     897\n" +
		"UDP C0A81A61 14E9 C0A81A0A 0035 0A0B0C03 0035 UDP             299\n" +
		"IP  C0A81A00 0000 00000050 0000 0A0B0C04 0000 NONE              0\n" +
		"TCP 2001:0db8:0000:0000:0000:0000:0000:0099 9C40 2001:0db8:0000:0000:0000:0000:0000:0010 01BB " +
		"2001:0db8:0001:0000:0000:0000:0000:0001 01BB SYN_RECV         59\n"
	if b.String() != want {
		t.Errorf("WriteProcConns:\ngot:\n%s\nwant:\n%s", b.String(), want)
	}
}
