package cli

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/admintest"
	"lvs/admin/api/apitest"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

// sampleDaemon serves ecosystem.md's -L -n sample, which lvsadm would build
// with
//
//	-A -f 80 -s rr
//	-A -u 192.168.26.10:53 -s rr
//	-A -t 192.168.26.10:80 -s wlc -p 300 -M 255.255.255.0
//	-a -t 192.168.26.10:80 -r 10.11.12.2 -g -w 0 -x 100 -y 50
//	-a -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 1
//	-a -u 192.168.26.10:53 -r 10.11.12.3 -i -w 2
//	-A -u 192.168.26.11:53 -s sh -b sh-port,sh-fallback -o
//	-a -u 192.168.26.11:53 -r 10.11.12.4:5353 -w 1
//
// on a NAT site, with counters.
func sampleDaemon(t *testing.T) *apitest.Daemon {
	dns2 := ipvs.ServiceKey{Proto: ipvs.UDP, Addr: netip.MustParseAddr("192.168.26.11"), Port: 53}
	d := apitest.NewDaemon(t, apitest.BuildTable(t,
		apitest.AddService(ipvs.MarkKey(80), ipvs.SchedSpec{SchedName: "rr", PMaskBits: 32}),
		apitest.AddService(admintest.DNS, ipvs.SchedSpec{SchedName: "rr", PMaskBits: 32}),
		apitest.AddService(admintest.Web, ipvs.SchedSpec{SchedName: "wlc", Persistence: 300 * time.Second, PMaskBits: 24}),
		apitest.AddDest(admintest.Web, ipvs.DestSpec{Addr: netip.MustParseAddr("10.11.12.2"), Port: 80, Method: ipvs.Route, UThreshold: 100, LThreshold: 50}),
		apitest.AddDest(admintest.Web, ipvs.DestSpec{Addr: admintest.RIP, Port: 80, Method: ipvs.Masq, Weight: 1}),
		apitest.AddDest(admintest.DNS, ipvs.DestSpec{Addr: netip.MustParseAddr("10.11.12.3"), Port: 53, Method: ipvs.Tunnel, Weight: 2}),
		apitest.AddService(dns2, ipvs.SchedSpec{SchedName: "sh", PMaskBits: 32, OnePacket: true,
			SchedOpts: ipvs.SchedOptions{Flags: ipvs.SchedFlag1 | ipvs.SchedFlag2}}),
		apitest.AddDest(dns2, ipvs.DestSpec{Addr: netip.MustParseAddr("10.11.12.4"), Port: 5353, Method: ipvs.Masq, Weight: 1}),
	))
	s := d.Table.Service(admintest.Web)
	d1 := s.Dest(admintest.RIP, 80)
	for i := 0; i < 3; i++ {
		d1.C.Bind(true, 0)
	}
	for i := 0; i < 12; i++ {
		d1.C.Bind(false, 0)
	}
	d1.C.InPkts.Store(24100)
	d1.C.InBytes.Store(3120000)
	d1.C.Persist.Store(4)
	s.C.Conns.Store(1532)
	s.C.InPkts.Store(48211)
	s.C.InBytes.Store(123456789)
	d.Conns = []admin.ConnStatus{
		{Proto: "TCP", Client: netip.MustParseAddrPort("192.168.26.99:51234"), Virtual: netip.MustParseAddrPort("192.168.26.10:80"),
			Dest: netip.MustParseAddrPort("10.11.12.1:80"), State: "ESTABLISHED", Expires: 897*time.Second + 400*time.Millisecond},
		{Proto: "UDP", Client: netip.MustParseAddrPort("192.168.26.97:5353"), Virtual: netip.MustParseAddrPort("192.168.26.10:53"),
			Dest: netip.MustParseAddrPort("10.11.12.3:53"), State: "UDP", Expires: 299 * time.Second},
		{Proto: "TCP", Client: netip.MustParseAddrPort("192.168.26.0:0"), Virtual: netip.MustParseAddrPort("192.168.26.10:80"),
			Dest: netip.MustParseAddrPort("10.11.12.1:80"), State: "NONE", Expires: 4 * time.Second},
	}
	return d
}

// runCLI runs lvsadm with args (a string split at blanks) against socket.
func runCLI(t *testing.T, socket, args, stdin string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	argv := strings.Fields(args)
	if socket != "" {
		argv = append(argv, "--socket", socket)
	}
	cli := CLI{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code = cli.Run(context.Background(), argv)
	return out.String(), errb.String(), code
}

func TestCLIListGolden(t *testing.T) {
	sock := apitest.Serve(t, sampleDaemon(t))
	tests := []struct{ name, args string }{
		{"list", "-L -n"},
		{"list", "-Ln"},
		{"stats", "-L -n --stats"},
		{"stats-exact", "-Ln --stats --exact"},
		{"rate", "-l --rate -n"},
		{"thresholds", "-L --thresholds"},
		{"persistent-conn", "-L -n --persistent-conn"},
		{"nosort", "-L -n --nosort"},
		{"service", "-L -n -t 192.168.26.10:http"},
		{"save", "-S -n"},
		{"conns", "-L -n -c"},
		{"conns-pc", "-Lnc --persistent-conn"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			out, errs, code := runCLI(t, sock, tt.args, "")
			if code != 0 || errs != "" {
				t.Fatalf("lvsadm %s: exit %d, stderr %q", tt.args, code, errs)
			}
			admintest.Golden(t, filepath.Join("testdata", "lvsadm-"+tt.name+".golden"), []byte(out))
		})
	}
}

func TestCLIOutputs(t *testing.T) {
	sock := apitest.Serve(t, sampleDaemon(t))
	tests := []struct {
		args, stdout, stderr string
		code                 int
	}{
		{"-L --timeout", "Timeout (tcp tcpfin udp): 900 120 300\n", "", 0},
		{"-L --daemon", "router: alone (no backup in lvs.cf): active\n", "", 0},
		{"-L -n -t 192.168.26.10:81", "", "No such service\n", 1},
		{"-Z -t 192.168.26.10:81", "", "No such service\n", 1},
		{"-A -t 192.168.26.10:80 -s bogus", "", "Scheduler or persistence engine not found\n", 1},
		{"-L -w 1", "", "Illegal 'weight' option with the 'list' command\n", 2},
		{"-a -t 192.168.26.10:80 -r 10.0.0.1 -w 65536", "", "illegal weight specified\n", 2},
		{"--start-daemon master", "", "", 0},
		{"--save-config", "saved the running table to /etc/sysconfig/ha/lvs.cf\n", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			out, errs, code := runCLI(t, sock, tt.args, "")
			if out != tt.stdout || errs != tt.stderr || code != tt.code {
				t.Errorf("lvsadm %s = (%q, %q, exit %d), want (%q, %q, exit %d)", tt.args, out, errs, code, tt.stdout, tt.stderr, tt.code)
			}
		})
	}
}

// TestCLIEdits: each edit reaches the daemon as one batch of what ParseArgs
// made of it; --set and -Z reach theirs. What the edits do is lvsd's
// (daemon's TestLvsadmEdits).
func TestCLIEdits(t *testing.T) {
	d := sampleDaemon(t)
	sock := apitest.Serve(t, d)
	edits := []string{
		"-e -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 5",
		"-a -t 192.168.26.10:80 -r 10.11.12.9",
		"-d -t 192.168.26.10:80 -r 10.11.12.2",
		"-E -t 192.168.26.10:80 -s rr",
		"-D -u 192.168.26.11:53",
		"-C",
	}
	for i, s := range edits {
		if _, errs, code := runCLI(t, sock, s, ""); code != 0 {
			t.Fatalf("lvsadm %s: exit %d: %s", s, code, errs)
		}
		want, _ := ipvsadm.ParseArgs(strings.Fields(s))
		if len(d.Applied) != i+1 || len(d.Applied[i]) != 1 || !reflect.DeepEqual(d.Applied[i][0], want) {
			t.Fatalf("lvsadm %s sent %+v, want the one command %+v", s, d.Applied[len(d.Applied)-1], want)
		}
	}
	for _, s := range []string{"--set 0 60 0", "-Z"} {
		if _, errs, code := runCLI(t, sock, s, ""); code != 0 {
			t.Fatalf("lvsadm %s: exit %d: %s", s, code, errs)
		}
	}
	if got := d.Status().Timeouts; got.TCPFin != time.Minute || got.TCP != 900*time.Second {
		t.Errorf("timeouts after --set 0 60 0 = %+v", got)
	}
	if st := d.Status(); st.Services[0].Stats.Conns != 0 || len(d.Zeroed) != 1 || d.Zeroed[0] != nil {
		t.Errorf("-Z did not zero every service: %+v, zeroed %v", st.Services[0].Stats, d.Zeroed)
	}
}

// TestCLIRestore: -R sends the whole file as one batch of the commands -S
// wrote; a failing command is named by its line; a bad line sends nothing.
func TestCLIRestore(t *testing.T) {
	saved, _, code := runCLI(t, apitest.Serve(t, sampleDaemon(t)), "-S", "")
	if code != 0 {
		t.Fatal("lvsadm -S failed")
	}
	var want []ipvsadm.Command
	for _, line := range strings.Split(strings.TrimSpace(saved), "\n") {
		c, err := ipvsadm.ParseArgs(strings.Fields(line))
		if err != nil {
			t.Fatalf("-S line %q does not parse: %v", line, err)
		}
		want = append(want, c)
	}
	dst := apitest.NewDaemon(t, nil)
	sock := apitest.Serve(t, dst)
	if _, errs, code := runCLI(t, sock, "-R", "# ipvsadm-save\n"+saved); code != 0 {
		t.Fatalf("lvsadm -R: exit %d: %s", code, errs)
	}
	if len(dst.Applied) != 1 || !reflect.DeepEqual(dst.Applied[0], want) {
		t.Errorf("-R sent %+v, want one batch of the -S lines %+v", dst.Applied, want)
	}

	// The daemon refuses the third command, on line 4 of the input.
	dst.ApplyErr = &ipvsadm.CommandError{Index: 2, Err: ipvs.ErrNoService}
	_, errs, code := runCLI(t, sock, "-R", "-C\n-A -t 10.0.0.1:80\n\n-a -t 192.168.26.10:80 -r 10.0.0.2\n-a -t 192.168.26.10:80 -r 10.0.0.2\n")
	if code != 1 || errs != "line 4: Service not defined\n" {
		t.Errorf("failing restore = exit %d, %q; want exit 1, %q", code, errs, "line 4: Service not defined\n")
	}
	sent := len(dst.Applied)
	if _, errs, code := runCLI(t, sock, "-R", "-A -t 10.0.0.1:80 -w 2\n"); code != 2 ||
		errs != "line 1: Illegal 'weight' option with the 'add-service' command\n" {
		t.Errorf("bad restore line = exit %d, %q", code, errs)
	}
	if len(dst.Applied) != sent {
		t.Errorf("a restore with a bad line sent a batch")
	}
}

func TestCLIStandalone(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "lvsd.sock")
	tests := []struct {
		args       string
		code       int
		stdoutHas  string
		stderrWant string
	}{
		{"-h", 0, "--save-config", ""},
		{"--help", 0, "--socket PATH", ""},
		{"-v", 0, "lvsadm", ""},
		{"-n", 2, "", ipvsadm.TryHelp + "\n"},
		{"-L -n --socket " + missing, 1, "", "cannot reach lvsd at " + missing + ": is lvsd running? (connect: no such file or directory)\n"},
		{"-A -t 1.2.3.4:80 -L", 2, "", "multiple commands specified\n"},
		{"-A -6 -f 1", 2, "", "-6 used before -f\n"},
		{"-A -t [2001:db8::10]:80 -6", 2, "", "-6 used before -f\n"},
		{"-A -u [2001:db8::10]:53 -p -M 255.255.255.0", 2, "", "illegal ipv6 netmask specified\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			out, errs, code := runCLI(t, "", tt.args, "")
			if code != tt.code || !strings.Contains(out, tt.stdoutHas) || errs != tt.stderrWant {
				t.Errorf("lvsadm %s = exit %d, stdout %.60q, stderr %q; want exit %d, stdout with %q, stderr %q",
					tt.args, code, out, errs, tt.code, tt.stdoutHas, tt.stderrWant)
			}
		})
	}
}

// TestCLIIPv6 lists and saves a table with IPv6 services through the
// socket, the API's JSON and the client, in ipvsadm's IPv6 forms; and what
// -S wrote, -R sends back as the same commands.
func TestCLIIPv6(t *testing.T) {
	web := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: netip.MustParseAddr("2001:db8::10"), Port: 80}
	d := apitest.NewDaemon(t, apitest.BuildTable(t,
		apitest.AddService(web, ipvs.SchedSpec{SchedName: "rr", Persistence: 300 * time.Second, PMaskBits: 64}),
		apitest.AddDest(web, ipvs.DestSpec{Addr: netip.MustParseAddr("2001:db8:1::1"), Port: 80, Method: ipvs.Masq, Weight: 1}),
		apitest.AddService(ipvs.MarkKey6(1), ipvs.SchedSpec{SchedName: "rr", PMaskBits: 128}),
		apitest.AddDest(ipvs.MarkKey6(1), ipvs.DestSpec{Addr: netip.MustParseAddr("2001:db8:1::2"), Method: ipvs.Route, Weight: 1})))
	sock := apitest.Serve(t, d)
	tests := []struct{ args, want string }{
		{"-L -n", "IP Virtual Server version 1.2.1 (size=4096)\n" +
			"Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
			"TCP  [2001:db8::10]:80 rr persistent 300 mask 64\n" +
			"  -> [2001:db8:1::1]:80           Masq    1      0          0         \n" +
			"FWM  1 IPv6 rr\n" +
			"  -> [2001:db8:1::2]:0            Route   1      0          0         \n"},
		{"-S -n", "-A -t [2001:db8::10]:80 -s rr -p 300 -M 64\n" +
			"-a -t [2001:db8::10]:80 -r [2001:db8:1::1]:80 -m -w 1\n" +
			"-A -f 1 -6 -s rr\n" +
			"-a -f 1 -6 -r [2001:db8:1::2]:0 -g -w 1\n"},
		{"-L -n -t [2001:db8::10]:80", "Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
			"TCP  [2001:db8::10]:80 rr persistent 300 mask 64\n" +
			"  -> [2001:db8:1::1]:80           Masq    1      0          0         \n"},
	}
	for _, tt := range tests {
		out, errs, code := runCLI(t, sock, tt.args, "")
		if code != 0 || errs != "" || out != tt.want {
			t.Errorf("lvsadm %s = exit %d, stderr %q, stdout:\n%s\nwant:\n%s", tt.args, code, errs, out, tt.want)
		}
	}
	saved, _, _ := runCLI(t, sock, "-S -n", "")
	if _, errs, code := runCLI(t, sock, "-R", saved); code != 0 || errs != "" {
		t.Fatalf("lvsadm -R of -S = exit %d, %q", code, errs)
	}
	if len(d.Applied) != 1 || len(d.Applied[0]) != 4 {
		t.Fatalf("-R sent %+v, want one batch of 4 commands", d.Applied)
	}
	if c := d.Applied[0][2]; c.Kind != ipvsadm.KindAddService || c.Service != ipvs.MarkKey6(1) || c.Sched.PMaskBits != 128 {
		t.Errorf("-R sent %+v for %q, want the IPv6 firewall-mark service", c, "-A -f 1 -6 -s rr")
	}
	if c := d.Applied[0][3]; c.Kind != ipvsadm.KindAddDest || c.Service != ipvs.MarkKey6(1) || c.Dest.Addr != netip.MustParseAddr("2001:db8:1::2") {
		t.Errorf("-R sent %+v for its server", c)
	}
}
