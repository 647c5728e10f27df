//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"

	"lvs/admin/client"
	"lvs/config"
)

// The ECMP contender (lvsd-ecmp, issue 19): two lvsd directors in the ECMP
// mode (redundancy = ecmp, mh, the connection sync mesh) on the
// direct-routing segment, the second in a namespace of its own (dir2) on
// the same bridge. The flows are spread over them as an ECMP router
// would: the client's kernel routes the VIP over both directors (one
// multipath route hashed on ports, fib_multipath_hash_policy = 1) and the
// raw-frame generator sends each flow to one director's MAC by a hash of
// its source address and port. Both directors' receive work (RPS) and both
// lvsd run on the director's core, as lvsd-dr's one director does, so the
// director-core CPU per packet of the two is the fair comparison: equal
// means the ECMP mode adds no per-packet work (the sync mesh's messages
// are per connection).

// director2DR and director2Priv are the second director's addresses on
// the DR segment and on the real servers' subnet.
var (
	director2DR   = netip.MustParseAddr("10.250.3.3")
	director2Priv = netip.MustParseAddr("10.250.2.3")
)

// ecmpPort is the second director's port on the switch's bridge.
const ecmpPort = "pe2"

// ecmpContender is lvsd-ecmp.
type ecmpContender struct {
	first *lvsdContender // lvsd on dir, with the ECMP lvs.cf
	dir2  *nsNode        // the second director, made at the first setup
	mac1  net.HardwareAddr
	mac2  net.HardwareAddr
	p2    *proc
}

// newECMPContender is lvsd-ecmp with its lvs.cf written beside cfDR.
func (r *runner) newECMPContender(info *Contender, cfDR, lvsd string) (contender, error) {
	c := siteConfig(siteSpec{primary: directorDR, vip: vipDR, vipDevice: "eth1:1", direct: true,
		reals: realAddrs(r.o.Servers), udpPort: udpPortDR, tcpPort: tcpPort, sched: config.SchedMH})
	for _, v := range c.Virtuals {
		v.SchedFlags = config.SchedFlagPort // mh-port: the flood's flows share source addresses
	}
	c.Redundancy = config.RedundancyECMP
	c.Directors = []netip.Addr{directorDR, director2DR}
	c.SyncDaemon = true
	c.HeartbeatKey = "lvsbench-ecmp-sync-key-0123456789"
	cf := filepath.Join(filepath.Dir(cfDR), "lvs-ecmp.cf")
	if err := writeSite(cf, c); err != nil {
		return nil, err
	}
	cpus := strconv.Itoa(r.o.DirCPU)
	info.Kind, info.Base = "lvsd", KernelDR
	info.Label = "lvsd ECMP mode, 2 directors (direct routing, mh, sync mesh), 1 worker each"
	info.Pinning = fmt.Sprintf("both lvsd taskset -c %s; RPS of both directors' eth1 to CPU%s; flows spread by the client's multipath route and the generator's hash", cpus, cpus)
	if lvsd == "" {
		info.Available, info.Reason = false, "lvsd did not build"
	}
	return &ecmpContender{first: &lvsdContender{c: info, bin: lvsd, cf: cf, workers: 1, cpus: cpus, direct: true,
		logName: "lvsd-ecmp-dir", notes: &r.notes}}, nil
}

func (e *ecmpContender) info() *Contender                          { return e.first.c }
func (e *ecmpContender) targets() (netip.AddrPort, netip.AddrPort) { return e.first.targets() }
func (e *ecmpContender) dr() bool                                  { return true }

// process is nil: lvsd runs twice, and one process's time over both
// directors' packets would halve the figure. Both run on the director's
// core, which the director-core figure counts.
func (e *ecmpContender) process() *proc { return nil }

// spread sends each prebuilt flow's frames to one of the two directors, by
// a hash of its source address and port (the generator's flows differ in
// nothing else). A flood of more flows than it prebuilds rewrites its
// frames in turn, so a slot carries several flows: it is left on the
// first director and the report says so.
func (e *ecmpContender) spread(f *flood) {
	if f.rewrite {
		*e.first.notes = append(*e.first.notes, fmt.Sprintf("lvsd-ecmp: %d flows are more than the generator prebuilds: that flood went to the first director only", f.flows))
		return
	}
	for i, b := range f.frames {
		src := flowSource(f.src, i%f.flows)
		h := fnv.New32a()
		a := src.Addr().As4()
		h.Write(a[:])
		h.Write([]byte{byte(src.Port() >> 8), byte(src.Port())})
		if h.Sum32()%2 == 1 {
			copy(b[0:6], e.mac2)
		}
	}
}

// makeDirector2 adds the second director to the testbed: a namespace on
// the bridge, its addresses, RPS to the director's core and a static
// bridge entry, as buildTestbed does for the first.
func (e *ecmpContender) makeDirector2(ctx context.Context, tb *testbed) error {
	d, err := tb.openNS("dir2")
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error { return tb.sw.ns.Veth(ecmpPort, d.ns, "eth1") },
		func() error { return tb.sw.ns.Attach("br0", ecmpPort) },
		func() error { return d.up("eth1") },
		func() error { return d.addAddr("eth1", director2Priv, 24) },
		func() error { return d.addAddr("eth1", director2DR, 24) },
		func() error { return d.sysctl("net.ipv4.ip_forward", "0") },
		func() error { return d.sysctl("net.ipv4.conf.all.send_redirects", "0") },
		func() error {
			cpu, err := strconv.Atoi(e.first.cpus)
			if err != nil {
				return err
			}
			mask := strconv.FormatUint(1<<uint(cpu), 16)
			return d.run(ctx, "", "sh", "-c", "echo "+mask+" > /sys/class/net/eth1/queues/rx-0/rps_cpus")
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("the second director: %w", err)
		}
	}
	l, err := d.link("eth1")
	if err != nil {
		return err
	}
	e.dir2, e.mac2, e.mac1 = d, l.Attrs().HardwareAddr, tb.privMAC
	fdb := fmt.Sprintf("fdb replace %s dev %s master static\n", e.mac2, ecmpPort)
	return tb.sw.run(ctx, fdb, "bridge", "-batch", "-")
}

// multipath is the client's route to the DR VIP over both directors.
func multipath() *netlink.Route {
	return &netlink.Route{Dst: &net.IPNet{IP: vipDR.AsSlice(), Mask: net.CIDRMask(32, 32)},
		MultiPath: []*netlink.NexthopInfo{{Gw: directorDR.AsSlice()}, {Gw: director2DR.AsSlice()}}}
}

func (e *ecmpContender) setup(ctx context.Context, tb *testbed) error {
	l := e.first
	if l.bin == "" {
		return fmt.Errorf("%w: %s", errUnavailable, l.c.Reason)
	}
	if e.dir2 == nil {
		if err := e.makeDirector2(ctx, tb); err != nil {
			return fmt.Errorf("%w: %v", errUnavailable, err)
		}
	}
	if err := tb.cli.sysctl("net.ipv4.fib_multipath_hash_policy", "1"); err != nil {
		return err
	}
	if err := tb.cli.h.RouteReplace(multipath()); err != nil {
		return fmt.Errorf("the client's multipath route to %v: %w", vipDR, err)
	}
	// The second director first: the first's setup checks a request, which
	// the client's route may send to either.
	sock := filepath.Join(StateDir, tb.st.ID+"-lvsd-ecmp-dir2.sock")
	p, err := startIn(tb.st, e.dir2.name, l.cpus, 0, filepath.Join(tb.dir, "lvsd-ecmp-dir2.log"), "lvsd",
		l.bin, "-f", l.cf, "--workers", "1", "--socket", sock)
	if err != nil {
		return fmt.Errorf("%w: the second director: %v", errUnavailable, err)
	}
	e.p2 = p
	err = waitFor(ctx, lvsdReady, p, func() error {
		cl := client.NewClient(sock)
		defer cl.Close()
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st.Services {
			if len(s.Dests) == 0 {
				return fmt.Errorf("%s:%d has no real server yet", s.Addr, s.Port)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: the second director's lvsd: %v: %s", errUnavailable, err, p.output())
	}
	return l.setup(ctx, tb)
}

func (e *ecmpContender) teardown(ctx context.Context, tb *testbed) error {
	if e.p2 != nil && e.first.p != nil {
		e.noteShares(ctx, tb)
	}
	errs := []error{e.first.teardown(ctx, tb)}
	if e.p2 != nil {
		e.p2.stop(5 * time.Second)
		e.p2 = nil
		os.Remove(filepath.Join(StateDir, tb.st.ID+"-lvsd-ecmp-dir2.sock"))
		errs = append(errs, e.dir2.run(ctx, "", "nft", "flush", "ruleset"), e.dir2.delAddr("eth1", vipDR, 32))
	}
	if err := tb.cli.h.RouteDel(multipath()); err != nil {
		errs = append(errs, fmt.Errorf("the client's multipath route: %w", err))
	}
	return errors.Join(errs...)
}

// noteShares puts in the report how the packets of the repetition went
// over the two directors, as each lvsd counted them (its services'
// incoming packets): the spread the figures rely on.
func (e *ecmpContender) noteShares(ctx context.Context, tb *testbed) {
	var pkts [2]uint64
	for i, name := range []string{"lvsd-ecmp-dir", "lvsd-ecmp-dir2"} {
		cl := client.NewClient(filepath.Join(StateDir, tb.st.ID+"-"+name+".sock"))
		st, err := cl.Status(ctx)
		cl.Close()
		if err != nil {
			*e.first.notes = append(*e.first.notes, fmt.Sprintf("lvsd-ecmp: reading %s's counters: %v", name, err))
			return
		}
		for _, s := range st.Services {
			pkts[i] += s.Stats.InPkts
		}
	}
	total := max(pkts[0]+pkts[1], 1)
	*e.first.notes = append(*e.first.notes, fmt.Sprintf("lvsd-ecmp: the directors counted %d and %d incoming packets (%.0f %% / %.0f %%) over the repetition",
		pkts[0], pkts[1], 100*float64(pkts[0])/float64(total), 100*float64(pkts[1])/float64(total)))
}

// lvsdOf is c's lvsd whose dataplane mode the report names: c itself, or
// lvsd-ecmp's first director (both run the same binary and flags).
func lvsdOf(c contender) (*lvsdContender, bool) {
	switch x := c.(type) {
	case *lvsdContender:
		return x, true
	case *ecmpContender:
		return x.first, true
	}
	return nil, false
}
