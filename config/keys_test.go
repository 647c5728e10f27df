package config

import (
	"reflect"
	"testing"
	"time"
)

// TestDefaults pins the defaults of reference §1.2–1.4 (lvsParseConfig,
// lvsInitVirtualServer, parseActualServer) and of the extensions.
func TestDefaults(t *testing.T) {
	c := mustParse(t, wrap("", "", ""))
	v := c.Virtuals[0]
	s := v.Servers[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"serial_no", c.Serial, 0},
		{"service", c.Service, ServiceLVS},
		{"backup_active", c.BackupActive, false},
		{"heartbeat", c.Heartbeat, false},
		{"heartbeat_port", c.HeartbeatPort, uint16(539)},
		{"keepalive", c.Keepalive, 2 * time.Second},
		{"deadtime", c.Deadtime, 5 * time.Second},
		{"debug_level", c.DebugLevel, "NONE"},
		{"monitor_links", c.MonitorLinks, false},
		{"syncdaemon", c.SyncDaemon, false},
		{"syncd_iface", c.SyncdIface, "eth0"},
		{"syncd_id", c.SyncdID, uint8(0)},
		{"tcp_timeout", c.TCPTimeout, time.Duration(0)},
		{"hard_shutdown", c.HardShutdown, true},
		{"ipvsadm", c.Ipvsadm, "/sbin/ipvsadm"},
		{"rsh_command", c.RshCommand, "rsh"},
		{"sync", c.FileSync, false},
		{"failback", c.Failback, true},
		{"expire_nodest_conn", c.ExpireNodestConn, true},
		{"expire_quiescent_template", c.ExpireQuiescentTemplate, false},
		{"conn_reuse_mode", c.ConnReuseMode, 1},
		{"max_conns", c.MaxConns, 0},
		{"heartbeat_key", c.HeartbeatKey, ""},
		{"primary_private", c.PrimaryPrivate.IsValid(), false},
		{"virtual protocol", v.Protocol, ProtoTCP},
		{"virtual port", v.Port, uint16(80)},
		{"virtual scheduler", v.Scheduler, SchedWLC},
		{"virtual timeout", v.Timeout, 10 * time.Second},
		{"virtual reentry", v.Reentry, 180 * time.Second},
		{"virtual persistent", v.Persistent, time.Duration(0)},
		{"virtual pmask", v.PMask.IsValid(), false},
		{"virtual fwmark", v.FWMark, uint32(0)},
		{"virtual load_monitor", v.LoadMonitor, ""},
		{"virtual client_monitor", v.ClientMonitor, "/usr/sbin/nanny"},
		{"virtual quiesce_server", v.QuiesceServer, false},
		{"virtual use_regex", v.UseRegex, false},
		{"virtual mh_table_size", v.MHTableSize, 4093},
		{"server weight", s.Weight, 1},
		{"server port", s.Port, uint16(0)},
		{"server real port", v.RealPort(s), uint16(80)},
		{"server uthreshold", s.UThreshold, 0},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("default %s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// keyTests set every key once.
var keyTests = []struct {
	name                    string
	global, virtual, server string
	get                     func(c *Config) any
	want                    any
}{
	{"serial_no", "serial_no = 37\n", "", "", func(c *Config) any { return c.Serial }, 37},
	{"serial_no hex", "serial_no = 0x10\n", "", "", func(c *Config) any { return c.Serial }, 16},
	{"serial_no octal", "serial_no = 010\n", "", "", func(c *Config) any { return c.Serial }, 8},
	{"primary_private", "primary_private = 10.11.12.9\n", "", "", func(c *Config) any { return c.PrimaryPrivate }, ip("10.11.12.9")},
	{"primary_shared", "primary_shared = /dev/sdb1\n", "", "", func(c *Config) any { return c.PrimaryShared }, "/dev/sdb1"},
	{"backup_shared", "backup_shared = /dev/sdc1\n", "", "", func(c *Config) any { return c.BackupShared }, "/dev/sdc1"},
	{"service fos", "service = fos\n", "", "", func(c *Config) any { return c.Service }, ServiceFOS},
	{"backup_active", "backup_active = 1\nbackup = 192.168.26.8\n", "", "", func(c *Config) any { return c.BackupActive }, true},
	{"backup", "backup = 192.168.26.8\n", "", "", func(c *Config) any { return c.Backup }, ip("192.168.26.8")},
	{"backup_private", "backup_private = 10.11.12.8\n", "", "", func(c *Config) any { return c.BackupPrivate }, ip("10.11.12.8")},
	{"heartbeat", "heartbeat = 1\n", "", "", func(c *Config) any { return c.Heartbeat }, true},
	{"heartbeat_port", "heartbeat_port = 1539\n", "", "", func(c *Config) any { return c.HeartbeatPort }, uint16(1539)},
	{"keepalive", "keepalive = 6\ndeadtime = 18\n", "", "", func(c *Config) any { return c.Keepalive }, 6 * time.Second},
	{"deadtime", "deadtime = 18\n", "", "", func(c *Config) any { return c.Deadtime }, 18 * time.Second},
	{"network direct", "network = direct\n", "", "", func(c *Config) any { return c.Network }, NetworkDirect},
	{"network tunnel", "network = tunnel\n", "", "", func(c *Config) any { return c.Network }, NetworkTunnel},
	{"nat_router", "", "", "", func(c *Config) any { return []any{c.NATRouter, c.NATRouterDevice, c.NATRouterInterface()} },
		[]any{ip("10.11.12.10"), "eth1:1", "eth1"}},
	{"nat_nmask", "", "", "", func(c *Config) any { return c.NATNetmask.Bits() }, 24},
	{"debug_level", "debug_level = LOW\n", "", "", func(c *Config) any { return c.DebugLevel }, "LOW"},
	{"monitor_links", "monitor_links = 1\n", "", "", func(c *Config) any { return c.MonitorLinks }, true},
	{"syncdaemon", "syncdaemon = 1\n", "", "", func(c *Config) any { return c.SyncDaemon }, true},
	{"syncd_iface", "syncd_iface = eth1\n", "", "", func(c *Config) any { return c.SyncdIface }, "eth1"},
	{"syncd_id", "syncd_id = 255\n", "", "", func(c *Config) any { return c.SyncdID }, uint8(255)},
	{"tcp_timeout", "tcp_timeout = 900\n", "", "", func(c *Config) any { return c.TCPTimeout }, 900 * time.Second},
	{"tcpfin_timeout", "tcpfin_timeout = 120\n", "", "", func(c *Config) any { return c.TCPFinTimeout }, 120 * time.Second},
	{"udp_timeout", "udp_timeout = 300\n", "", "", func(c *Config) any { return c.UDPTimeout }, 300 * time.Second},
	{"active_cmd quoted", "active_cmd = \"/usr/local/bin/up --now\"\n", "", "", func(c *Config) any { return c.ActiveCmd }, "/usr/local/bin/up --now"},
	{"inactive_cmd", "inactive_cmd = /usr/local/bin/down\n", "", "", func(c *Config) any { return c.InactiveCmd }, "/usr/local/bin/down"},
	{"hard_shutdown", "hard_shutdown = 0\n", "", "", func(c *Config) any { return c.HardShutdown }, false},
	{"ipvsadm", "ipvsadm = /usr/sbin/ipvsadm\n", "", "", func(c *Config) any { return c.Ipvsadm }, "/usr/sbin/ipvsadm"},
	{"rsh_command", "rsh_command = ssh\n", "", "", func(c *Config) any { return c.RshCommand }, "ssh"},
	{"sync", "sync = 1\n", "", "", func(c *Config) any { return c.FileSync }, true},
	{"reservation_conflict_action", "reservation_conflict_action = preempt\n", "", "", func(c *Config) any { return c.ReservationAction }, "preempt"},
	{"heartbeat_key", "heartbeat_key = \"correct horse battery staple\"\n", "", "", func(c *Config) any { return c.HeartbeatKey }, "correct horse battery staple"},
	{"failback", "failback = 0\n", "", "", func(c *Config) any { return c.Failback }, false},
	{"expire_nodest_conn", "expire_nodest_conn = 0\n", "", "", func(c *Config) any { return c.ExpireNodestConn }, false},
	{"expire_quiescent_template", "expire_quiescent_template = 1\n", "", "", func(c *Config) any { return c.ExpireQuiescentTemplate }, true},
	{"conn_reuse_mode", "conn_reuse_mode = 3\n", "", "", func(c *Config) any { return c.ConnReuseMode }, 3},
	{"max_conns", "max_conns = 1048576\n", "", "", func(c *Config) any { return c.MaxConns }, 1048576},

	{"active", "", "", "", func(c *Config) any { return c.Virtuals[0].Active }, true},
	{"address", "", "", "", func(c *Config) any { v := c.Virtuals[0]; return []any{v.Address, v.Device, v.Interface()} },
		[]any{ip("192.168.26.10"), "eth0:1", "eth0"}},
	{"vip_nmask", "", "     vip_nmask = 255.255.255.0\n", "", func(c *Config) any { return c.Virtuals[0].VIPNetmask.String() }, "255.255.255.0"},
	{"fwmark", "", "     fwmark = 80\n     persistent = 300\n", "", func(c *Config) any { return c.Virtuals[0].FWMark }, uint32(80)},
	{"protocol udp", "", "     protocol = udp\n", "", func(c *Config) any { return c.Virtuals[0].Protocol }, ProtoUDP},
	{"port", "", "     port = 8080\n", "", func(c *Config) any { return c.Virtuals[0].Port }, uint16(8080)},
	{"port service name", "", "     port = https\n", "", func(c *Config) any { return c.Virtuals[0].Port }, uint16(443)},
	{"port 0 persistent", "", "     port = 0\n     persistent = 60\n", "", func(c *Config) any { return c.Virtuals[0].Port }, uint16(0)},
	{"scheduler", "", "     scheduler = lblcr\n", "", func(c *Config) any { return c.Virtuals[0].Scheduler }, SchedLBLCR},
	{"scheduler twos", "", "     scheduler = twos\n", "", func(c *Config) any { return c.Virtuals[0].Scheduler }, SchedTWOS},
	{"scheduler_flags", "", "     scheduler = sh\n     scheduler_flags = sh-fallback,sh-port\n", "",
		func(c *Config) any { return c.Virtuals[0].SchedFlags }, SchedFlagFallback | SchedFlagPort},
	{"scheduler_flags mh", "", "     scheduler = mh\n     scheduler_flags = mh-port\n", "",
		func(c *Config) any { return c.Virtuals[0].SchedFlags }, SchedFlagPort},
	{"mh_table_size", "", "     scheduler = mh\n     mh_table_size = 65521\n", "", func(c *Config) any { return c.Virtuals[0].MHTableSize }, 65521},
	{"ftp_helper", "", "     port = 21\n     ftp_helper = 1\n", "", func(c *Config) any { return c.Virtuals[0].FTPHelper }, true},
	{"persistent", "", "     persistent = 300\n", "", func(c *Config) any { return c.Virtuals[0].Persistent }, 300 * time.Second},
	{"pmask", "", "     persistent = 300\n     pmask = 255.255.255.0\n", "", func(c *Config) any { return c.Virtuals[0].PMask.Bits() }, 24},
	{"pmask all ones is unset", "", "     persistent = 300\n     pmask = 255.255.255.255\n", "", func(c *Config) any { return c.Virtuals[0].PMask.IsValid() }, false},
	{"send quoted with blanks", "", "     send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n", "", func(c *Config) any { return c.Virtuals[0].Send }, `GET / HTTP/1.0\r\n\r\n`},
	{"expect single quotes", "", "     expect = 'HTTP/1.1 200'\n", "", func(c *Config) any { return c.Virtuals[0].Expect }, "HTTP/1.1 200"},
	{"use_regex", "", "     expect = \"^HTTP/1\\.[01] 200\"\n     use_regex = 1\n", "", func(c *Config) any { return c.Virtuals[0].UseRegex }, true},
	{"send_program", "", "     send_program = \"/usr/local/bin/check_https %h %p\"\n", "", func(c *Config) any { return c.Virtuals[0].SendProgram }, "/usr/local/bin/check_https %h %p"},
	{"timeout", "", "     timeout = 6\n", "", func(c *Config) any { return c.Virtuals[0].Timeout }, 6 * time.Second},
	{"reentry", "", "     reentry = 15\n", "", func(c *Config) any { return c.Virtuals[0].Reentry }, 15 * time.Second},
	{"load_monitor", "", "     load_monitor = ruptime\n", "", func(c *Config) any { return c.Virtuals[0].LoadMonitor }, "ruptime"},
	{"quiesce_server", "", "     quiesce_server = 1\n", "", func(c *Config) any { return c.Virtuals[0].QuiesceServer }, true},
	{"sorry_server", "", "     sorry_server = 10.11.12.99\n", "", func(c *Config) any { return c.Virtuals[0].SorryServer }, ip("10.11.12.99")},
	{"client_monitor", "", "     client_monitor = /usr/local/sbin/nanny\n", "", func(c *Config) any { return c.Virtuals[0].ClientMonitor }, "/usr/local/sbin/nanny"},

	{"server port", "", "", "         port = 8080\n", func(c *Config) any { v := c.Virtuals[0]; return v.RealPort(v.Servers[0]) }, uint16(8080)},
	{"server weight", "", "", "         weight = 5\n", func(c *Config) any { return c.Virtuals[0].Servers[0].Weight }, 5},
	{"server weight 0", "", "", "         weight = 0\n", func(c *Config) any { return c.Virtuals[0].Servers[0].Weight }, 0},
	{"server active 0", "", "", "         active = 0\n", func(c *Config) any { return c.Virtuals[0].Servers[0].Active }, false},
	{"uthreshold", "", "", "         uthreshold = 100\n", func(c *Config) any { return c.Virtuals[0].Servers[0].UThreshold }, 100},
	{"lthreshold", "", "", "         uthreshold = 100\n         lthreshold = 50\n", func(c *Config) any { return c.Virtuals[0].Servers[0].LThreshold }, 50},
}

// TestKeys sets every key once and checks the model and the round trip.
func TestKeys(t *testing.T) {
	for _, tt := range keyTests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, wrap(tt.global, tt.virtual, tt.server))
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
			roundTrip(t, c)
		})
	}
}

func TestFailoverBlock(t *testing.T) {
	c := mustParse(t, base+`service = fos
failover ftp {
     active = 1
     address = 192.168.26.20 eth0:2
     port = 21
     send = "quit"
     expect = "220"
     start_cmd = "/etc/rc.d/init.d/vsftpd start"
     stop_cmd = "/etc/rc.d/init.d/vsftpd stop"
     master = 192.168.26.9
     dirs = [ /var/ftp /srv/ftp ]
}
`)
	if len(c.Failovers) != 1 || len(c.Virtuals) != 0 {
		t.Fatalf("got %d failovers and %d virtuals, want 1 and 0", len(c.Failovers), len(c.Virtuals))
	}
	f := c.Failovers[0]
	if f.StartCmd != "/etc/rc.d/init.d/vsftpd start" || f.StopCmd != "/etc/rc.d/init.d/vsftpd stop" ||
		f.Master != ip("192.168.26.9") || !reflect.DeepEqual(f.Dirs, []string{"/var/ftp", "/srv/ftp"}) || !f.IsFailover(c) {
		t.Errorf("failover = %+v", *f)
	}
	roundTrip(t, c)
}

func TestNativeRuleBlocks(t *testing.T) {
	c := mustParse(t, base+`fwmark_rule ftp {
     mark = 21
     protocol = tcp
     destination = 192.168.26.10
     dport = 21,10000:20000
     interface = eth0
}
masquerade ftp-active {
     protocol = tcp
     source = 10.11.12.0/24
     sport = ftp-data
}
`)
	r := c.Rules("test.cf")
	want := []MarkRule{
		{Match: Match{Proto: ProtoTCP, Dst: pfx("192.168.26.10/32"), DPortLo: 21, DPortHi: 21, Iface: "eth0"}, Mark: 21, Name: "ftp", File: "test.cf", Line: 5},
		{Match: Match{Proto: ProtoTCP, Dst: pfx("192.168.26.10/32"), DPortLo: 10000, DPortHi: 20000, Iface: "eth0"}, Mark: 21, Name: "ftp", File: "test.cf", Line: 5},
	}
	if !reflect.DeepEqual(r.Marks, want) {
		t.Errorf("Rules().Marks = %+v, want %+v", r.Marks, want)
	}
	wantM := []MasqRule{{Match: Match{Proto: ProtoTCP, Src: pfx("10.11.12.0/24"), SPortLo: 20, SPortHi: 20}, Name: "ftp-active", File: "test.cf", Line: 12}}
	if !reflect.DeepEqual(r.Masquerades, wantM) {
		t.Errorf("Rules().Masquerades = %+v, want %+v", r.Masquerades, wantM)
	}
	roundTrip(t, c)
}

func TestDuplicateKeyLastWins(t *testing.T) {
	c := mustParse(t, wrap("backup_active = 0\nbackup_active = 1\nbackup = 192.168.26.8\n", "", ""))
	if !c.BackupActive {
		t.Errorf("BackupActive = false, want the last value, true")
	}
	if len(c.Warnings) != 1 || c.Warnings[0].Line != 6 || !contains(c.Warnings[0].Msg, "duplicate key") {
		t.Errorf("Warnings = %v, want one duplicate-key warning on line 6", c.Warnings)
	}
}

func TestCRLFAndComments(t *testing.T) {
	text := "# comment\r\n   # indented comment\r\n\r\nprimary = 192.168.26.9\r\nnetwork = direct\r\n"
	c := mustParse(t, text)
	if c.Primary != ip("192.168.26.9") || c.Network != NetworkDirect {
		t.Errorf("got primary %v network %v", c.Primary, c.Network)
	}
	if got := string(Format(c)); got != "primary = 192.168.26.9\nnetwork = direct\n" {
		t.Errorf("Format = %q", got)
	}
	c = mustParse(t, "primary = 192.168.26.9\rnetwork = direct\r# old Mac line ends\rkeepalive = 3\r")
	if c.Network != NetworkDirect || c.Keepalive != 3*time.Second {
		t.Errorf("lone CR line ends: network %v keepalive %v", c.Network, c.Keepalive)
	}
}

func TestNewConfigMatchesParsedDefaults(t *testing.T) {
	c := mustParse(t, "primary = 192.168.26.9\n")
	want := NewConfig()
	want.Primary = ip("192.168.26.9")
	want.Keys = []string{"primary"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse = %+v\nwant    %+v", *c, *want)
	}
}
