// Command lvsd is the LVS router daemon: it reads lvs.cf, owns the virtual
// IPs, forwards to real servers, checks their health and fails over to its
// peer.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"lvs/admin/web"
	"lvs/config"
	"lvs/daemon"
)

const usage = `Usage: lvsd [-t | --config-dump | --set-password] [-f FILE] [--iptables FILE] [--ip6tables FILE]
            [--workers N] [--busy-poll DURATION] [--worker-nice N] [--link afpacket|tap]
            [--dataplane auto|tcx|tc|afpacket] [--kernel-schedule=WHICH] [--flow-map N] [--flow-map-start N]
            [--admin ADDR] [--admin-allow LIST] [--admin-cert FILE --admin-key FILE]
            [--password-file FILE] [--metrics-auth]

lvsd is the daemon of an LVS router, in user space: it reads the Piranha
configuration file lvs.cf, owns the virtual IPs, forwards connections to the
real servers (NAT or direct routing), checks them and fails over to its peer.

Modes:
  -t, --config-test   check the configuration and the firewall-mark rules,
                      print every error and warning (warnings start with
                      "warning: ") and a verdict, then exit: 0 when the
                      configuration is usable, 1 when it is not
  --config-dump       print the configuration in the normalised lvs.cf layout
                      (the one the Piranha GUI writes), then exit
  --set-password      read a new password for the web tool's user piranha
                      from standard input (one line, at least 8 characters),
                      write its bcrypt hash to the password file (mode 0600)
                      and exit; the same as lvsadm passwd
  (none)              run the daemon in the foreground: take the VIPs and the
                      nat_router address of lvs.cf, forward to the real
                      servers, log to stderr; SIGHUP re-reads lvs.cf and
                      applies the difference (a bad file is refused and the
                      running configuration stays); SIGTERM or Ctrl-C stops
                      and releases everything lvsd added to the kernel

Files:
  -f, --config FILE   the lvs.cf to read (default %s)
  --iptables FILE     an iptables-save file with the guide's MARK and
                      MASQUERADE rules (default %s;
                      a missing default file is fine, a broken one is an
                      error). The same rules can be written in lvs.cf as
                      fwmark_rule and masquerade blocks: see lvs.cf(5).
  --ip6tables FILE    an ip6tables-save file with the same rules for IPv6
                      (default none)
  --workers N         dataplane workers per interface (default: one per CPU)
  --busy-poll D       how long a worker keeps polling its empty packet ring
                      before it sleeps (like 50us): lower latency and more
                      connections/s for up to D of CPU after each burst
                      (default 0: never spin)
  --worker-nice N     the nice value of each worker's thread (default -5):
                      favours the workers over the kernel's ksoftirqd on a
                      core they share, so the frames left to them (a
                      connection's RST, a flow the kernel may not schedule)
                      are not lost in a full ring under load; 0 leaves it
  --dataplane MODE    how frames are forwarded (default auto):
                        auto      tcx where the kernel has it, else the tc
                                  hook, else afpacket
                        tcx       an eBPF program lvsd loads at the ingress
                                  of its interfaces (tcx, Linux 6.6 and
                                  later) forwards established TCP and UDP
                                  flows in the kernel's receive path: no
                                  copy to lvsd, no livelock under a flood;
                                  it also schedules new flows of the
                                  services --kernel-schedule names and
                                  forwards and reports FIN and RST; the Go
                                  workers take everything else (new flows
                                  of other services, fragments, ICMP, ARP,
                                  the FTP helper); on a kernel without tcx
                                  the same program goes on the tc hook;
                                  fails when the kernel refuses both
                        tc        the same program on the legacy tc hook
                                  (a cls_bpf filter on a clsact qdisc, for
                                  kernels before 6.6); the filter outlives a
                                  killed lvsd until the next lvsd replaces
                                  it or it is deleted (tc filter del dev IF
                                  ingress prio 27766)
                        afpacket  every frame through the Go workers
                      lvsd logs the mode it runs ("lvsd running dataplane=...":
                      tcx+afpacket, tc+afpacket or afpacket), /metrics has it
                      as lvs_dataplane_mode
  --kernel-schedule=WHICH
                      with tcx, which new flows of rr, wrr, mh and sh
                      services (NAT, DR; not persistent, no thresholds, no
                      FTP helper) the eBPF program schedules itself, in the
                      scheduler's own cycle or lookup table, for lvsd to
                      adopt: under a flood new flows are forwarded without
                      waiting for the Go workers
                        all   UDP flows from their first datagram and TCP
                              connections from their SYN (default): a
                              connection crosses the Go path at its close
                        udp   UDP flows only
                        off   none: the Go workers schedule every new flow
                      --kernel-schedule alone means all
  --flow-map N        with tcx, how many IPv4 connections the kernel's flow
                      map may grow to (default: a sixteenth of the
                      connection table's default size, between 131072 and
                      2097152; about 256 bytes of kernel memory each); the
                      IPv6 map an eighth as many (at least 32768),
                      allocated at start. The program uses small maps
                      (--flow-map-start) until the connection table could
                      fill an eighth of one, then these, without losing a
                      flow: a bigger map costs every packet a little (TLB
                      and cache misses of its lookup); the growth is logged.
                      A connection beyond the ceiling is still forwarded,
                      by the Go workers: a small map costs speed, not flows
  --flow-map-start N  the IPv4 flow map's size when lvsd starts, in
                      connections (default 131072, about the kernel's own
                      conntrack table; --flow-map if smaller). A site that
                      holds a million connections soon after start may
                      start there and skip the growing
  --link BACKEND      the Go workers' packet links: afpacket (default; a
                      packet ring per worker) or tap (lvs.cf's interfaces
                      are TAP devices lvsd opens, one worker each)
  --socket PATH       the control socket lvsadm uses (default /run/lvsd/lvsd.sock;
                      "off" for none)
  --admin ADDR        where the web administration tool (the Piranha
                      Configuration Tool's successor), /metrics, the event
                      stream (/v1/events), the /proc/net/ip_vs texts and the
                      JSON API are served over HTTP (default :3636, every
                      address, but see --admin-allow; "off" for none). The
                      JSON API and the event stream (/v1/...) want a login:
                      a bearer token from "lvsadm passwd --token" or the web
                      tool's session
  --admin-allow LIST  the clients the admin listener answers, checked before
                      anything else, the login page included: addresses and
                      networks separated by commas, e.g.
                      "127.0.0.1,::1,192.168.1.100,172.16.57.0/24" (the
                      .htaccess form "172.16.57" also works; "all" allows
                      everyone). Default: loopback only. API requests that
                      change something are taken from loopback only.
  --admin-cert FILE   serve the admin listener over TLS with this PEM
  --admin-key FILE    certificate and key (both or neither)
  --password-file FILE
                      the web tool's password file (default piranha.passwd
                      in the directory of the lvs.cf, i.e.
                      /etc/sysconfig/ha/piranha.passwd)
  --metrics-auth      /metrics wants the same login as the JSON API
                      (default: open to the --admin-allow clients, as a
                      Prometheus server expects)
  -h, --help          show this help

Examples:
  lvsd -t                                  check /etc/sysconfig/ha/lvs.cf
  lvsd -t -f examples/ftp.cf --iptables examples/ftp.iptables
  lvsd --config-dump -f lvs.cf > lvs.cf.new
  lvsd -f /etc/sysconfig/ha/lvs.cf         run the router (as root)
`

func main() {
	opts, setPassword, code := parseFlags(os.Args[1:], os.Stdout, os.Stderr)
	if code >= 0 {
		os.Exit(code)
	}
	switch {
	case opts.ConfigTest:
		os.Exit(daemon.ConfigTest(opts, os.Stdout, os.Stderr))
	case opts.ConfigDump:
		os.Exit(daemon.ConfigDump(opts, os.Stdout, os.Stderr))
	case setPassword:
		os.Exit(daemon.SetPassword(opts, os.Stdin, os.Stderr))
	default:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := daemon.Run(ctx, opts)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "lvsd:", err)
			os.Exit(1)
		}
	}
}

// parseFlags turns the command line into daemon.Options; setPassword is
// --set-password. code is -1 to go on, or the exit status: 0 after --help
// (printed to stdout), 2 after a usage error (explained on stderr).
func parseFlags(args []string, stdout, stderr io.Writer) (o daemon.Options, setPassword bool, code int) {
	fs := flag.NewFlagSet("lvsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "Run lvsd --help for the options.\n") }
	var help bool
	fs.BoolVar(&help, "h", false, "")
	fs.BoolVar(&help, "help", false, "")
	fs.BoolVar(&o.ConfigTest, "t", false, "")
	fs.BoolVar(&o.ConfigTest, "config-test", false, "")
	fs.BoolVar(&o.ConfigDump, "config-dump", false, "")
	fs.StringVar(&o.ConfigFile, "f", "", "")
	fs.StringVar(&o.ConfigFile, "config", "", "")
	fs.StringVar(&o.IptablesFile, "iptables", "", "")
	fs.StringVar(&o.Ip6tablesFile, "ip6tables", "", "")
	fs.IntVar(&o.Workers, "workers", 0, "")
	fs.DurationVar(&o.BusyPoll, "busy-poll", 0, "")
	fs.IntVar(&o.WorkerNice, "worker-nice", -5, "")
	fs.IntVar(&o.FlowMap, "flow-map", 0, "")
	fs.IntVar(&o.FlowMapStart, "flow-map-start", 0, "")
	fs.StringVar(&o.Dataplane, "dataplane", "", "")
	fs.Var(kernelSchedule{&o.KernelSchedule}, "kernel-schedule", "")
	fs.StringVar(&o.Link, "link", "", "")
	fs.StringVar(&o.Socket, "socket", "", "")
	fs.StringVar(&o.Admin, "admin", "", "")
	fs.StringVar(&o.AdminAllow, "admin-allow", "", "")
	fs.StringVar(&o.AdminCert, "admin-cert", "", "")
	fs.StringVar(&o.AdminKey, "admin-key", "", "")
	fs.StringVar(&o.PasswordFile, "password-file", "", "")
	fs.BoolVar(&o.MetricsAuth, "metrics-auth", false, "")
	fs.BoolVar(&setPassword, "set-password", false, "")
	switch err := fs.Parse(args); {
	case err != nil:
		return o, setPassword, 2
	case help:
		fmt.Fprintf(stdout, usage, config.DefaultFile, config.DefaultIptablesFile)
		return o, setPassword, 0
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "lvsd: unexpected argument %q (see lvsd --help)\n", fs.Arg(0))
		return o, setPassword, 2
	case (o.AdminCert == "") != (o.AdminKey == ""):
		fmt.Fprintln(stderr, "lvsd: --admin-cert and --admin-key go together")
		return o, setPassword, 2
	case o.AdminAllow != "" && !validAllow(o.AdminAllow, stderr):
		return o, setPassword, 2
	case o.Dataplane != "" && o.Dataplane != daemon.DataplaneAuto && o.Dataplane != daemon.DataplaneTCX &&
		o.Dataplane != daemon.DataplaneTC && o.Dataplane != daemon.DataplaneAFPacket:
		fmt.Fprintf(stderr, "lvsd: --dataplane %q: want auto, tcx, tc or afpacket\n", o.Dataplane)
		return o, setPassword, 2
	case o.KernelSchedule != "" && o.KernelSchedule != daemon.KernelScheduleUDP &&
		o.KernelSchedule != daemon.KernelScheduleAll && o.KernelSchedule != daemon.KernelScheduleOff:
		fmt.Fprintf(stderr, "lvsd: --kernel-schedule %q: want udp, all or off\n", o.KernelSchedule)
		return o, setPassword, 2
	case o.FlowMap < 0 || o.FlowMap > 1<<26:
		fmt.Fprintf(stderr, "lvsd: --flow-map %d: want 1 to %d connections, or 0 for the default\n", o.FlowMap, 1<<26)
		return o, setPassword, 2
	case o.FlowMapStart < 0 || o.FlowMapStart > 1<<26:
		fmt.Fprintf(stderr, "lvsd: --flow-map-start %d: want 1 to %d connections, or 0 for the default\n", o.FlowMapStart, 1<<26)
		return o, setPassword, 2
	case o.WorkerNice < -20 || o.WorkerNice > 19:
		fmt.Fprintf(stderr, "lvsd: --worker-nice %d: want -20 to 19\n", o.WorkerNice)
		return o, setPassword, 2
	case o.ConfigTest && o.ConfigDump:
		fmt.Fprintln(stderr, "lvsd: -t and --config-dump exclude each other")
		return o, setPassword, 2
	}
	return o, setPassword, -1
}

// kernelSchedule is --kernel-schedule: a value (udp, all, off), or alone,
// as before it took one, all.
type kernelSchedule struct{ v *string }

func (k kernelSchedule) String() string {
	if k.v == nil {
		return ""
	}
	return *k.v
}

func (k kernelSchedule) Set(s string) error {
	switch s {
	case "true":
		s = daemon.KernelScheduleAll
	case "false":
		s = daemon.KernelScheduleOff
	}
	*k.v = s
	return nil
}

func (k kernelSchedule) IsBoolFlag() bool { return true }

// validAllow checks --admin-allow, explaining a bad entry on stderr.
func validAllow(list string, stderr io.Writer) bool {
	if _, err := web.ParseAllowList(list); err != nil {
		fmt.Fprintln(stderr, "lvsd: --admin-allow:", err)
		return false
	}
	return true
}
