package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"lvs/config"
)

// Options adjust a conversion.
type Options struct {
	// ConfigID selects @ID conditional lines, as keepalived -i; "" skips
	// them with a warning.
	ConfigID string
	// Primary and Backup, when valid, are the public addresses of the two
	// routers, overriding what the vrrp_instance tells (keepalived learns
	// its own address from the interface at run time; lvs.cf names both).
	Primary, Backup netip.Addr
	// Files reads included files; the zero value reports includes and
	// skips them.
	Files Files
}

// Result is a converted configuration and what did not carry over.
type Result struct {
	Config *config.Config
	// Warnings list, at their FILE:LINE in keepalived.conf, every keyword
	// that has no equivalent in lvs.cf or whose meaning changes.
	Warnings []*config.ParseError
}

// Import reads the keepalived.conf named name, and the files it includes,
// from the file system and converts it (see Convert).
func Import(name string, opts Options) (*Result, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if opts.Files.Read == nil {
		opts.Files = OSFiles
	}
	return Convert(name, data, opts)
}

// Convert converts keepalived.conf text into an lvs.cf configuration. The
// error is an errors.Join of *config.ParseError naming file and line;
// the Result (with its warnings) is returned even then, but its Config is
// not to be used.
func Convert(name string, data []byte, opts Options) (*Result, error) {
	stmts, warnings, err := Parse(name, data, opts.Files, opts.ConfigID)
	d := &diag{warnings: warnings}
	if err != nil {
		return &Result{Warnings: d.sortedWarnings()}, err
	}
	cv := &converter{d: d, opts: opts, c: config.NewConfig(), names: map[string]bool{}, name: name}
	cv.file(stmts)
	return &Result{Config: cv.c, Warnings: d.sortedWarnings()}, d.err()
}

// converter carries the state of one conversion.
type converter struct {
	d       *diag
	opts    Options
	c       *config.Config
	vrrp    []*instance
	vips    []*vip
	groups  map[string]*Stmt // virtual_server_group by name
	network *Stmt            // the first lb_kind, which sets lvs.cf's network
	firstVS *Stmt            // the first virtual_server, where file-wide problems are told
	names   map[string]bool  // virtual names taken
	name    string           // the keepalived.conf read
}

// file converts the top level: first what virtual servers refer to (VRRP
// addresses, groups), then the virtual servers, then the router roles.
func (cv *converter) file(stmts []*Stmt) {
	cv.groups = map[string]*Stmt{}
	var virtuals, syncGroups []*Stmt
	for _, s := range stmts {
		switch s.Key {
		case "global_defs":
			cv.globals(s)
		case "vrrp_instance":
			cv.instance(s)
		case "vrrp_sync_group":
			syncGroups = append(syncGroups, s)
		case "virtual_server_group":
			if cv.d.need(s, 1, 1) {
				cv.groups[s.Args[0]] = s
			}
		case "virtual_server":
			virtuals = append(virtuals, s)
		default:
			cv.d.unsupported(s, "")
		}
	}
	for _, s := range syncGroups {
		cv.syncGroup(s)
	}
	for _, s := range virtuals {
		cv.virtualServer(s)
	}
	cv.roles()
	cv.natRouter()
	for _, v := range cv.vips {
		if !v.used {
			cv.d.warn(v.stmt, "vrrp_instance %s: virtual address %s is not the address of any virtual_server: lvs.cf holds VIPs only in virtual blocks, so lvsd will not own it", v.inst.name, v.addr)
		}
	}
}

// unsupported warns that s has no equivalent. where names the enclosing
// block ("" at the top level).
func (d *diag) unsupported(s *Stmt, where string) {
	what := "keyword"
	if s.IsBlock() {
		what = "block"
	}
	if where != "" {
		where += ": "
	}
	d.warn(s, "%s%s %s has no equivalent in lvs.cf: not carried over", where, what, s.Key)
}

// need checks that s has between lo and hi arguments (hi < 0: no limit).
func (d *diag) need(s *Stmt, lo, hi int) bool {
	n := len(s.Args)
	if n >= lo && (hi < 0 || n <= hi) {
		return true
	}
	switch {
	case lo == hi:
		d.at(s, "%s: expected %d argument(s), got %d", s.Key, lo, n)
	case hi < 0:
		d.at(s, "%s: expected at least %d argument(s), got %d", s.Key, lo, n)
	default:
		d.at(s, "%s: expected %d to %d arguments, got %d", s.Key, lo, hi, n)
	}
	return false
}

// globals converts global_defs.
func (cv *converter) globals(g *Stmt) {
	for _, s := range g.Block {
		switch s.Key {
		case "lvs_sync_daemon":
			cv.syncDaemon(s)
		case "lvs_timeouts":
			cv.timeouts(s)
		case "lvs_flush":
			// lvsd starts from the table of lvs.cf alone: nothing to flush.
		default:
			cv.d.unsupported(s, "global_defs")
		}
	}
}

// syncDaemon converts `lvs_sync_daemon IFACE [[inst] INSTANCE] [id N] …`.
func (cv *converter) syncDaemon(s *Stmt) {
	if !cv.d.need(s, 1, -1) {
		return
	}
	cv.c.SyncDaemon, cv.c.SyncdIface = true, s.Args[0]
	args := s.Args[1:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "id" && i+1 < len(args):
			n, err := strconv.ParseUint(args[i+1], 10, 8)
			if err != nil {
				cv.d.at(s, "lvs_sync_daemon: id: expected a sync ID 0..255, got %q", args[i+1])
			}
			cv.c.SyncdID = uint8(n)
			i++
		case (a == "maxlen" || a == "port" || a == "ttl" || a == "group") && i+1 < len(args):
			cv.d.warn(s, "lvs_sync_daemon: %s %s has no equivalent in lvs.cf: not carried over", a, args[i+1])
			i++
		case a == "inst" && i+1 < len(args):
			i++ // lvs.cf runs the sync daemon on whichever router is active
		case i == 0:
			// the VRRP instance, as above
		default:
			cv.d.at(s, "lvs_sync_daemon: unexpected %q", a)
		}
	}
}

// timeouts converts `lvs_timeouts [tcp S] [tcpfin S] [udp S]`.
func (cv *converter) timeouts(s *Stmt) {
	if !cv.d.need(s, 2, 6) || len(s.Args)%2 != 0 {
		if len(s.Args)%2 != 0 {
			cv.d.at(s, "lvs_timeouts: expected pairs of tcp|tcpfin|udp SECONDS")
		}
		return
	}
	for i := 0; i < len(s.Args); i += 2 {
		n, err := strconv.ParseUint(s.Args[i+1], 10, 31)
		if err != nil {
			cv.d.at(s, "lvs_timeouts: %s: expected seconds, got %q", s.Args[i], s.Args[i+1])
			continue
		}
		d := time.Duration(n) * time.Second
		switch s.Args[i] {
		case "tcp":
			cv.c.TCPTimeout = d
		case "tcpfin":
			cv.c.TCPFinTimeout = d
		case "udp":
			cv.c.UDPTimeout = d
		default:
			cv.d.at(s, "lvs_timeouts: expected tcp, tcpfin or udp, got %q", s.Args[i])
		}
	}
}

// seconds parses a keepalived <TIMER> (seconds, fractions allowed) into
// whole seconds, as lvs.cf counts them, rounding up (at least lo) and
// warning when that changes the value.
func (d *diag) seconds(s *Stmt, arg string, lo int) (time.Duration, bool) {
	f, err := strconv.ParseFloat(arg, 64)
	if err != nil || f < 0 || f > 1e6 || math.IsNaN(f) {
		d.at(s, "%s: expected seconds, got %q", s.Key, arg)
		return 0, false
	}
	n := max(int(math.Ceil(f)), lo)
	if float64(n) != f {
		d.warn(s, "%s %s: lvs.cf counts whole seconds: %d s", s.Key, arg, n)
	}
	return time.Duration(n) * time.Second, true
}

// uniqueName returns base, or base with a suffix when a virtual already has it.
func (cv *converter) uniqueName(base string) string {
	name := base
	for i := 2; cv.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	cv.names[name] = true
	return name
}

// script returns the command of a notify or misc keyword, warning about a
// user and group lvs.cf cannot express.
func (cv *converter) script(s *Stmt, where string) string {
	if len(s.Args) > 1 {
		cv.d.warn(s, "%s%s: running as user %s has no equivalent in lvs.cf: lvsd runs it as itself", where, s.Key, strings.Join(s.Args[1:], " "))
	}
	return s.Args[0]
}
