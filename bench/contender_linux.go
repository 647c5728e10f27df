//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// errUnavailable marks a contender that cannot run at all (lvsd not built,
// exits at start, forwards nothing): it is reported "not available", never
// with numbers.
var errUnavailable = errors.New("not available")

// contender does the director's job on the testbed, one way.
type contender interface {
	// info is the report entry the runner fills with repetitions.
	info() *Contender
	// setup makes the director do the job; teardown undoes it.
	setup(ctx context.Context, tb *testbed) error
	teardown(ctx context.Context, tb *testbed) error
	// targets are the UDP and TCP destinations clients use.
	targets() (udp, tcp netip.AddrPort)
	// process is the contender's own process, nil for the kernel.
	process() *proc
}

// lbTable is the nftables table of the kernel load-balancing contender.
const lbTable = "lvsbench_lb"

// kernelContender is the kernel doing the job: plain forwarding to one
// real server (lb false) or nftables DNAT load balancing (lb true). Like
// an IPVS director, the kernel owns the VIP and nat_router addresses.
type kernelContender struct {
	c     *Contender
	lb    bool
	rules string // the DNAT ruleset (lb)
}

func (k *kernelContender) info() *Contender { return k.c }
func (k *kernelContender) process() *proc   { return nil }

func (k *kernelContender) targets() (netip.AddrPort, netip.AddrPort) {
	dst := realAddr(1) // plain L3 forwarding to one real server
	if k.lb {
		dst = vip
	}
	return netip.AddrPortFrom(dst, udpPort), netip.AddrPortFrom(dst, tcpPort)
}

func (k *kernelContender) setup(ctx context.Context, tb *testbed) error {
	d := tb.dirNode
	if err := d.addAddr("eth0", vip, 32); err != nil {
		return err
	}
	if err := d.addAddr("eth1", natRouter, 32); err != nil {
		return err
	}
	if k.lb {
		if err := d.run(ctx, k.rules, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("loading the DNAT ruleset: %w", err)
		}
	}
	return d.sysctl("net.ipv4.ip_forward", "1")
}

func (k *kernelContender) teardown(ctx context.Context, tb *testbed) error {
	d := tb.dirNode
	errs := []error{d.sysctl("net.ipv4.ip_forward", "0")}
	if k.lb {
		errs = append(errs, d.run(ctx, "", "nft", "delete", "table", "ip", lbTable))
	}
	errs = append(errs, d.delAddr("eth0", vip, 32), d.delAddr("eth1", natRouter, 32))
	return errors.Join(errs...)
}

// lvsdContender runs the real lvsd binary in the director namespace:
// `lvsd -f lvs.cf --workers N`, ip_forward off, pinned to cpus.
type lvsdContender struct {
	c       *Contender
	bin     string // "" when it did not build
	cf      string // path of lvs.cf
	workers int
	cpus    string
	p       *proc
	notes   *[]string // what lvsd left behind, for the report
}

func (l *lvsdContender) info() *Contender { return l.c }
func (l *lvsdContender) process() *proc   { return l.p }

func (l *lvsdContender) targets() (netip.AddrPort, netip.AddrPort) {
	return netip.AddrPortFrom(vip, udpPort), netip.AddrPortFrom(vip, tcpPort)
}

// lvsdReady bounds how long lvsd may take to forward its first request.
const lvsdReady = 15 * time.Second

func (l *lvsdContender) setup(ctx context.Context, tb *testbed) error {
	if l.bin == "" {
		return fmt.Errorf("%w: %s", errUnavailable, l.c.Reason)
	}
	if err := tb.dirNode.sysctl("net.ipv4.ip_forward", "0"); err != nil {
		return err
	}
	log := filepath.Join(tb.dir, l.c.Name+".log")
	// The control socket is a file, shared by every namespace: give this
	// lvsd its own, so it never meets another lvsd's (tests run them too).
	sock := filepath.Join(StateDir, tb.st.ID+"-"+l.c.Name+".sock")
	p, err := startIn(tb.st, tb.dirNode.name, l.cpus, 0, log, "lvsd",
		l.bin, "-f", l.cf, "--workers", strconv.Itoa(l.workers), "--socket", sock)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	l.p = p
	udp, _ := l.targets()
	before := tb.delivered()
	err = waitFor(ctx, lvsdReady, p, func() error { return echoOnce(tb, udp) })
	switch {
	case err == nil:
		if got := p.cpusAllowed(); got != "" && got != l.cpus && !strings.Contains(l.c.Pinning, "really") {
			l.c.Pinning += fmt.Sprintf("; lvsd's threads really run on CPUs %s (it sets its own affinity)", got)
		}
		return nil
	case p.exited():
		return fmt.Errorf("%w: lvsd exited (%v): %s", errUnavailable, p.err, p.output())
	case ctx.Err() != nil:
		return ctx.Err()
	}
	out := p.output()
	if out == "" {
		out = "(it printed nothing)"
	}
	seen := "none of them reached a real server"
	if n := tb.delivered() - before; n > 0 {
		seen = fmt.Sprintf("the real servers received %d frames but no answer came back to the client", n)
	}
	return fmt.Errorf("%w: lvsd ran but did not answer UDP requests to %v for %v (%s); lvsd printed: %s",
		errUnavailable, udp, lvsdReady, seen, out)
}

// teardown stops lvsd with SIGTERM (as an administrator would) and checks
// that it released what it added to the kernel; leftovers are noted and
// removed, so the next contender starts from the same director.
func (l *lvsdContender) teardown(ctx context.Context, tb *testbed) error {
	if l.p == nil {
		return nil
	}
	l.p.stop(5 * time.Second)
	l.p = nil
	os.Remove(filepath.Join(StateDir, tb.st.ID+"-"+l.c.Name+".sock"))
	out, err := tb.dirNode.output(ctx, "nft", "list", "tables")
	if err != nil {
		return err
	}
	if t := strings.TrimSpace(out); t != "" {
		*l.notes = append(*l.notes, fmt.Sprintf("%s: after SIGTERM the director still had nftables tables %q; the harness removed them", l.c.Name, t))
		if err := tb.dirNode.run(ctx, "", "nft", "flush", "ruleset"); err != nil {
			return err
		}
	}
	return errors.Join(tb.dirNode.delAddr("eth0", vip, 32), tb.dirNode.delAddr("eth1", natRouter, 32))
}

// echoOnce sends one UDP request to dst from the client and waits for its
// answer (100 ms).
func echoOnce(tb *testbed, dst netip.AddrPort) error {
	return inNS(tb.cli.ns, -1, func() error {
		res, err := probeLatency(dst, 1, window{From: time.Now(), To: time.Now().Add(10 * time.Millisecond)})
		if err != nil {
			return err
		}
		if len(res.samples) == 0 {
			return fmt.Errorf("no answer from %v", dst)
		}
		return nil
	})
}
