package ipvsadm

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/ipvs"
)

var (
	vip4 = netip.MustParseAddr("192.168.26.10")
	vip6 = netip.MustParseAddr("2001:db8::10")
	rip6 = netip.MustParseAddr("2001:db8:1::1")
	web6 = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 80}
	dns6 = ipvs.ServiceKey{Proto: ipvs.UDP, Addr: vip6, Port: 53}
)

func TestParseArgsIPv6(t *testing.T) {
	mark6 := func(c Command) Command { c.Service.IPv6 = true; return c }
	tests := []struct {
		name string
		args string
		want Command
	}{
		{"bracketed service", "-A -t [2001:db8::10]:80 -s rr", svcCmd(KindAddService, web6, "rr", 0, 128)},
		{"udp, prefix length mask", "-A -u [2001:db8::10]:53 -s rr -p 60 -M 64", svcCmd(KindAddService, dns6, "rr", time.Minute, 64)},
		{"edit", "-E -t [2001:db8::10]:80 -s wlc -p", svcCmd(KindEditService, web6, "wlc", 300*time.Second, 128)},
		{"server with port", "-a -t [2001:db8::10]:80 -r [2001:db8:1::1]:8080 -m -w 2",
			with(destCmd(KindAddDest, web6, rip6, 8080, 2), func(c *Command) {
				c.Dest.Method, c.MethodSet, c.DestPortSet = ipvs.Masq, true, true
			})},
		{"bare server takes the service port", "-a -t [2001:db8::10]:80 -r 2001:db8:1::1 -g",
			with(destCmd(KindAddDest, web6, rip6, 80, 1), func(c *Command) { c.Dest.Method, c.MethodSet = ipvs.Route, true })},
		{"delete server", "-d -t [2001:db8::10]:80 -r [2001:db8:1::1]:80",
			with(destCmd(KindDelDest, web6, rip6, 80, 1), func(c *Command) { c.DestPortSet = true })},
		{"delete service", "-D -u [2001:db8::10]:53",
			Command{Kind: KindDelService, Service: dns6, HasService: true, Sched: ipvs.SchedSpec{PMaskBits: 32}, Dest: ipvs.DestSpec{Weight: 1}}},
		{"fwmark -6", "-A -f 1 -6 -s sh", mark6(svcCmd(KindAddService, ipvs.MarkKey(1), "sh", 0, 128))},
		{"fwmark --ipv6, mask", "--add-service --fwmark-service 1 --ipv6 -p 60 -M 48",
			mark6(svcCmd(KindAddService, ipvs.MarkKey(1), "wlc", time.Minute, 48))},
		{"fwmark -6 clustered after -f's value", "-E -f 1 -6 -s rr", mark6(svcCmd(KindEditService, ipvs.MarkKey(1), "rr", 0, 128))},
		{"fwmark -6 server", "-a -f 1 -6 -r [2001:db8:1::1]:0 -g -w 1",
			mark6(with(destCmd(KindAddDest, ipvs.MarkKey(1), rip6, 0, 1), func(c *Command) {
				c.Dest.Method, c.MethodSet, c.DestPortSet = ipvs.Route, true, true
			}))},
		{"zero fwmark -6", "-Z -f 1 -6",
			mark6(Command{Kind: KindZero, Service: ipvs.MarkKey(1), HasService: true, Sched: ipvs.SchedSpec{PMaskBits: 32}, Dest: ipvs.DestSpec{Weight: 1}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(strings.Fields(tt.args))
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tt.args, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseArgs(%q)\n got %+v\nwant %+v", tt.args, got, tt.want)
			}
			// -S writes a command as String does; -R must read it back
			// (String always writes the server's port).
			again, err := ParseArgs(strings.Fields(got.String()))
			if err == nil {
				again.DestPortSet = got.DestPortSet
			}
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("ParseArgs(%q) = %+v, %v; want the command back", got.String(), again, err)
			}
		})
	}
}

func TestParseArgsIPv6Errors(t *testing.T) {
	tests := []struct{ args, want string }{
		{"-A -6 -f 1", "-6 used before -f"},
		{"-A -t [2001:db8::10]:80 -6", "-6 used before -f"},
		{"-L -6", "-6 used before -f"},
		{"-A -f 1 -6 -p -M 255.255.255.0", "illegal ipv6 netmask specified"},
		{"-A -f 1 -6 -p -M 0", "illegal ipv6 netmask specified"},
		{"-A -t [2001:db8::10]:80 -p -M 129", "illegal ipv6 netmask specified"},
		{"-A -t [2001:db8::10] -s rr", "illegal virtual server address[:port] specified"},
		{"-A -t [2001:db8::10:80", "illegal virtual server address[:port] specified"},
		{"-A -t [2001:db8::10]80", "illegal virtual server address[:port] specified"},
		{"-A -t [2001:db8::zz]:80", "illegal virtual server address[:port] specified"},
		{"-a -t [2001:db8::10]:80 -r [2001:db8:1::1]", "illegal real server address[:port] specified"},
		{"-a -t [2001:db8::10]:80 -r [2001:db8:1::1]:65536", "illegal real server address[:port] specified"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			_, err := ParseArgs(strings.Fields(tt.args))
			var ue *UsageError
			if !errors.As(err, &ue) || ue.Msg != tt.want {
				t.Errorf("ParseArgs(%q) = %v, want the usage error %q", tt.args, err, tt.want)
			}
		})
	}
}

// status6 is a table of IPv4 and IPv6 services, in an order ipvsadm would
// not list them: IPv4 first, then IPv6, then the firewall marks.
func status6() admin.Status {
	d := func(ap string, fwd string, w, act, inact int32) admin.DestStatus {
		a := netip.MustParseAddrPort(ap)
		return admin.DestStatus{Addr: a.Addr(), Port: a.Port(), Forward: fwd, Weight: w, Active: act, Inactive: inact}
	}
	web4 := d("10.11.12.1:80", "Masq", 1, 3, 12)
	web4.Persist = 4
	web4.Stats = admin.Counters{Conns: 1532, InPkts: 48211, InBytes: 123456789, CPS: 12, InPPS: 40, InBPS: 2_500_000_000}
	web61 := d("[2001:db8:1::1]:80", "Masq", 1, 2, 5)
	web61.UThreshold, web61.LThreshold, web61.Persist = 100, 50, 1
	web61.Stats = admin.Counters{Conns: 7, InPkts: 70, InBytes: 7000, CPS: 1, InPPS: 2, InBPS: 300}
	return admin.Status{Services: []admin.ServiceStatus{
		{FWMark: 1, IPv6: true, Sched: "sh", PMaskBits: 128, Dests: []admin.DestStatus{d("[2001:db8:1::1]:0", "Route", 1, 0, 0)}},
		{Proto: "UDP", Addr: vip6, Port: 53, Sched: "rr", PMaskBits: 128, Dests: []admin.DestStatus{d("[2001:db8:1::3]:53", "Route", 1, 0, 0)}},
		{Proto: "TCP", Addr: vip6, Port: 80, Sched: "rr", Persistence: 300 * time.Second, PMaskBits: 64,
			Stats: web61.Stats, Dests: []admin.DestStatus{d("[2001:db8:1234:5678:9abc:def0:1234:5678]:8080", "Masq", 2, 0, 0), web61}},
		{Proto: "UDP", Addr: vip4, Port: 53, Sched: "rr", PMaskBits: 32, Dests: []admin.DestStatus{d("10.11.12.3:53", "Route", 1, 0, 0)}},
		{Proto: "TCP", Addr: vip4, Port: 80, Sched: "wlc", PMaskBits: 32, Stats: web4.Stats, Dests: []admin.DestStatus{web4}},
	}}
}

// TestWriteListIPv6 checks every listing of a table with IPv6 services
// against files written from ipvsadm.c's printf formats (print_title,
// print_service_entry, print_largenum, addrport_to_anyname), not by this
// package (except that lvsadm's -S keeps -x and -y, which ipvsadm drops):
// "[v6]:port" names are never cut to 33 or 28 bytes, an IPv6 mask
// is a prefix length printed unless 128, an IPv6 firewall-mark service is
// "FWM  1 IPv6" and "-f 1 -6", and IPv4 services sort before IPv6 ones.
func TestWriteListIPv6(t *testing.T) {
	tests := []struct {
		name string
		f    ListFormat
	}{
		{"list", 0},
		{"stats", FmtStats},
		{"exact", FmtStats | FmtExact},
		{"rate", FmtRate},
		{"thresholds", FmtThresholds},
		{"pc", FmtPersistentConn},
		{"rule", FmtRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "ipvsadm6-"+tt.name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := WriteList(&b, status6(), tt.f); err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("WriteList(%s):\n%s\nwant:\n%s", tt.name, b.String(), want)
			}
		})
	}
	// What -S writes, -R reads.
	var b bytes.Buffer
	if err := WriteList(&b, status6(), FmtRule); err != nil {
		t.Fatal(err)
	}
	cmds, _, err := ParseRestore(&b)
	if err != nil || len(cmds) != 11 {
		t.Fatalf("ParseRestore of -S = %d commands, %v; want 11", len(cmds), err)
	}
	if c := cmds[9]; c.Kind != KindAddService || c.Service != ipvs.MarkKey6(1) || c.Sched.PMaskBits != 128 {
		t.Errorf("-R of %q = %+v, want the IPv6 firewall-mark service", "-A -f 1 -6 -s sh", c)
	}
	if c := cmds[4]; c.Service != web6 || c.Sched.PMaskBits != 64 || c.Sched.Persistence != 300*time.Second {
		t.Errorf("-R of the persistent IPv6 service = %+v", c)
	}
}

func TestWriteServiceIPv6(t *testing.T) {
	var b bytes.Buffer
	if err := WriteService(&b, status6(), web6, 0); err != nil {
		t.Fatal(err)
	}
	want := "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  [2001:db8::10]:80 rr persistent 300 mask 64\n" +
		"  -> [2001:db8:1::1]:80           Masq    1      2          5         \n" +
		"  -> [2001:db8:1234:5678:9abc:def0:1234:5678]:8080 Masq    2      0          0         \n"
	if b.String() != want {
		t.Errorf("-L -t [2001:db8::10]:80:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestWriteConnsIPv6: -L -c prints IPv6 endpoints as [v6]:port in the
// 18-wide columns of print_conn, which they overflow.
func TestWriteConnsIPv6(t *testing.T) {
	conns := []admin.ConnStatus{
		{Proto: "TCP", Client: netip.MustParseAddrPort("[2001:db8:99::7]:40000"), Virtual: netip.AddrPortFrom(vip6, 80),
			Dest: netip.AddrPortFrom(rip6, 80), State: "ESTABLISHED", Expires: 897 * time.Second},
		{Proto: "UDP", Client: netip.MustParseAddrPort("[::1]:5353"), Virtual: netip.AddrPortFrom(vip6, 53),
			Dest: netip.MustParseAddrPort("[2001:db8:1::3]:53"), State: "UDP", Expires: 59 * time.Second},
	}
	want := "IPVS connection entries\n" +
		"pro expire state       source             virtual            destination\n" +
		"TCP 14:57  ESTABLISHED [2001:db8:99::7]:40000 [2001:db8::10]:80  [2001:db8:1::1]:80\n" +
		"UDP 00:59  UDP         [::1]:5353         [2001:db8::10]:53  [2001:db8:1::3]:53\n"
	var b bytes.Buffer
	if err := WriteConns(&b, conns, 0); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("-L -c:\n%q\nwant:\n%q", b.String(), want)
	}
}

// TestWriteProcIPVS6 checks the IPv6 lines of /proc/net/ip_vs against
// ip_vs_info_seq_show: "[%pI6]:%04X" (eight groups, no compression), no
// "ops" flag, and the persistence netmask as ntohl() of the prefix length
// the kernel keeps in host order.
func TestWriteProcIPVS6(t *testing.T) {
	st := admin.Status{Services: []admin.ServiceStatus{
		{Proto: "UDP", Addr: vip6, Port: 53, Sched: "rr", OnePacket: true, PMaskBits: 128,
			Dests: []admin.DestStatus{{Addr: rip6, Port: 53, Forward: "Route", Weight: 1}}},
		{FWMark: 1, IPv6: true, Sched: "sh", Persistence: 300 * time.Second, PMaskBits: 128,
			Dests: []admin.DestStatus{{Addr: rip6, Forward: "Route", Weight: 2, Active: 3}}},
		{FWMark: 2, IPv6: true, Sched: "rr", Persistence: time.Minute, PMaskBits: 48},
	}}
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n" +
		"UDP  [2001:0db8:0000:0000:0000:0000:0000:0010]:0035 rr \n" +
		"  -> [2001:0db8:0001:0000:0000:0000:0000:0001]:0035      Route   1      0          0         \n" +
		"FWM  00000001 sh persistent 75000 80000000\n" +
		"  -> [2001:0db8:0001:0000:0000:0000:0000:0001]:0000      Route   2      3          0         \n" +
		"FWM  00000002 rr persistent 15000 30000000\n"
	var b bytes.Buffer
	if err := WriteProcIPVS(&b, st); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("/proc/net/ip_vs:\n%s\nwant:\n%s", b.String(), want)
	}
}
