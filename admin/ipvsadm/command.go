package ipvsadm

import (
	"errors"
	"fmt"
	"strings"

	"lvs/admin"
	"lvs/ipvs"
)

// Kind is what a Command does. Its values are ipvsadm's command names
// (cmdnames in ipvsadm.c), so messages such as "Illegal 'weight' option with
// the 'list' command" read the same, plus the commands only lvsadm has.
type Kind string

// The commands of ipvsadm, then lvsadm's own.
const (
	KindAddService  Kind = "add-service"    // -A
	KindEditService Kind = "edit-service"   // -E
	KindDelService  Kind = "delete-service" // -D
	KindClear       Kind = "flush"          // -C
	KindList        Kind = "list"           // -L, -l
	KindAddDest     Kind = "add-server"     // -a
	KindDelDest     Kind = "delete-server"  // -d
	KindEditDest    Kind = "edit-server"    // -e
	KindSetTimeouts Kind = "set"            // --set tcp tcpfin udp
	KindStartDaemon Kind = "start-daemon"   // --start-daemon master|backup
	KindStopDaemon  Kind = "stop-daemon"    // --stop-daemon master|backup
	KindRestore     Kind = "restore"        // -R
	KindSave        Kind = "save"           // -S
	KindZero        Kind = "zero"           // -Z

	KindSaveConfig Kind = "save-config" // lvsadm --save-config
	KindHelp       Kind = "help"        // -h, --help
	KindVersion    Kind = "version"     // -v, --version
)

// IsEdit reports whether k changes the virtual server table, and so is one of
// the commands Daemon.Apply takes and -R restores.
func (k Kind) IsEdit() bool {
	switch k {
	case KindAddService, KindEditService, KindDelService, KindClear, KindAddDest, KindEditDest, KindDelDest:
		return true
	}
	return false
}

// DefaultPersistence is the timeout of -p without a value
// (IPVS_SVC_PERSISTENT_TIMEOUT).
const DefaultPersistence = 300

// IsSync reports whether k starts or stops connection sync
// (--start-daemon, --stop-daemon): lvsd turns lvs.cf's syncdaemon on or
// off in the running configuration, and sync follows at once in the mode
// of the router's role.
func (k Kind) IsSync() bool { return k == KindStartDaemon || k == KindStopDaemon }

// Command is one ipvsadm invocation, parsed and checked: what ParseArgs
// returns, what -R reads line by line, and what Daemon.Apply receives for the
// table edits. It is plain data and safe to encode as JSON.
type Command struct {
	Kind Kind `json:"kind"`
	// Service is the virtual service of -t, -u or -f; -6 after -f sets its
	// IPv6 (as the kernel, lvsd keys a firewall-mark service by mark and
	// family). HasService tells whether one was given: -L and -Z take it
	// optionally.
	Service    ipvs.ServiceKey `json:"service"`
	HasService bool            `json:"has_service,omitempty"`
	// Sched holds -s, -p, -M, -o and -b of add-service and edit-service,
	// with ipvsadm's defaults filled in (wlc, mask /32).
	Sched ipvs.SchedSpec `json:"sched"`
	// Dest holds -r, -w, -x, -y and the forwarding method of the server
	// commands. The weight defaults to 1, as ipvsadm.
	Dest ipvs.DestSpec `json:"dest"`
	// MethodSet is true when -g, -i or -m was given. Without one, lvsd uses
	// the `network` of lvs.cf (ipvsadm would use -g): see DestSpec.
	MethodSet bool `json:"method_set,omitempty"`
	// DestPortSet is true when -r carried a port.
	DestPortSet bool `json:"dest_port_set,omitempty"`
	// Timeouts are the values of --set; zero keeps the current value.
	Timeouts admin.Timeouts `json:"timeouts"`
	// Format holds the list modifiers (--stats, --rate, --exact, ...).
	Format ListFormat `json:"format,omitempty"`
	// Numeric (-n), Conns (-c), ShowTimeouts (--timeout) and ShowDaemon
	// (--daemon) select what -L lists.
	Numeric      bool `json:"numeric,omitempty"`
	Conns        bool `json:"conns,omitempty"`
	ShowTimeouts bool `json:"show_timeouts,omitempty"`
	ShowDaemon   bool `json:"show_daemon,omitempty"`
	// SyncState is the argument of --start-daemon or --stop-daemon.
	SyncState string `json:"sync_state,omitempty"`
	// Socket is lvsadm's --socket: the daemon to talk to; "" means
	// DefaultSocket.
	Socket string `json:"-"`
}

// Is6 reports whether the command's service is an IPv6 one: an IPv6
// address, or -f with -6.
func (c *Command) Is6() bool { return c.Service.Is6() }

// DestSpec returns the destination of a server command. network is the
// method for a server given without -g, -i or -m: lvsd uses lvs.cf's
// `network` there, where ipvsadm uses direct routing. As ipvsadm, a direct
// routing or tunnelled destination of an address service takes the
// service's port, whatever -r said.
func (c *Command) DestSpec(network ipvs.Method) ipvs.DestSpec {
	d := c.Dest
	if !c.MethodSet {
		d.Method = network
	}
	if c.Service.FWMark == 0 && (d.Method == ipvs.Route || d.Method == ipvs.Tunnel) &&
		(c.Kind == KindAddDest || c.Kind == KindEditDest) {
		d.Port = c.Service.Port
	}
	return d
}

// String returns the command in ipvsadm's argument form, as -S writes it:
// "-a -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 1".
func (c *Command) String() string {
	var b strings.Builder
	b.WriteString(kindLetter[c.Kind])
	if c.HasService {
		b.WriteString(" " + serviceArg(c.Service))
		if c.Service.IPv6 && c.Service.FWMark != 0 {
			b.WriteString(" -6")
		}
	}
	switch c.Kind {
	case KindAddService, KindEditService:
		c.writeSched(&b)
	case KindAddDest, KindEditDest, KindDelDest:
		fmt.Fprintf(&b, " -r %s", fmtAddrPort(c.Dest.Addr, c.Dest.Port))
		if c.Kind != KindDelDest {
			if c.MethodSet {
				b.WriteString(" " + forwardSwitch(c.Dest.Method.String()))
			}
			fmt.Fprintf(&b, " -w %d", c.Dest.Weight)
			if c.Dest.UThreshold != 0 {
				fmt.Fprintf(&b, " -x %d", c.Dest.UThreshold)
			}
			if c.Dest.LThreshold != 0 {
				fmt.Fprintf(&b, " -y %d", c.Dest.LThreshold)
			}
		}
	}
	return b.String()
}

func (c *Command) writeSched(b *strings.Builder) {
	sp := &c.Sched
	fmt.Fprintf(b, " -s %s", sp.SchedName)
	if sp.Persistence > 0 {
		fmt.Fprintf(b, " -p %d", int64(sp.Persistence.Seconds()))
	}
	switch v6 := c.Is6(); {
	case v6 && sp.PMaskBits > 0 && sp.PMaskBits < 128:
		fmt.Fprintf(b, " -M %d", sp.PMaskBits)
	case !v6 && sp.PMaskBits >= 0 && sp.PMaskBits < 32:
		fmt.Fprintf(b, " -M %s", maskString(sp.PMaskBits))
	}
	if sp.OnePacket {
		b.WriteString(" -o")
	}
	if names := admin.SchedFlagNames(sp.SchedName, sp.SchedOpts.Flags); len(names) > 0 {
		fmt.Fprintf(b, " -b %s", strings.Join(names, ","))
	}
}

var kindLetter = map[Kind]string{
	KindAddService: "-A", KindEditService: "-E", KindDelService: "-D", KindClear: "-C", KindList: "-L",
	KindAddDest: "-a", KindEditDest: "-e", KindDelDest: "-d", KindSetTimeouts: "--set",
	KindStartDaemon: "--start-daemon", KindStopDaemon: "--stop-daemon", KindRestore: "-R", KindSave: "-S",
	KindZero: "-Z", KindSaveConfig: "--save-config", KindHelp: "-h", KindVersion: "-v",
}

func serviceArg(k ipvs.ServiceKey) string {
	switch {
	case k.FWMark != 0:
		return fmt.Sprintf("-f %d", k.FWMark)
	case k.Proto == ipvs.UDP:
		return "-u " + fmtAddrPort(k.Addr, k.Port)
	}
	return "-t " + fmtAddrPort(k.Addr, k.Port)
}

// UsageError is a command line ipvsadm refuses before doing anything: a
// missing or illegal option, a bad value. lvsadm prints Msg and exits 2.
type UsageError struct {
	Msg string // ipvsadm's message, e.g. "illegal weight specified"
}

// Error returns ipvsadm's message.
func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ErrNoScheduler is returned for a scheduler name lvsd does not know. Its
// text is the kernel's answer as ipvsadm prints it; ipvsadm exits 1 for it,
// and so does lvsadm.
var ErrNoScheduler = errors.New("Scheduler or persistence engine not found") //nolint:staticcheck // ipvsadm's exact text

// CommandError tells which command of a batch failed. lvsd's Apply returns
// it, and the API carries Index to the client so lvsadm -R can name the line.
type CommandError struct {
	Index int     // position in the batch, from 0
	Cmd   Command // the command that failed
	Err   error
}

// Error names the command and its failure.
func (e *CommandError) Error() string {
	return CommandPrefix(e.Index, &e.Cmd) + e.Err.Error()
}

// CommandPrefix is how a CommandError names command i of a batch.
func CommandPrefix(i int, c *Command) string {
	return fmt.Sprintf("command %d (%s): ", i+1, c.String())
}

// Unwrap returns the table's error, for errors.Is with the ipvs sentinels.
func (e *CommandError) Unwrap() error { return e.Err }

// ErrNotEdit is returned when a command that is not a table edit (a list, a
// save, ...) reaches Daemon.Apply.
var ErrNotEdit = errors.New("not a table edit")
