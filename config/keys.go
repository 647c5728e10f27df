package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// keyDef describes one `key = value…` line of a block of type T: how to
// parse it into the model and how Format writes it back. The tables below
// are the single list of keys: the parser, Format, the "unknown key" hints
// and the extension list (Extensions) all read them.
type keyDef[T any] struct {
	name   string
	nargs  int  // number of value tokens; listArgs for "[ a b … ]"
	ext    bool // an lvs-go extension, not a Piranha key
	always bool // Format writes it even when it holds the default
	set    func(x *T, v []token) error
	get    func(x *T) (string, bool) // false: nothing to write
}

// listArgs marks a key whose value is a bracketed list (`dirs = [ a b ]`).
const listArgs = -1

func boolKey[T any](name string, ext bool, f func(*T) *bool) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1, ext: ext,
		set: func(x *T, v []token) (err error) { *f(x), err = parseBool(v[0].text); return },
		get: func(x *T) (string, bool) { return fmtBool(*f(x)), true }}
}

func secsKey[T any](name string, lo int64, f func(*T) *time.Duration) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1,
		set: func(x *T, v []token) (err error) { *f(x), err = parseSeconds(v[0].text, lo); return },
		get: func(x *T) (string, bool) { return fmtSecs(*f(x)), true }}
}

func intKey[T any](name string, ext bool, lo, hi int64, what string, f func(*T) *int) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1, ext: ext,
		set: func(x *T, v []token) error {
			n, err := intIn(v[0].text, lo, hi, what)
			*f(x) = int(n)
			return err
		},
		get: func(x *T) (string, bool) { return strconv.Itoa(*f(x)), true }}
}

func addrKey[T any](name string, f func(*T) *netip.Addr) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1,
		set: func(x *T, v []token) (err error) { *f(x), err = parseIP(v[0].text); return },
		get: func(x *T) (string, bool) { return fmtAddr(*f(x)) }}
}

func maskKey[T any](name string, f func(*T) *Netmask) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1,
		set: func(x *T, v []token) (err error) { *f(x), err = ParseNetmask(v[0].text); return },
		get: func(x *T) (string, bool) { m := *f(x); return m.String(), m.IsValid() }}
}

// strKey is a free-form string. quoted: Format always writes it in quotes
// (send, expect, send_program, start_cmd, stop_cmd, as the Piranha GUI does).
func strKey[T any](name string, ext, quoted bool, f func(*T) *string) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1, ext: ext,
		set: func(x *T, v []token) error { *f(x) = v[0].text; return nil },
		get: func(x *T) (string, bool) { return quoteValue(*f(x), quoted), true }}
}

// enumKey accepts one of names.
func enumKey[T any](name string, names []string, f func(*T) *string) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1,
		set: func(x *T, v []token) error {
			for _, n := range names {
				if v[0].text == n {
					*f(x) = n
					return nil
				}
			}
			return fmt.Errorf("expected %s, got %q", orList(names), v[0].text)
		},
		get: func(x *T) (string, bool) { return *f(x), *f(x) != "" }}
}

// deviceKey is an interface name such as eth0 or eth0:1.
func deviceKey[T any](name string, f func(*T) *string) keyDef[T] {
	return keyDef[T]{name: name, nargs: 1,
		set: func(x *T, v []token) error {
			if err := checkDevice(v[0].text); err != nil {
				return err
			}
			*f(x) = v[0].text
			return nil
		},
		get: func(x *T) (string, bool) { return *f(x), *f(x) != "" }}
}

// addrDevKey is `KEY = IP DEV` (virtual address, nat_router).
func addrDevKey[T any](name string, f func(*T) (*netip.Addr, *string)) keyDef[T] {
	return keyDef[T]{name: name, nargs: 2,
		set: func(x *T, v []token) error {
			a, d := f(x)
			ip, err := parseIP(v[0].text)
			if err != nil {
				return err
			}
			if err := checkDevice(v[1].text); err != nil {
				return err
			}
			*a, *d = ip, v[1].text
			return nil
		},
		get: func(x *T) (string, bool) {
			a, d := f(x)
			return a.String() + " " + *d, a.IsValid() && *d != ""
		}}
}

func orList(names []string) string {
	s := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			s += " or "
		default:
			s += ", "
		}
		s += n
	}
	return s
}

// globalKeys are the keys outside any block, in the order Format writes
// them (the Piranha GUI's order, reference §1.5), Piranha's first.
var globalKeys = []keyDef[Config]{
	intKey("serial_no", false, 0, maxSeconds, "a serial number", func(c *Config) *int { return &c.Serial }),
	addrKey("primary", func(c *Config) *netip.Addr { return &c.Primary }),
	addrKey("primary_private", func(c *Config) *netip.Addr { return &c.PrimaryPrivate }),
	{name: "service", nargs: 1, always: true,
		set: func(c *Config, v []token) error {
			switch v[0].text {
			case "lvs":
				c.Service = ServiceLVS
			case "fos":
				c.Service = ServiceFOS
			default:
				return fmt.Errorf("expected lvs or fos, got %q", v[0].text)
			}
			return nil
		},
		get: func(c *Config) (string, bool) { return c.Service.String(), true }},
	boolKey("backup_active", false, func(c *Config) *bool { return &c.BackupActive }),
	addrKey("backup", func(c *Config) *netip.Addr { return &c.Backup }),
	addrKey("backup_private", func(c *Config) *netip.Addr { return &c.BackupPrivate }),
	boolKey("heartbeat", false, func(c *Config) *bool { return &c.Heartbeat }),
	{name: "heartbeat_port", nargs: 1,
		set: func(c *Config, v []token) (err error) { c.HeartbeatPort, err = parsePort(v[0].text, 1); return },
		get: func(c *Config) (string, bool) { return strconv.Itoa(int(c.HeartbeatPort)), true }},
	secsKey("keepalive", 1, func(c *Config) *time.Duration { return &c.Keepalive }),
	secsKey("deadtime", 1, func(c *Config) *time.Duration { return &c.Deadtime }),
	{name: "network", nargs: 1, always: true,
		set: func(c *Config, v []token) error {
			for i, n := range networkNames {
				if v[0].text == n {
					c.Network = Network(i)
					return nil
				}
			}
			return fmt.Errorf("expected nat, direct or tunnel, got %q", v[0].text)
		},
		get: func(c *Config) (string, bool) { return c.Network.String(), true }},
	addrDevKey("nat_router", func(c *Config) (*netip.Addr, *string) { return &c.NATRouter, &c.NATRouterDevice }),
	maskKey("nat_nmask", func(c *Config) *Netmask { return &c.NATNetmask }),
	natRouter6Key,
	natNmask6Key,
	strKey("debug_level", false, false, func(c *Config) *string { return &c.DebugLevel }),
	boolKey("monitor_links", false, func(c *Config) *bool { return &c.MonitorLinks }),
	boolKey("syncdaemon", false, func(c *Config) *bool { return &c.SyncDaemon }),
	deviceKey("syncd_iface", func(c *Config) *string { return &c.SyncdIface }),
	{name: "syncd_id", nargs: 1,
		set: func(c *Config, v []token) error {
			n, err := intIn(v[0].text, 0, 255, "a sync ID")
			c.SyncdID = uint8(n)
			return err
		},
		get: func(c *Config) (string, bool) { return strconv.Itoa(int(c.SyncdID)), true }},
	secsKey("tcp_timeout", 0, func(c *Config) *time.Duration { return &c.TCPTimeout }),
	secsKey("tcpfin_timeout", 0, func(c *Config) *time.Duration { return &c.TCPFinTimeout }),
	secsKey("udp_timeout", 0, func(c *Config) *time.Duration { return &c.UDPTimeout }),
	strKey("primary_shared", false, false, func(c *Config) *string { return &c.PrimaryShared }),
	strKey("backup_shared", false, false, func(c *Config) *string { return &c.BackupShared }),
	enumKey("reservation_conflict_action", []string{"nothing", "preempt"}, func(c *Config) *string { return &c.ReservationAction }),
	strKey("active_cmd", false, false, func(c *Config) *string { return &c.ActiveCmd }),
	strKey("inactive_cmd", false, false, func(c *Config) *string { return &c.InactiveCmd }),
	boolKey("hard_shutdown", false, func(c *Config) *bool { return &c.HardShutdown }),
	strKey("ipvsadm", false, false, func(c *Config) *string { return &c.Ipvsadm }),
	enumKey("rsh_command", []string{"rsh", "ssh"}, func(c *Config) *string { return &c.RshCommand }),
	boolKey("sync", false, func(c *Config) *bool { return &c.FileSync }),
	// Extensions.
	strKey("heartbeat_key", true, true, func(c *Config) *string { return &c.HeartbeatKey }),
	boolKey("failback", true, func(c *Config) *bool { return &c.Failback }),
	boolKey("expire_nodest_conn", true, func(c *Config) *bool { return &c.ExpireNodestConn }),
	boolKey("expire_quiescent_template", true, func(c *Config) *bool { return &c.ExpireQuiescentTemplate }),
	intKey("conn_reuse_mode", true, 0, 3, "a conn_reuse_mode bit mask", func(c *Config) *int { return &c.ConnReuseMode }),
	intKey("max_conns", true, 0, 1<<30, "a connection count", func(c *Config) *int { return &c.MaxConns }),
	redundancyKey,
	directorsKey,
}

// Extension is one lvs.cf key that lvs-go accepts and Piranha does not.
type Extension struct {
	Block string // "global", "virtual", "server", "fwmark_rule", "masquerade", "bgp" or "peer"
	Key   string
}

// Extensions lists every extension key, read from the key tables, so the
// list in lvs.cf(5) can be checked against the code.
func Extensions() []Extension {
	var out []Extension
	add := func(block string, names []string) {
		for _, n := range names {
			out = append(out, Extension{block, n})
		}
	}
	add("global", extNames(globalKeys))
	add("global", []string{"fwmark_rule", "masquerade"})
	add("virtual", extNames(virtualKeys))
	add("server", extNames(serverKeys))
	add("fwmark_rule", allNames(markKeys))
	add("masquerade", allNames(masqKeys))
	add("bgp", allNames(bgpKeys))
	add("peer", allNames(peerKeys))
	return out
}

func extNames[T any](defs []keyDef[T]) []string {
	var out []string
	for _, d := range defs {
		if d.ext {
			out = append(out, d.name)
		}
	}
	return out
}

func allNames[T any](defs []keyDef[T]) []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.name
	}
	return out
}
