package config

import (
	"errors"
	"strings"
	"testing"
)

// errorTests are every error message: the input, the line it names and what it says.
var errorTests = []struct {
	name string
	text string
	line int
	msg  string
}{
	// Lexical and grammar.
	{"unterminated quote", wrap("", "     send = \"GET /\n", ""), 8, `unterminated quote: "GET / has no closing "`},
	{"text after closing quote", wrap("", "     expect = \"HTTP\"x\n", ""), 8, `expected a blank after the closing " of "HTTP", got "x"`},
	{"equal missing", base + "keepalive 6\n", 5, `keepalive: expected "=" after the key, got "6"`},
	{"equal missing at end", base + "keepalive\n", 5, `keepalive: expected "=" after the key, got end of line`},
	{"missing value", base + "keepalive =\n", 5, `keepalive: missing arguments: expected a value after "="`},
	{"extra value", base + "keepalive = 6 7\n", 5, `keepalive: unexpected arguments after "6": "7" (quote a value that contains blanks)`},
	{"trailing comment", base + "keepalive = 6 # seconds\n", 5, `(comments must be on a line of their own)`},
	{"address one value", wrap("", "     address = 192.168.26.11\n", ""), 8, `address: missing arguments: expected an IP address and a device (192.168.26.10 eth0:1), got "192.168.26.11"`},
	{"unknown key", base + "keepalvie = 6\n", 5, `unknown key "keepalvie" in the global section (did you mean "keepalive"?)`},
	{"unknown virtual key", wrap("", "     schedular = rr\n", ""), 8, `unknown key "schedular" in virtual web (did you mean "scheduler"?)`},
	{"unknown server key", wrap("", "", "         wieght = 2\n"), 11, `unknown key "wieght" in virtual web, server web1 (did you mean "weight"?)`},
	{"unknown block", base + "virtal web {\n}\n", 5, `unknown block "virtal" at the top level: expected virtual, failover, fwmark_rule, masquerade or bgp (did you mean "virtual"?)`},
	{"unknown nested block", wrap("", "     sever x {\n     }\n", ""), 8, `unknown block "sever" in virtual web: expected server`},
	{"brace not third", base + "virtual web\n{\n     address = 192.168.26.10 eth0:1\n}\n", 5, `virtual web: "{" must be the third word of this line, not on a line of its own`},
	{"brace missing", base + "virtual web\n     address = 192.168.26.10 eth0:1\n}\n", 5, `virtual web: expected "{" after the name, got end of line`},
	{"brace wrong word", base + "virtual web x {\n}\n", 5, `virtual web: expected "{" as the third word, got "x"`},
	{"text after brace", base + "virtual web { active = 1\n}\n", 5, `virtual web: unexpected arguments after "{": "active" "=" "1"`},
	{"missing name", base + "virtual {\n}\n", 5, `virtual: missing name: expected "virtual NAME {", got "virtual {"`},
	{"header alone", base + "virtual\n", 5, `virtual: missing arguments: expected "virtual NAME {"`},
	{"unclosed block", base + "virtual web {\n     address = 192.168.26.10 eth0:1\n", 5, `virtual web is not closed: expected "}" before the end of the file`},
	{"unclosed server", wrap("", "", "")[:len(wrap("", "", ""))-len("     }\n}\n")], 8, `virtual web, server web1 is not closed`},
	{"missing brace before next block", wrap("", "", "")[:len(wrap("", "", ""))-2] + "virtual b {\n     address = 192.168.26.11 eth0:2\n}\n", 12, `virtual b starts inside virtual web (line 5): expected "}" to close virtual web first`},
	{"missing server brace", wrap("", "     server web0 {\n         address = 10.11.12.2\n", ""), 10, `server web1 starts inside virtual web, server web0 (line 8): expected "}" to close virtual web, server web0 first`},
	{"stray brace", base + "}\n", 5, `unexpected "}": no block is open`},
	{"text after close", wrap("", "", "")[:len(wrap("", "", ""))-2] + "} x\n", 12, `unexpected arguments after "}": "x" ("}" must be alone on its line)`},
	{"dirs not a list", base + "service = fos\nfailover f {\n     address = 192.168.26.20 eth0:2\n     dirs = /var/ftp\n}\n", 8, `dirs: expected a list "[ a b … ]", got "/var/ftp"`},

	// Values.
	{"bad int", base + "keepalive = six\n", 5, `keepalive: expected a number of seconds (an integer from 1 to 2147483647), got "six"`},
	{"negative timeout", wrap("", "     timeout = -5\n", ""), 8, `timeout: expected a number of seconds from 1 to 2147483647, got -5`},
	{"zero keepalive", base + "keepalive = 0\n", 5, `keepalive: expected a number of seconds from 1 to 2147483647, got 0`},
	{"bad bool", base + "backup_active = yes\n", 5, `backup_active: expected a boolean (0 or 1), got "yes"`},
	{"bool 2", base + "heartbeat = 2\n", 5, `heartbeat: expected a boolean (0 or 1), got "2"`},
	{"bad port name", wrap("", "     port = htp\n", ""), 8, `port: expected a port number or service name, got "htp"`},
	{"port out of range", wrap("", "     port = 70000\n", ""), 8, `port: expected a port from 0 to 65535, got 70000`},
	{"server port 0", wrap("", "", "         port = 0\n"), 11, `port: expected a port from 1 to 65535, got 0`},
	{"heartbeat_port 0", base + "heartbeat_port = 0\n", 5, `heartbeat_port: expected a port from 1 to 65535, got 0`},
	{"weight negative", wrap("", "", "         weight = -1\n"), 11, `weight: expected a weight from 0 to 65535, got -1`},
	{"weight too big", wrap("", "", "         weight = 65536\n"), 11, `weight: expected a weight from 0 to 65535, got 65536`},
	{"bad address", base + "backup = 192.168.26\n", 5, `backup: expected an IPv4 address like 192.168.26.10, got "192.168.26"`},
	{"host name", base + "backup = router2\n", 5, `backup: expected an IPv4 address like 192.168.26.10, got "router2" (host names are not resolved)`},
	{"ipv6 loopback", base + "backup = ::1\n", 5, `backup: expected a unicast IPv6 address, got ::1`},
	{"unspecified address", base + "backup = 0.0.0.0\n", 5, `backup: expected a unicast IPv4 address, got 0.0.0.0`},
	{"bad netmask", base + "nat_nmask = 255.0.255.0\n", 5, `nat_nmask: expected a contiguous netmask like 255.255.255.0, got "255.0.255.0"`},
	{"netmask garbage", wrap("", "     vip_nmask = /24\n", ""), 8, `vip_nmask: expected a netmask like 255.255.255.0 or an IPv6 prefix length like 64, got "/24"`},
	{"bad device", base + "syncd_iface = eth0/1\n", 5, `syncd_iface: expected a device name like eth0 or eth0:1, got "eth0/1"`},
	{"device too long", wrap("", "     address = 192.168.26.10 averyveryverylongname0\n", ""), 8, `expected a device name like eth0 or eth0:1, got "averyveryverylongname0"`},
	{"bad network", base + "network = dr\n", 5, `network: expected nat, direct or tunnel, got "dr"`},
	{"bad service", base + "service = ha\n", 5, `service: expected lvs or fos, got "ha"`},
	{"bad protocol", wrap("", "     protocol = sctp\n", ""), 8, `protocol: expected tcp or udp, got "sctp"`},
	{"bad scheduler", wrap("", "     scheduler = pcc\n", ""), 8, `scheduler: expected a scheduler (rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos), got "pcc"`},
	{"bad rsh_command", base + "rsh_command = telnet\n", 5, `rsh_command: expected rsh or ssh, got "telnet"`},
	{"bad rca", base + "reservation_conflict_action = kill\n", 5, `reservation_conflict_action: expected nothing or preempt, got "kill"`},
	{"syncd_id range", base + "syncd_id = 256\n", 5, `syncd_id: expected a sync ID from 0 to 255, got 256`},
	{"fwmark negative", wrap("", "     fwmark = -1\n", ""), 8, `fwmark: expected a firewall mark from 0 to 4294967295, got -1`},
	{"bad sched flag", wrap("", "     scheduler = sh\n     scheduler_flags = sh-random\n", ""), 9, `scheduler_flags: expected scheduler flags sh-fallback, sh-port, mh-fallback or mh-port (comma-separated), got "sh-random"`},
	{"bad mh size", wrap("", "     scheduler = mh\n     mh_table_size = 4000\n", ""), 9, `mh_table_size: expected a Maglev table size (one of the kernel's primes 251 509 1021 2039 4093 8191 16381 32749 65521 131071), got "4000"`},
	{"conn_reuse_mode range", base + "conn_reuse_mode = 4\n", 5, `conn_reuse_mode: expected a conn_reuse_mode bit mask from 0 to 3, got 4`},
	{"empty load_monitor", wrap("", "     load_monitor = \"\"\n", ""), 8, `load_monitor: expected none, uptime, rup, ruptime or a command, got an empty string`},
	{"rule prefix host bits", base + "masquerade m {\n     source = 10.11.12.1/24\n}\n", 6, `source: network 10.11.12.1/24 has host bits set: expected 10.11.12.0/24`},
	{"rule port range backwards", base + "fwmark_rule f {\n     mark = 1\n     protocol = tcp\n     dport = 20:10\n}\n", 8, `dport: port range 20:10 runs backwards: expected LOW:HIGH`},
	{"rule mark 0", base + "fwmark_rule f {\n     mark = 0\n}\n", 6, `mark: expected a firewall mark from 1 to 4294967295, got 0`},
	{"rule bad protocol", base + "masquerade m {\n     protocol = icmp\n     source = 10.11.12.0/24\n}\n", 6, `protocol: expected tcp, udp or all, got "icmp"`},
	{"rule bad interface", base + "masquerade m {\n     source = 10.11.12.0/24\n     interface = eth0:1\n}\n", 7, `interface: expected an interface name like eth0, got "eth0:1"`},

	// Validation.
	{"missing primary", "network = direct\n", 1, "missing primary: expected `primary = IP`"},
	{"backup_active without backup", base + "backup_active = 1\n", 5, "backup_active = 1 needs `backup = IP`"},
	{"backup is primary", base + "backup = 192.168.26.9\n", 5, "backup: 192.168.26.9 is also the primary address"},
	{"private addresses equal", base + "primary_private = 10.11.12.9\nbackup_private = 10.11.12.9\n", 6, "backup_private: 10.11.12.9 is also primary_private"},
	{"deadtime not above keepalive", base + "keepalive = 6\ndeadtime = 6\n", 6, "deadtime (6s) must be longer than keepalive (6s)"},
	{"nat without nat_router", "primary = 192.168.26.9\nnetwork = nat\n" + wrap("", "", "")[len(base):], 2, "network = nat needs `nat_router = IP DEV`"},
	{"missing virtual address", base + "virtual web {\n     active = 1\n}\n", 5, "virtual web: missing address: expected `address = IP DEV`"},
	{"VIP is a router address", base + "virtual web {\n     address = 10.11.12.10 eth0:1\n}\n", 6, "virtual web: the VIP 10.11.12.10 is also nat_router"},
	{"port 0 without persistence", wrap("", "     port = 0\n", ""), 8, "virtual web: port 0 (every port) needs persistent or fwmark"},
	{"flags on wrong scheduler", wrap("", "     scheduler_flags = sh-port\n", ""), 8, "scheduler_flags apply to the sh and mh schedulers only, and the scheduler is wlc"},
	{"flags of other scheduler", wrap("", "     scheduler = mh\n     scheduler_flags = sh-port\n", ""), 9, `scheduler_flags "sh-port" does not belong to scheduler mh (expected mh-port)`},
	{"bad regex", wrap("", "     expect = \"HTTP(\"\n     use_regex = 1\n", ""), 8, "expect is not a valid extended regular expression"},
	{"sorry server is VIP", wrap("", "     sorry_server = 192.168.26.10\n", ""), 8, "sorry_server 192.168.26.10 is the VIP itself"},
	{"ftp_helper on udp", wrap("", "     protocol = udp\n     ftp_helper = 1\n", ""), 9, "virtual web: ftp_helper needs protocol tcp"},
	{"duplicate virtual", wrap("", "", "") + "virtual web {\n     address = 192.168.26.11 eth0:2\n}\n", 13, "virtual web: duplicate name (also on line 5)"},
	{"duplicate server", wrap("", "     server web1 {\n         address = 10.11.12.2\n     }\n", ""), 11, "virtual web, server web1: duplicate name (also on line 8)"},
	{"duplicate server address", wrap("", "     server web0 {\n         address = 10.11.12.1\n     }\n", ""), 12, "virtual web, server web1: 10.11.12.1:80 is already real server web0 (line 8)"},
	{"missing server address", wrap("", "     server web0 {\n         active = 1\n     }\n", ""), 8, "virtual web, server web0: missing address: expected `address = IP`"},
	{"server is VIP", wrap("", "     server v {\n         address = 192.168.26.10\n     }\n", ""), 9, "the real server address 192.168.26.10 is the VIP"},
	{"server is nat_router", wrap("", "     server v {\n         address = 10.11.12.10\n     }\n", ""), 9, "the real server address 10.11.12.10 is also nat_router"},
	{"lthreshold above uthreshold", wrap("", "", "         uthreshold = 10\n         lthreshold = 20\n"), 12, "lthreshold 20 is above uthreshold 10"},
	{"same service twice", wrap("", "", "") + "virtual web2 {\n     active = 1\n     address = 192.168.26.10 eth0:1\n}\n", 13, "virtual web2: tcp 192.168.26.10:80 is already served by virtual web (line 5)"},
	{"VIP on two interfaces", wrap("", "", "") + "virtual web2 {\n     active = 1\n     address = 192.168.26.10 eth2:1\n     port = 443\n}\n", 15, "VIP 192.168.26.10 is on eth2:1, but virtual web (line 5) puts it on eth0:1"},
	{"duplicate rule name", base + "masquerade m {\n     source = 10.11.12.0/24\n}\nmasquerade m {\n     source = 10.11.13.0/24\n}\n", 8, "masquerade m: duplicate name (also on line 5)"},
	{"rule ports without protocol", base + "fwmark_rule f {\n     mark = 5\n     dport = 80\n}\n", 5, "fwmark_rule f: sport and dport need protocol = tcp or udp"},
	{"rule without mark", base + "fwmark_rule f {\n     protocol = tcp\n}\n", 5, "fwmark_rule f: missing mark: expected `mark = N`"},
	{"masquerade without source", base + "masquerade m {\n     protocol = tcp\n}\n", 5, "masquerade m: missing source"},
}

// TestErrors checks every error message: the line it names and what it says.
func TestErrors(t *testing.T) {
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.cf", strings.NewReader(tt.text))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.text)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			for _, e := range Errors(err) {
				if e.Line == tt.line && strings.Contains(e.Msg, tt.msg) && e.File == "test.cf" {
					return
				}
			}
			t.Errorf("Parse errors = %v\nwant one at test.cf:%d containing %q", err, tt.line, tt.msg)
		})
	}
}

// TestAllErrorsReported checks that one bad line does not hide the next.
func TestAllErrorsReported(t *testing.T) {
	text := base + "keepalive = x\nvirtual web {\n     port = htp\n     bogus = 1\n     server a {\n         weight = -2\n     }\n}\nnetwork = dr\n"
	_, err := Parse("test.cf", strings.NewReader(text))
	var lines []int
	for _, e := range Errors(err) {
		lines = append(lines, e.Line)
	}
	want := []int{5, 6, 7, 8, 9, 10, 13}
	if !equalInts(lines, want) {
		t.Errorf("error lines = %v, want %v (sorted, one per problem)\n%v", lines, want, err)
	}
	if got := err.Error(); !strings.HasPrefix(got, "test.cf:5: keepalive:") {
		t.Errorf("Error() = %q, want it to start with the first problem as FILE:LINE: message", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWarnings checks the problems that leave a working configuration.
func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		text string
		line int
		msg  string
	}{
		{"server outside NAT network", wrap("", "     server far {\n         address = 10.11.13.5\n         active = 1\n     }\n", ""), 9, "10.11.13.5 is outside the NAT network 10.11.12.0/24 of nat_router 10.11.12.10"},
		{"fwmark persistence differs", wrap("", "     fwmark = 80\n     persistent = 300\n", "") + "virtual https {\n     active = 1\n     address = 192.168.26.10 eth0:1\n     port = 443\n     fwmark = 80\n     persistent = 60\n     server s {\n         address = 10.11.12.1\n         active = 1\n     }\n}\n", 20, "fwmark 80 is shared with virtual web (line 5), which has persistent 300, not 60"},
		{"fwmark without persistence", wrap("", "     fwmark = 80\n", ""), 8, "fwmark is set without persistent"},
		{"pmask without persistence", wrap("", "     pmask = 255.255.255.0\n", ""), 8, "pmask has no effect without persistent"},
		{"duplicate key", wrap("", "     port = 80\n     port = 81\n", ""), 9, `port: duplicate key in virtual web (first on line 8): the last value wins`},
		{"send ignored", wrap("", "     send = \"x\"\n     send_program = \"/bin/check %h\"\n", ""), 8, "send is ignored because send_program is set"},
		{"send_program relative", wrap("", "     send_program = \"check %h\"\n", ""), 8, `send_program "check" should start with an absolute path`},
		{"send_program embedded token", wrap("", "     send_program = \"/bin/check --host=%h\"\n", ""), 8, `send_program word "--host=%h" is passed as is`},
		{"long send", wrap("", "     send = \""+strings.Repeat("x", 300)+"\"\n", ""), 8, "send is 300 bytes; nanny handles at most 255"},
		{"reentry below timeout", wrap("", "     timeout = 10\n     reentry = 5\n", ""), 9, "reentry (5s) is shorter than timeout (10s)"},
		{"load_monitor command", wrap("", "     load_monitor = mycheck\n", ""), 8, `load_monitor "mycheck" is not none, uptime, rup or ruptime`},
		{"mh_table_size unused", wrap("", "     mh_table_size = 251\n", ""), 8, "mh_table_size has no effect with scheduler wlc"},
		{"no active servers", wrap("", "", "         active = 0\n"), 5, "active, but has no active real server and no sorry_server"},
		{"lthreshold alone", wrap("", "", "         lthreshold = 5\n"), 11, "lthreshold has no effect without uthreshold"},
		{"DR port change", strings.Replace(wrap("", "", "         port = 8080\n"), "network = nat", "network = direct", 1), 11, "network = direct cannot change ports"},
		{"nat_router unused", strings.Replace(wrap("", "", ""), "network = nat", "network = direct", 1), 3, "nat_router is only used with network = nat"},
		{"nat_nmask missing", strings.Replace(wrap("", "", ""), "nat_nmask = 255.255.255.0\n", "", 1), 3, "nat_nmask is not set"},
		{"short heartbeat key", wrap("heartbeat_key = secret\n", "", ""), 5, "heartbeat_key is 6 bytes"},
		{"deadtime tight", wrap("keepalive = 6\ndeadtime = 10\n", "", ""), 6, "one lost heartbeat causes a takeover"},
		{"fos with virtuals", wrap("service = fos\n", "", ""), 5, "service = fos: the 1 virtual blocks are ignored"},
		{"FOS key in virtual", wrap("", "     start_cmd = \"/bin/true\"\n", ""), 8, "start_cmd is only used by failover blocks"},
		{"port after servers", wrap("", "", "")[:len(wrap("", "", ""))-2] + "     port = 8080\n}\n", 12, "port 8080 is set after server blocks without a port (line 8)"},
		{"vip netmask differs", wrap("", "     vip_nmask = 255.255.255.0\n", "") + "virtual b {\n     active = 1\n     address = 192.168.26.10 eth0:1\n     port = 443\n     vip_nmask = 255.255.0.0\n     sorry_server = 10.11.12.99\n}\n", 18, "vip_nmask 255.255.0.0 here but 255.255.255.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("test.cf", strings.NewReader(tt.text))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for _, w := range c.Warnings {
				if w.Line == tt.line && strings.Contains(w.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("Warnings = %v\nwant one at line %d containing %q", c.Warnings, tt.line, tt.msg)
		})
	}
}
