//go:build linux

package bench

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"lvs/admin/client"
	"lvs/config"
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
	// dr reports whether the contender works on the direct-routing path
	// (client eth1 on the private segment, replies bypass the director).
	dr() bool
}

// lbTable is the nftables table of the kernel load-balancing contender.
const lbTable = "lvsbench_lb"

// kernelContender is the kernel doing the job: plain forwarding to one
// real server (mode kfwd), nftables DNAT load balancing (klb, klb-jhash),
// or plain forwarding on the direct-routing segment (kfwd-dr: the
// reference for lvsd's direct routing, since this kernel has no IPVS: the
// director routes the VIP over every real server, a multipath route whose
// hash takes the ports (fib_multipath_hash_policy 1), so that flows spread
// over the real servers as lvsd's do; each real server holds the VIP on lo
// and answers the client directly). Like an IPVS director, the kernel owns the
// VIP and nat_router addresses on the NAT side.
type kernelContender struct {
	c     *Contender
	mode  string // KernelForward, KernelLB, KernelLBJhash, KernelDR, KernelLB6
	rules string // the DNAT ruleset (load balancing)
	// natRouter is the real servers' gateway it owns (natRouter when
	// invalid; the scaling run's servers use scaleRouter).
	natRouter netip.Addr
	udp       uint16 // the UDP service's port; 0: udpPort
}

func (k *kernelContender) router() netip.Addr {
	if k.natRouter.IsValid() {
		return k.natRouter
	}
	return natRouter
}

func (k *kernelContender) info() *Contender { return k.c }
func (k *kernelContender) process() *proc   { return nil }
func (k *kernelContender) dr() bool         { return k.mode == KernelDR }
func (k *kernelContender) lb() bool         { return k.rules != "" }

func (k *kernelContender) targets() (netip.AddrPort, netip.AddrPort) {
	dst := realAddr(1) // plain L3 forwarding to one real server
	switch {
	case k.mode == KernelLB6:
		return netip.AddrPortFrom(vip6, udpPort), netip.AddrPortFrom(vip6, tcpPort)
	case k.lb():
		dst = vip
	case k.dr():
		return netip.AddrPortFrom(vipDR, udpPortDR), netip.AddrPortFrom(vipDR, tcpPort)
	}
	return netip.AddrPortFrom(dst, cmp.Or(k.udp, udpPort)), netip.AddrPortFrom(dst, tcpPort)
}

var vipDRHost = netip.PrefixFrom(vipDR, 32)

// drRoute is the ip(8) command that adds or deletes ("add", "del") kfwd-dr's
// multipath route of the DR VIP over n real servers.
func drRoute(op string, n int) []string {
	argv := []string{"ip", "route", op, vipDRHost.String()}
	for _, a := range realAddrs(n) {
		argv = append(argv, "nexthop", "via", a.String())
	}
	return argv
}

func (k *kernelContender) setup(ctx context.Context, tb *testbed) error {
	if k.mode == KernelLB6 {
		return k.setup6(ctx, tb) // ipv6_linux.go
	}
	d := tb.dirNode
	if k.dr() {
		if err := d.sysctl("net.ipv4.fib_multipath_hash_policy", "1"); err != nil {
			return err
		}
		if err := d.run(ctx, "", drRoute("add", len(tb.rs))...); err != nil {
			return fmt.Errorf("routing the DR VIP over the real servers: %w", err)
		}
		if err := tb.cli.route(vipDRHost, directorDR); err != nil {
			return err
		}
		return d.sysctl("net.ipv4.ip_forward", "1")
	}
	if err := d.addAddr("eth0", vip, 32); err != nil {
		return err
	}
	if err := d.addAddr("eth1", k.router(), 32); err != nil {
		return err
	}
	if k.lb() {
		if err := d.run(ctx, k.rules, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("loading the DNAT ruleset: %w", err)
		}
	}
	return d.sysctl("net.ipv4.ip_forward", "1")
}

func (k *kernelContender) teardown(ctx context.Context, tb *testbed) error {
	if k.mode == KernelLB6 {
		return k.teardown6(ctx, tb)
	}
	d := tb.dirNode
	errs := []error{d.sysctl("net.ipv4.ip_forward", "0")}
	if k.dr() {
		errs = append(errs, d.run(ctx, "", drRoute("del", len(tb.rs))...), tb.cli.unroute(vipDRHost, directorDR))
		return errors.Join(errs...)
	}
	if k.lb() {
		errs = append(errs, d.run(ctx, "", "nft", "delete", "table", "ip", lbTable))
		// Forget the flows: the next contender (say klb-jhash after klb)
		// must choose afresh, not find every flow already translated.
		if err := d.h.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
			errs = append(errs, fmt.Errorf("flushing conntrack in %s: %w", d.name, err))
		}
	}
	errs = append(errs, d.delAddr("eth0", vip, 32), d.delAddr("eth1", k.router(), 32))
	return errors.Join(errs...)
}

// lvsdContender runs the real lvsd binary in the director namespace:
// `lvsd -f lvs.cf --workers N [flags]`, ip_forward off, pinned to cpus.
type lvsdContender struct {
	c       *Contender
	bin     string // "" when it did not build
	cf      string // path of lvs.cf
	workers int
	flags   []string // more of lvsd's flags (--dataplane afpacket)
	cpus    string
	direct  bool       // network = direct, the VIP on the DR segment
	vip     netip.Addr // the NAT VIP; invalid: vip (vip6 for lvsd6)
	udp     uint16     // the UDP service's port; 0: udpPort (udpPortDR for DR)
	logName string     // its log and socket files' name; "": the contender's
	p       *proc
	mode    string    // the dataplane mode lvsd reported after it started
	notes   *[]string // what lvsd left behind, for the report
}

func (l *lvsdContender) info() *Contender { return l.c }
func (l *lvsdContender) process() *proc   { return l.p }
func (l *lvsdContender) dr() bool         { return l.direct }

func (l *lvsdContender) targets() (netip.AddrPort, netip.AddrPort) {
	if l.direct {
		return netip.AddrPortFrom(vipDR, cmp.Or(l.udp, udpPortDR)), netip.AddrPortFrom(vipDR, tcpPort)
	}
	v := cmp.Or(l.vip, vip)
	return netip.AddrPortFrom(v, cmp.Or(l.udp, udpPort)), netip.AddrPortFrom(v, tcpPort)
}

// files is the name of l's log and control socket.
func (l *lvsdContender) files() string { return cmp.Or(l.logName, l.c.Name) }

// lvsdReady bounds how long lvsd may take to forward its first request.
const lvsdReady = 15 * time.Second

// lvsdSettle bounds the wait for every real server's first health check.
const lvsdSettle = 30 * time.Second

// settle waits until every real server of lvs.cf is in lvsd's table: with
// a thousand servers, their first health checks (and the kernel's ARP for
// each) keep the director's core busy for seconds after lvsd first
// forwards, which a measurement window must not include.
func (l *lvsdContender) settle(ctx context.Context, sock string) error {
	f, err := os.Open(l.cf)
	if err != nil {
		return err
	}
	cfg, err := config.Parse(l.cf, f)
	f.Close()
	if err != nil {
		return err
	}
	want := 0
	for _, v := range cfg.Virtuals {
		for _, sv := range v.Servers {
			if v.Active && sv.Active {
				want++
			}
		}
	}
	cl := client.NewClient(sock)
	defer cl.Close()
	got := 0
	for end := time.Now().Add(lvsdSettle); time.Now().Before(end); {
		st, err := cl.Status(ctx)
		if err == nil {
			got = 0
			for _, svc := range st.Services {
				got += len(svc.Dests)
			}
			if got >= want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	*l.notes = append(*l.notes, fmt.Sprintf("%s: %d of %d real servers in the table after %v; measured anyway", l.c.Name, got, want, lvsdSettle))
	return nil
}

func (l *lvsdContender) setup(ctx context.Context, tb *testbed) error {
	if l.bin == "" {
		return fmt.Errorf("%w: %s", errUnavailable, l.c.Reason)
	}
	if err := tb.dirNode.sysctl("net.ipv4.ip_forward", "0"); err != nil {
		return err
	}
	log := filepath.Join(tb.dir, l.files()+".log")
	// The control socket is a file, shared by every namespace: give this
	// lvsd its own, so it never meets another lvsd's (tests run them too).
	sock := filepath.Join(StateDir, tb.st.ID+"-"+l.files()+".sock")
	argv := append([]string{l.bin, "-f", l.cf, "--workers", strconv.Itoa(l.workers), "--socket", sock}, l.flags...)
	p, err := startIn(tb.st, tb.dirNode.name, l.cpus, 0, log, "lvsd", argv...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	l.p, l.mode = p, ""
	udp, _ := l.targets()
	before := tb.delivered()
	err = waitFor(ctx, lvsdReady, p, func() error { return echoOnce(tb, udp) })
	switch {
	case err == nil:
		if got := p.cpusAllowed(); got != "" && got != l.cpus && !strings.Contains(l.c.Pinning, "really") {
			l.c.Pinning += fmt.Sprintf("; lvsd's threads really run on CPUs %s (it sets its own affinity)", got)
		}
		if err := l.settle(ctx, sock); err != nil {
			return err
		}
		l.mode = l.currentMode(tb)
		return nil
	case p.exited():
		return fmt.Errorf("%w: lvsd exited (%v): %s", errUnavailable, p.Err(), p.output())
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
	l.keepMetrics(tb)
	l.p.stop(5 * time.Second)
	l.p = nil
	os.Remove(filepath.Join(StateDir, tb.st.ID+"-"+l.files()+".sock"))
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
	return errors.Join(tb.dirNode.delAddr("eth0", vip, 32), tb.dirNode.delAddr("eth1", natRouter, 32), tb.dirNode.delAddr("eth1", vipDR, 32))
}

// keepMetrics writes lvsd's /metrics as it is before teardown, and a copy
// of its log, into $LVSBENCH_KEEP when that is set: what an investigation
// of one figure (a collapse, a failed connection) reads afterwards.
func (l *lvsdContender) keepMetrics(tb *testbed) {
	dir := os.Getenv("LVSBENCH_KEEP")
	if dir == "" {
		return
	}
	name := fmt.Sprintf("%s-%s", time.Now().Format("150405.000"), l.files())
	if m, err := lvsdMetrics(tb); err == nil {
		os.WriteFile(filepath.Join(dir, name+".metrics"), []byte(m), 0o644)
	}
	if b, err := os.ReadFile(filepath.Join(tb.dir, l.files()+".log")); err == nil {
		os.WriteFile(filepath.Join(dir, name+".log"), b, 0o644)
	}
}

// currentMode reads the dataplane mode lvsd reports in its /metrics now:
// "" when it reports none (an lvsd from before --dataplane), or the
// error when /metrics cannot be read.
func (l *lvsdContender) currentMode(tb *testbed) string {
	text, err := lvsdMetrics(tb)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return dataplaneMode(text)
}

// modeAfter is the mode to report for a stretch of work lvsd started in
// l.mode: lvsd asked again, both named when they differ.
func (l *lvsdContender) modeAfter(tb *testbed) string {
	now := l.currentMode(tb)
	if now == l.mode || now == "" {
		return l.mode
	}
	if l.mode == "" {
		return now
	}
	return l.mode + " → " + now
}

// lvsdMetrics returns lvsd's /metrics, read on the director's loopback
// (daemon.DefaultAdmin).
func lvsdMetrics(tb *testbed) (string, error) {
	var conn net.Conn
	err := inNS(tb.dirNode.ns, -1, func() (err error) {
		conn, err = net.DialTimeout("tcp", "127.0.0.1:3636", 2*time.Second) // the socket stays in the namespace
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reaching lvsd's /metrics: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return "", fmt.Errorf("asking lvsd for /metrics: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", fmt.Errorf("reading lvsd's /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", fmt.Errorf("reading lvsd's /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("lvsd's /metrics: %s", resp.Status)
	}
	return string(b), nil
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
