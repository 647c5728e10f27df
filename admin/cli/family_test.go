package cli

import (
	"net/netip"
	"testing"

	"lvs/admin/api/apitest"
	"lvs/ipvs"
)

// TestCLIMarkFamily: as the kernel, a firewall-mark service exists per
// family, so -f 1 and -f 1 -6 are two services. -L and -Z with -f name the
// one of their family, and an IPv6 mark service without real servers lists
// as IPv6.
func TestCLIMarkFamily(t *testing.T) {
	d := apitest.NewDaemon(t, apitest.BuildTable(t,
		apitest.AddService(ipvs.MarkKey(1), ipvs.SchedSpec{SchedName: "rr", PMaskBits: 32}),
		apitest.AddDest(ipvs.MarkKey(1), ipvs.DestSpec{Addr: netip.MustParseAddr("10.11.12.1"), Method: ipvs.Route, Weight: 1}),
		apitest.AddService(ipvs.MarkKey6(1), ipvs.SchedSpec{SchedName: "wlc", PMaskBits: 128}),
		apitest.AddService(ipvs.MarkKey(2), ipvs.SchedSpec{SchedName: "rr", PMaskBits: 32})))
	sock := apitest.Serve(t, d)
	const head = "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
	tests := []struct {
		args, want string
		code       int
	}{
		{"-L -n", "IP Virtual Server version 1.2.1 (size=4096)\n" + head +
			"FWM  1 rr\n" +
			"  -> 10.11.12.1:0                 Route   1      0          0         \n" +
			"FWM  1 IPv6 wlc\n" +
			"FWM  2 rr\n", 0},
		{"-L -n -f 1", head + "FWM  1 rr\n" +
			"  -> 10.11.12.1:0                 Route   1      0          0         \n", 0},
		{"-L -n -f 1 -6", head + "FWM  1 IPv6 wlc\n", 0},
		{"-L -n -f 2 -6", "", 1},
	}
	for _, tt := range tests {
		out, errs, code := runCLI(t, sock, tt.args, "")
		if code != tt.code || (code == 0) != (errs == "") || out != tt.want {
			t.Errorf("lvsadm %s = exit %d, stderr %q, stdout:\n%s\nwant exit %d, stdout:\n%s", tt.args, code, errs, out, tt.code, tt.want)
		}
	}

	for _, k := range []ipvs.ServiceKey{ipvs.MarkKey(1), ipvs.MarkKey6(1)} {
		d.Table.Service(k).C.Conns.Store(7)
	}
	if _, errs, code := runCLI(t, sock, "-Z -f 1 -6", ""); code != 0 {
		t.Fatalf("lvsadm -Z -f 1 -6 = exit %d, %q", code, errs)
	}
	if got := d.Table.Service(ipvs.MarkKey6(1)).C.Conns.Load(); got != 0 {
		t.Errorf("after -Z -f 1 -6, the IPv6 service's conns = %d, want 0", got)
	}
	if got := d.Table.Service(ipvs.MarkKey(1)).C.Conns.Load(); got != 7 {
		t.Errorf("after -Z -f 1 -6, the IPv4 service's conns = %d, want 7 (untouched)", got)
	}
	if _, errs, code := runCLI(t, sock, "-Z -f 2 -6", ""); code == 0 {
		t.Errorf("lvsadm -Z -f 2 -6 with only an IPv4 mark 2 = exit 0, want an error (%q)", errs)
	}
}
