// Command lvssim builds whole LVS sites in network namespaces, runs traffic
// and faults through them and reports what happened. See `lvssim --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"lvs/sim"
)

const usage = `lvssim builds an LVS site (the guide's figures) in network namespaces on this
machine, sends real traffic through it, injects faults and reports what happened.
It needs root. Nothing touches the host's own interfaces: every namespace, link and
process is named lvssim-<id>-… and removed on exit, on Ctrl-C, and at the next start
if a run crashed.

usage:
  lvssim run [flags] [TOPOLOGY]   build the site, run its scenario, write the report,
                                  tear down; exit 1 when an assertion fails
  lvssim up [flags] [TOPOLOGY]    build the site and leave it up to explore
  lvssim exec [--site ID] NODE -- CMD [ARGS]
                                  run CMD inside a node of the site that is up
  lvssim down [--site ID]         remove sites left up (and leftovers of crashes)
  lvssim ls                       list sites, runs in progress and leftovers
  lvssim soak [flags]             the failover site for --duration (default 30m) at
                                  moderate load with reloads, health flaps and
                                  failovers; samples both lvsd (RSS, goroutines, fds,
                                  connections) into soak.csv and soak.svg; exit 1 when
                                  a download is corrupt, an lvsd exits, or a request
                                  or download fails with no event to explain it
  lvssim chaos [flags]            the failover site under a seeded random schedule of
                                  faults for --duration (default 10m), checking one ARP
                                  owner per VIP, no split brain after each fault and no
                                  corrupt transfer; a failure prints the seed to replay

Until lvsd forwards packets, the router role is played by the kernel (nftables),
and the report says so; steps needing what only lvsd will do (health checks,
heartbeat failover) are reported as skipped with the issue that brings them.

TOPOLOGY is a YAML file (format: go doc lvs/sim) or a shipped topology
(default: nat):
%s
flags for run and up:
  --router auto|lvsd|kernel  who plays the LVS router. auto: lvsd when it can do
                             everything the site needs, else the kernel via nftables,
                             labelled as a stand-in in the report
  --out DIR                  where report.md, chart.svg and report.json go
                             (default: a new directory under %s)
  --json                     print the JSON report instead of the summary
  --bin DIR                  use prebuilt lvssim/lvsd/lvsadm instead of go build

flags for soak: --duration 30m --reload 10s --flap 30s --failover 5m --sample 5s
                --rate 20 (HTTP requests/s), and --out, --bin as above
flags for chaos: --seed N (default: from the clock, printed) --duration 10m,
                --out, --bin as above

examples:
  sudo lvssim run                       # the default NAT site, summary on stdout
  sudo lvssim run --out /tmp/r direct   # direct routing; open /tmp/r/report.md
  sudo lvssim up && sudo lvssim exec client1 -- curl -s http://192.168.26.10/
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, sim.ErrAssertions):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "lvssim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(os.Stdout, usage, sim.ShippedHelp(), os.TempDir())
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("lvssim "+cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintf(os.Stderr, usage, sim.ShippedHelp(), os.TempDir()) }
	o := sim.Options{Stdout: os.Stdout, Stderr: os.Stderr}
	fs.StringVar(&o.Router, "router", "", "auto, lvsd or kernel")
	fs.StringVar(&o.Out, "out", "", "report directory")
	fs.BoolVar(&o.JSON, "json", false, "print the JSON report")
	fs.StringVar(&o.BinDir, "bin", "", "directory of prebuilt binaries")
	fs.StringVar(&o.Site, "site", "", "site ID (exec, down)")
	switch cmd {
	case "responder":
		return responder(ctx, args)
	case "ipip":
		return ipip(ctx, args)
	case "soak":
		return soak(ctx, &o, fs, args)
	case "chaos":
		return chaos(ctx, &o, fs, args)
	case "run", "up", "exec", "down", "ls":
	default:
		return fmt.Errorf("unknown command %q (try lvssim --help)", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	switch cmd {
	case "run", "up":
		if len(rest) > 1 {
			return fmt.Errorf("%s takes one topology, got %q", cmd, rest)
		}
		if len(rest) == 1 {
			o.Topology = rest[0]
		}
		if cmd == "up" {
			_, err := sim.Up(ctx, o)
			return err
		}
		_, err := sim.Run(ctx, o)
		return err
	case "exec":
		if len(rest) == 0 {
			return errors.New("exec: expected NODE -- CMD [ARGS]")
		}
		argv := rest[1:]
		if len(argv) > 0 && argv[0] == "--" {
			argv = argv[1:]
		}
		return sim.Exec(ctx, o, rest[0], argv)
	case "down":
		return sim.Down(o)
	}
	return sim.List(o)
}

// responder is the hidden subcommand lvssim starts inside real server
// namespaces (see sim.RunResponder).
func responder(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("lvssim responder", flag.ContinueOnError)
	var o sim.ResponderOptions
	fs.StringVar(&o.Name, "name", "", "name in every answer")
	fs.IntVar(&o.HTTP, "http", 0, "HTTP port")
	fs.IntVar(&o.HTTPS, "https", 0, "HTTPS port")
	fs.IntVar(&o.TCP, "tcp", 0, "TCP echo port")
	fs.IntVar(&o.UDP, "udp", 0, "UDP echo port")
	fs.DurationVar(&o.Delay, "delay", 0*time.Second, "delay before each HTTP answer")
	fs.StringVar(&o.Backend, "backend", "", "URL fetched for /shared/ requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return sim.RunResponder(ctx, o)
}

// ipip is the hidden subcommand lvssim starts inside tunnelling real
// servers whose kernel has no IPIP (see sim.RunIPIP).
func ipip(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("lvssim ipip", flag.ContinueOnError)
	dev := fs.String("dev", "tunl0", "TUN device that receives the decapsulated datagrams")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return sim.RunIPIP(ctx, *dev)
}

// soak is `lvssim soak` (sim.Soak).
func soak(ctx context.Context, o *sim.Options, fs *flag.FlagSet, args []string) error {
	var so sim.SoakOptions
	fs.DurationVar(&so.Duration, "duration", 30*time.Minute, "length of the soak")
	fs.DurationVar(&so.Reload, "reload", 10*time.Second, "period of lvs.cf edits and reloads")
	fs.DurationVar(&so.Flap, "flap", 30*time.Second, "period of health flaps")
	fs.DurationVar(&so.Failover, "failover", 5*time.Minute, "period of takeovers and failbacks")
	fs.DurationVar(&so.Sample, "sample", 5*time.Second, "sampling period")
	fs.Float64Var(&so.Rate, "rate", 20, "HTTP requests per second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("soak takes no topology (it runs the failover site), got %q", fs.Args())
	}
	_, err := sim.Soak(ctx, *o, so)
	return err
}

// chaos is `lvssim chaos` (sim.Chaos).
func chaos(ctx context.Context, o *sim.Options, fs *flag.FlagSet, args []string) error {
	var co sim.ChaosOptions
	fs.Uint64Var(&co.Seed, "seed", 0, "seed of the fault schedule (0: from the clock)")
	fs.DurationVar(&co.Duration, "duration", 10*time.Minute, "length of the schedule")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("chaos takes no topology (it runs the failover site), got %q", fs.Args())
	}
	_, err := sim.Chaos(ctx, *o, co)
	return err
}
