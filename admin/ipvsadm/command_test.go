package ipvsadm

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/admintest"
	"lvs/ipvs"
)

var (
	cmdVIP = admintest.VIP
	cmdRIP = admintest.RIP
	cmdWeb = admintest.Web
	cmdDNS = admintest.DNS
)

// svcCmd is an add/edit-service command with ipvsadm's defaults.
func svcCmd(k Kind, key ipvs.ServiceKey, sched string, persist time.Duration, bits int) Command {
	return Command{Kind: k, Service: key, HasService: true, Dest: ipvs.DestSpec{Weight: 1},
		Sched: ipvs.SchedSpec{SchedName: sched, Persistence: persist, PMaskBits: bits}}
}

// destCmd is a server command with weight w.
func destCmd(k Kind, key ipvs.ServiceKey, addr netip.Addr, port uint16, w int32) Command {
	return Command{Kind: k, Service: key, HasService: true, Sched: ipvs.SchedSpec{PMaskBits: 32},
		Dest: ipvs.DestSpec{Addr: addr, Port: port, Weight: w}}
}

func with(c Command, f func(*Command)) Command { f(&c); return c }

func TestParseArgs(t *testing.T) {
	base := Command{Sched: ipvs.SchedSpec{PMaskBits: 32}, Dest: ipvs.DestSpec{Weight: 1}}
	list := with(base, func(c *Command) { c.Kind = KindList })
	tests := []struct {
		name string
		args string
		want Command
	}{
		{"no args lists", "", Command{Kind: KindList}},
		{"add service", "-A -t 192.168.26.10:80 -s rr", svcCmd(KindAddService, cmdWeb, "rr", 0, 32)},
		{"default scheduler wlc", "-A -t 192.168.26.10:80", svcCmd(KindAddService, cmdWeb, "wlc", 0, 32)},
		{"long options", "--add-service --tcp-service 192.168.26.10:80 --scheduler=sh --sched-flags sh-port",
			with(svcCmd(KindAddService, cmdWeb, "sh", 0, 32), func(c *Command) { c.Sched.SchedOpts.Flags = ipvs.SchedFlag2 })},
		{"port name", "-A -t 192.168.26.10:http", svcCmd(KindAddService, cmdWeb, "wlc", 0, 32)},
		{"udp port name", "-A -u 192.168.26.10:domain -s rr", svcCmd(KindAddService, cmdDNS, "rr", 0, 32)},
		{"persistent default 300", "-A -t 192.168.26.10:80 -p", svcCmd(KindAddService, cmdWeb, "wlc", 300*time.Second, 32)},
		{"persistent value", "-A -t 192.168.26.10:80 -p 600 -M 255.255.255.0",
			svcCmd(KindAddService, cmdWeb, "wlc", 600*time.Second, 24)},
		{"persistent before option", "-A -t 192.168.26.10:80 -p -s rr", svcCmd(KindAddService, cmdWeb, "rr", 300*time.Second, 32)},
		{"persistent attached", "-A -t 192.168.26.10:80 -p60", svcCmd(KindAddService, cmdWeb, "wlc", time.Minute, 32)},
		{"port 0 persistent", "-A -t 192.168.26.10 -p", svcCmd(KindAddService, ipvs.ServiceKey{Proto: ipvs.TCP, Addr: cmdVIP},
			"wlc", 300*time.Second, 32)},
		{"fwmark", "-A -f 80 -s rr", svcCmd(KindAddService, ipvs.MarkKey(80), "rr", 0, 32)},
		{"ops udp", "-A -u 192.168.26.10:53 -o", with(svcCmd(KindAddService, cmdDNS, "wlc", 0, 32), func(c *Command) { c.Sched.OnePacket = true })},
		{"ipv6", "-A -t [2001:db8::1]:80", svcCmd(KindAddService, ipvs.ServiceKey{Proto: ipvs.TCP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 80}, "wlc", 0, 128)},
		{"clustered -At", "-At 192.168.26.10:80", svcCmd(KindAddService, cmdWeb, "wlc", 0, 32)},
		{"edit service", "-E -t 192.168.26.10:80 -s lc", svcCmd(KindEditService, cmdWeb, "lc", 0, 32)},
		{"delete service", "-D -t 192.168.26.10:80", with(base, func(c *Command) { c.Kind, c.Service, c.HasService = KindDelService, cmdWeb, true })},
		{"clear", "-C", with(base, func(c *Command) { c.Kind = KindClear })},
		{"add server masq", "-a -t 192.168.26.10:80 -r 10.11.12.1:8080 -m -w 3",
			with(destCmd(KindAddDest, cmdWeb, cmdRIP, 8080, 3), func(c *Command) { c.MethodSet, c.DestPortSet = true, true })},
		{"add server DR takes vport", "-a -t 192.168.26.10:80 -r 10.11.12.1:8080 -g",
			with(destCmd(KindAddDest, cmdWeb, cmdRIP, 80, 1), func(c *Command) { c.MethodSet, c.DestPortSet, c.Dest.Method = true, true, ipvs.Route })},
		{"add server tunnel", "-a -t 192.168.26.10:80 -r 10.11.12.1 -i -x 100 -y 50",
			with(destCmd(KindAddDest, cmdWeb, cmdRIP, 80, 1), func(c *Command) {
				c.MethodSet, c.Dest.Method, c.Dest.UThreshold, c.Dest.LThreshold = true, ipvs.Tunnel, 100, 50
			})},
		{"add server no method", "-a -t 192.168.26.10:80 -r 10.11.12.1 -w 0", destCmd(KindAddDest, cmdWeb, cmdRIP, 80, 0)},
		{"weight 65535", "-a -t 192.168.26.10:80 -r 10.11.12.1 -w65535", destCmd(KindAddDest, cmdWeb, cmdRIP, 80, 65535)},
		{"server of fwmark", "-a -f 80 -r 10.11.12.1 -g", with(destCmd(KindAddDest, ipvs.MarkKey(80), cmdRIP, 0, 1), func(c *Command) { c.MethodSet, c.Dest.Method = true, ipvs.Route })},
		{"edit server", "-e -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 0",
			with(destCmd(KindEditDest, cmdWeb, cmdRIP, 80, 0), func(c *Command) { c.MethodSet, c.DestPortSet = true, true })},
		{"delete server", "-d -t 192.168.26.10:80 -r 10.11.12.1", destCmd(KindDelDest, cmdWeb, cmdRIP, 80, 1)},
		{"list -Ln", "-Ln", with(list, func(c *Command) { c.Numeric = true })},
		{"list -l", "-l", list},
		{"list --list", "--list", list},
		{"list -Lnc", "-Lnc", with(list, func(c *Command) { c.Numeric, c.Conns = true, true })},
		{"list options first", "-n -L", with(list, func(c *Command) { c.Numeric = true })},
		{"list service", "-L -n -t 192.168.26.10:80", with(list, func(c *Command) { c.Numeric, c.Service, c.HasService = true, cmdWeb, true })},
		{"list stats exact", "-L --stats --exact -n", with(list, func(c *Command) { c.Numeric, c.Format = true, FmtStats|FmtExact })},
		{"list rate nosort", "-L --rate --nosort --sort", with(list, func(c *Command) { c.Format = FmtRate | FmtNoSort })},
		{"list thresholds", "-L --thresholds", with(list, func(c *Command) { c.Format = FmtThresholds })},
		{"list persistent-conn -c", "-L -c --persistent-conn", with(list, func(c *Command) { c.Conns, c.Format = true, FmtPersistentConn })},
		{"list timeout", "-L --timeout", with(list, func(c *Command) { c.ShowTimeouts = true })},
		{"list daemon", "-L --daemon", with(list, func(c *Command) { c.ShowDaemon = true })},
		{"zero all", "-Z", with(base, func(c *Command) { c.Kind = KindZero })},
		{"zero one", "-Z -f 7", with(base, func(c *Command) { c.Kind, c.Service, c.HasService = KindZero, ipvs.MarkKey(7), true })},
		{"save", "-S -n", with(base, func(c *Command) { c.Kind, c.Numeric = KindSave, true })},
		{"restore", "-R", with(base, func(c *Command) { c.Kind = KindRestore })},
		{"set", "--set 900 120 0", with(base, func(c *Command) {
			c.Kind, c.Timeouts = KindSetTimeouts, admin.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second}
		})},
		{"start daemon", "--start-daemon master --mcast-interface eth1 --syncid 3", with(base, func(c *Command) { c.Kind, c.SyncState = KindStartDaemon, "master" })},
		{"stop daemon", "--stop-daemon backup", with(base, func(c *Command) { c.Kind, c.SyncState = KindStopDaemon, "backup" })},
		{"help", "-h", with(base, func(c *Command) { c.Kind = KindHelp })},
		{"version", "--version", with(base, func(c *Command) { c.Kind = KindVersion })},
		{"socket", "--socket /tmp/x.sock -Ln", with(list, func(c *Command) { c.Numeric, c.Socket = true, "/tmp/x.sock" })},
		{"save-config", "--save-config --socket=/s", with(base, func(c *Command) { c.Kind, c.Socket = KindSaveConfig, "/s" })},
		{"double dash", "-L --", list},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(strings.Fields(tt.args))
			if err != nil {
				t.Fatalf("ParseArgs(%q) error: %v", tt.args, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseArgs(%q) =\n%+v\nwant\n%+v", tt.args, got, tt.want)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		args  string
		want  string
		usage bool // a *UsageError (exit 2), else exit 1
	}{
		{"-A", "You need to supply the 'service-address' option for the 'add-service' command", true},
		{"-a -t 1.2.3.4:80", "You need to supply the 'real-server' option for the 'add-server' command", true},
		{"-d -t 1.2.3.4:80", "You need to supply the 'real-server' option for the 'delete-server' command", true},
		{"-L -w 3", "Illegal 'weight' option with the 'list' command", true},
		{"-A -t 1.2.3.4:80 -w 3", "Illegal 'weight' option with the 'add-service' command", true},
		{"-A -t 1.2.3.4:80 -m", "Illegal 'forwarding-method' option with the 'add-service' command", true},
		{"-D -t 1.2.3.4:80 -p", "Illegal 'persistent' option with the 'delete-service' command", true},
		{"-D -t 1.2.3.4:80 -s rr", "Illegal 'scheduler' option with the 'delete-service' command", true},
		{"-d -t 1.2.3.4:80 -r 10.0.0.1 -w 2", "Illegal 'weight' option with the 'delete-server' command", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1 -n", "Illegal 'numeric' option with the 'add-server' command", true},
		{"-C -t 1.2.3.4:80", "Illegal 'service-address' option with the 'flush' command", true},
		{"-S -c", "Illegal 'connection' option with the 'save' command", true},
		{"-Z -n", "Illegal 'numeric' option with the 'zero' command", true},
		{"-L -o", "Illegal 'ops' option with the 'list' command", true},
		{"-e -t 1.2.3.4:80 -r 10.0.0.1 -M 255.0.0.0", "Illegal 'netmask' option with the 'edit-server' command", true},
		{"--set 1 2 3 -n", "Illegal 'numeric' option with the 'set' command", true},
		{"--stop-daemon master --mcast-interface eth0", "Illegal 'mcast-interface' option with the 'stop-daemon' command", true},
		{"-A -t 1.2.3.4:80 --socket /s --save-config", "multiple commands specified", true},
		{"-L -c -t 1.2.3.4:80", "The option 'service-address' conflicts with the 'connection' option in the 'list' command", true},
		{"-L --timeout --daemon", "The option 'daemon' conflicts with the 'timeout' option in the 'list' command", true},
		{"-L -c --stats", "options conflicts in the list command", true},
		{"-L --timeout --persistent-conn", "options conflicts in the list command", true},
		{"-A -L", "multiple commands specified", true},
		{"-Ln -L", "multiple commands specified", true},
		{"-A -t 1.2.3.4:80 -t 1.2.3.4:81", "multiple 'service-address' options specified", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1 -m -g", "multiple 'forwarding-method' options specified", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1 -w 65536", "illegal weight specified", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1 -w -1", "illegal weight specified", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1 -w x", "illegal weight specified", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1 -x 2147483648", "illegal u_threshold specified", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1 -y -1", "illegal l_threshold specified", true},
		{"-A -t 1.2.3.4:80 -p 0", "invalid timeout value `0' specified", true},
		{"-A -t 1.2.3.4:80 -p 2678401", "invalid timeout value `2678401' specified", true},
		{"--set 900 120", "--set option requires 3 timeout values", true},
		{"--set 900 x 1", "invalid timeout value `x' specified", true},
		{"--set 1 2 3 4", "unexpected argument 4", true},
		{"-L foo", "unexpected argument foo", true},
		{"-A -f 0", "invalid fwmark value `0' specified", true},
		{"-A -f 4294967296", "invalid fwmark value `4294967296' specified", true},
		{"-A -t 1.2.3.4:80 -p -M 255.0.255.0", "illegal virtual server persistent mask specified", true},
		{"-A -t [2001:db8::1]:80 -p -M 129", "illegal ipv6 netmask specified", true},
		{"-A -t 1.2.3.4:99999", "illegal virtual server address[:port] specified", true},
		{"-A -t 80", "illegal virtual server address[:port] specified", true},
		{"-A -t 1.2.3.4:nosuchservice", "illegal virtual server address[:port] specified", true},
		{"-A -t [::1]", "illegal virtual server address[:port] specified", true},
		{"-a -t 1.2.3.4:80 -r 10.0.0.1:x:y", "illegal real server address[:port] specified", true},
		{"-A -t 1.2.3.4", "Zero port specified for non-persistent service", true},
		{"-A -t 1.2.3.4:0", "Zero port specified for non-persistent service", true},
		{"-A -t 1.2.3.4:53 -o", "One-Packet Scheduling is only for UDP virtual services", true},
		{"-A -t 1.2.3.4:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port'", true},
		{"-A -t 1.2.3.4:80 -s sh -b sh-nothing", "invalid scheduler flag `sh-nothing'", true},
		{"--start-daemon primary", "illegal start-daemon parameter specified", true},
		{"-L --syncid 300", "illegal syncid specified", true},
		{"-n", TryHelp, true},
		{"--bogus", "--bogus: unknown option", true},
		{"-LQ", "-Q: unknown option", true},
		{"-A -t", "-t: missing argument", true},
		{"-L --numeric=yes", "--numeric=yes: option does not take an argument", true},
		{"-A -t 1.2.3.4:80 -s nosuch", "Scheduler or persistence engine not found", false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			_, err := ParseArgs(strings.Fields(tt.args))
			if err == nil {
				t.Fatalf("ParseArgs(%q) succeeded, want %q", tt.args, tt.want)
			}
			if got := usageMessage(err); got != tt.want {
				t.Errorf("ParseArgs(%q) error = %q, want %q", tt.args, got, tt.want)
			}
			var ue *UsageError
			if errors.As(err, &ue) != tt.usage {
				t.Errorf("ParseArgs(%q) usage error = %v, want %v", tt.args, !tt.usage, tt.usage)
			}
		})
	}
}

func TestMatrixShape(t *testing.T) {
	for k, row := range matrix {
		if len(row) != numOpts {
			t.Errorf("matrix[%s] has %d columns, want %d", k, len(row), numOpts)
		}
	}
	for _, k := range []Kind{KindAddService, KindEditService, KindDelService, KindClear, KindList, KindAddDest,
		KindDelDest, KindEditDest, KindSetTimeouts, KindStartDaemon, KindStopDaemon, KindRestore, KindSave, KindZero} {
		if _, ok := matrix[k]; !ok {
			t.Errorf("matrix has no row for %s", k)
		}
	}
}

func TestDestSpecMethod(t *testing.T) {
	add, _ := ParseArgs(strings.Fields("-a -t 192.168.26.10:80 -r 10.11.12.1:8080"))
	tests := []struct {
		network ipvs.Method
		want    ipvs.DestSpec
	}{
		{ipvs.Masq, ipvs.DestSpec{Addr: cmdRIP, Port: 8080, Method: ipvs.Masq, Weight: 1}},
		{ipvs.Route, ipvs.DestSpec{Addr: cmdRIP, Port: 80, Method: ipvs.Route, Weight: 1}},
		{ipvs.Tunnel, ipvs.DestSpec{Addr: cmdRIP, Port: 80, Method: ipvs.Tunnel, Weight: 1}},
	}
	for _, tt := range tests {
		if got := add.DestSpec(tt.network); got != tt.want {
			t.Errorf("DestSpec(%v) = %+v, want %+v", tt.network, got, tt.want)
		}
	}
	masq, _ := ParseArgs(strings.Fields("-a -t 192.168.26.10:80 -r 10.11.12.1:8080 -m"))
	if got := masq.DestSpec(ipvs.Route); got.Method != ipvs.Masq || got.Port != 8080 {
		t.Errorf("DestSpec with -m under network direct = %+v, want Masq :8080", got)
	}
}

func TestParseRestore(t *testing.T) {
	in := `# saved by ipvsadm-save
ipvsadm -A -t 192.168.26.10:80 -s wlc -p 300 -M 255.255.255.0

lvsadm -a -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 1   # first server
-C
`
	cmds, lines, err := ParseRestore(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	kinds := []Kind{}
	for _, c := range cmds {
		kinds = append(kinds, c.Kind)
	}
	if want := []Kind{KindAddService, KindAddDest, KindClear}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
	if want := []int{2, 4, 5}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %v, want %v", lines, want)
	}
	errTests := []struct{ in, want string }{
		{"-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1 -w 70000\n", "line 2: illegal weight specified"},
		{"-L -n\n", "line 1: the 'list' command cannot be restored"},
		{"-R\n", "line 1: the 'restore' command cannot be restored"},
		{"-C --socket /x\n", "line 1: Illegal 'socket' option with the 'restore' command"},
	}
	for _, tt := range errTests {
		_, _, err := ParseRestore(strings.NewReader(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseRestore(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"-A -t 192.168.26.10:80 -s rr -p 60", "-a -t 1.2.3.4:80 -r 10.0.0.1 -m -w 3",
		"-Lnc", "--set 1 2 3", "-e -f 80 -r 10.0.0.1 -i -x 10 -y 5", "-A -u [::1]:53 -o -M 64 -p"} {
		f.Add(s)
	}
	resolveHost = func(context.Context, string, string) ([]netip.Addr, error) {
		return nil, errors.New("no DNS in fuzzing")
	}
	f.Cleanup(func() { resolveHost = net.DefaultResolver.LookupNetIP })
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseArgs(strings.Fields(s))
		if err != nil || !c.Kind.IsEdit() {
			return
		}
		// An accepted edit re-parses from its -S form to the same target.
		again, err := ParseArgs(strings.Fields(c.String()))
		if err != nil {
			t.Fatalf("ParseArgs(%q) ok, but its form %q fails: %v", s, c.String(), err)
		}
		if again.Kind != c.Kind || again.Service != c.Service || again.Sched != c.Sched ||
			again.DestSpec(ipvs.Masq) != c.DestSpec(ipvs.Masq) || again.DestSpec(ipvs.Route) != c.DestSpec(ipvs.Route) {
			t.Errorf("round trip of %q via %q: %+v != %+v", s, c.String(), again, c)
		}
	})
}

// usageMessage is what lvsadm prints for a command line ParseArgs refuses:
// a usage error's text, or the error's own.
func usageMessage(err error) string {
	var ue *UsageError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	return err.Error()
}
