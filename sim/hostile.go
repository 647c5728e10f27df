package sim

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"lvs/internal/netlab"
)

// kindResult is what lvsd counted while one kind was sent.
type kindResult struct {
	name     string
	sent     uint64
	rx       float64 // frames lvsd's workers read meanwhile (real traffic included)
	drops    string
	verdicts string
}

// hostile is the hostile step: f.Target, a peer with an interface on each
// of the active router's segments, sends every hostileKind in turn at both
// of lvsd's interfaces for a.Duration in all, while a.Legit requests and
// downloads and the real servers capture what lvsd forwards to them.
func (s *Site) hostile(ctx context.Context, f *Fault) (string, error) {
	a := f.Attack
	rn, err := s.lvsdNode()
	if err != nil {
		return "", err
	}
	peer, err := s.node(f.Target)
	if err != nil {
		return "", err
	}
	sides, err := s.hostileSides(f.Target, rn, a)
	if err != nil {
		return "", err
	}
	lvsdMAC := s.macSet(rn)
	base, err := s.sample(ctx, rn)
	if err != nil {
		return "", err
	}
	// A segment is a switch, which forwards a malformed IPv4 header as it
	// came; the switch namespace's bridges would validate it first
	// (br_netfilter, on by default in every namespace where the module is
	// loaded) and drop it before lvsd sees it.
	if err := s.sw.Sysctl("net.bridge.bridge-nf-call-iptables", "0"); err == nil {
		defer s.sw.Sysctl("net.bridge.bridge-nf-call-iptables", "1")
	}
	// Every lookup is done: from here on nothing returns before the
	// watcher, the captures and the legitimate traffic have stopped, and
	// the deferred calls make any return that comes to be added here stop
	// and wait for them too (legit's context cancelled first).
	lctx, cancel := context.WithCancel(ctx)
	var lwg sync.WaitGroup
	defer lwg.Wait()
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	var pk *peaks
	wg.Go(func() { pk = s.watch(ctx, rn, stop) })
	caps := s.captureReals(stop, lvsdMAC, &wg)
	var lg legitResult
	lwg.Go(func() { lg = s.legit(lctx, a, a.Duration) })
	time.Sleep(time.Second)
	share := (a.Duration - time.Second) / time.Duration(len(hostileKinds))
	kinds, sendErr := s.sendKinds(ctx, rn, peer, sides, share)
	lwg.Wait()
	end, endErr := s.sample(ctx, rn)
	halt()
	if err := s.lvsdAlive(rn); err != nil {
		return "", err
	}
	if endErr == nil && end.Entries > pk.entries {
		pk.entries = end.Entries
	}
	var errs []string
	if sendErr != nil {
		errs = append(errs, sendErr.Error())
	}
	if endErr != nil {
		errs = append(errs, endErr.Error())
	}
	errs = lg.check(errs)
	return s.hostileVerdict(f, hostileFindings{base: base, peak: pk, legit: lg, caps: caps, kinds: kinds, errs: errs})
}

// macSet returns the MACs of node's interfaces, as strings.
func (s *Site) macSet(node string) map[string]bool {
	out := map[string]bool{}
	for _, ifc := range s.Topo.Node(node).Interfaces {
		if m, err := s.macOf(node, ifc.Name); err == nil {
			out[m.String()] = true
		}
	}
	return out
}

// sendKinds has peer send every hostileKind in turn, each for share, and
// samples lvsd on rn around each; it stops at the first error.
func (s *Site) sendKinds(ctx context.Context, rn string, peer *netlab.NS, sides []*hostileSide, share time.Duration) ([]kindResult, error) {
	var kinds []kindResult
	for _, k := range hostileKinds {
		before, err := s.sample(ctx, rn)
		if err != nil {
			return kinds, err
		}
		var sent uint64
		err = peer.Do(func() error {
			var err error
			sent, err = sendHostile(ctx, k, sides, share)
			return err
		})
		if err != nil {
			return kinds, err
		}
		time.Sleep(200 * time.Millisecond) // the workers count what they read
		after, err := s.sample(ctx, rn)
		if err != nil {
			return kinds, err
		}
		kinds = append(kinds, kindResult{name: k.name, sent: sent, rx: after.RX - before.RX,
			drops: deltas(before.Drops, after.Drops), verdicts: deltas(before.Verdicts, after.Verdicts)})
	}
	return kinds, nil
}

// hostileFindings is what a hostile step saw, for its verdict.
type hostileFindings struct {
	base  lvsdSample // lvsd before the step
	peak  *peaks     // lvsd's peaks during it
	legit legitResult
	caps  []*capture
	kinds []kindResult
	errs  []string // what already went wrong: sending, sampling, the legitimate traffic
}

// hostileVerdict judges the findings: no frame forwarded with a bad
// checksum, some forwarded frames captured, RSS near its baseline. It logs
// the step's detail and returns it, as the error's text too when one failed.
func (s *Site) hostileVerdict(f *Fault, h hostileFindings) (string, error) {
	a, base, pk, errs := f.Attack, h.base, h.peak, h.errs
	var checked, bad int
	var bads []string
	for _, c := range h.caps {
		if c.err != nil {
			errs = append(errs, c.err.Error())
		}
		checked += c.checked
		bad += len(c.bad)
		bads = append(bads, c.bad...)
	}
	if bad > 0 {
		errs = append(errs, fmt.Sprintf("%d frames forwarded to the real servers with a bad checksum (of %d checked): %s",
			bad, checked, strings.Join(bads[:min(len(bads), 5)], "; ")))
	}
	if checked == 0 {
		errs = append(errs, "no frame forwarded by lvsd was captured on the real servers")
	}
	if pk.rss > base.RSS+nearRSS(base.RSS) {
		errs = append(errs, fmt.Sprintf("RSS grew from %s to %s (bound: + %s)", mib(base.RSS), mib(pk.rss), mib(nearRSS(base.RSS))))
	}
	var per []string
	for _, k := range h.kinds {
		per = append(per, fmt.Sprintf("%s (%d sent, lvsd read %.0f): drops %s; verdicts %s", k.name, k.sent, k.rx, k.drops, k.verdicts))
	}
	detail := fmt.Sprintf("hostile frames from %s at both of lvsd's interfaces for %.0fs: %s; %d forwarded frames checked on the real servers, %d with a bad checksum; "+
		"RSS baseline %s, peak %s; table peak %.0f entries; per kind: %s",
		f.Target, a.Duration.Seconds(), h.legit, checked, bad, mib(base.RSS), mib(pk.rss), pk.entries, strings.Join(per, " | "))
	s.logf("        %s", detail)
	if len(errs) > 0 {
		return "", fmt.Errorf("%s — %s", strings.Join(errs, "; "), detail)
	}
	return detail, nil
}

// hostileSides pairs each interface of peer with the router's interface on
// the same segment.
func (s *Site) hostileSides(peer, router string, a *Attack) ([]*hostileSide, error) {
	pn, rnode := s.Topo.Node(peer), s.Topo.Node(router)
	if pn == nil {
		return nil, fmt.Errorf("unknown node %s", peer)
	}
	var client [4]byte
	if ln := s.Topo.Node(a.Legit); ln != nil && len(ln.Interfaces) > 0 && len(ln.Interfaces[0].Addresses) > 0 {
		client = ln.Interfaces[0].Addresses[0].Addr().As4()
	}
	var out []*hostileSide
	for _, pi := range pn.Interfaces {
		for _, ri := range rnode.Interfaces {
			if ri.Segment != pi.Segment || len(pi.Addresses) == 0 {
				continue
			}
			src, err := s.macOf(peer, pi.Name)
			if err != nil {
				return nil, err
			}
			dst, err := s.macOf(router, ri.Name)
			if err != nil {
				return nil, err
			}
			sd := &hostileSide{iface: pi.Name, srcMAC: src, dstMAC: dst, src: pi.Addresses[0].Addr().As4(),
				vip: a.Web.Addr().As4()}
			if slices.ContainsFunc(ri.Addresses, func(p netip.Prefix) bool { return p.Contains(a.Web.Addr()) }) {
				sd.dst, sd.dport = sd.vip, a.Web.Port() // toward the VIP, as a client
			} else {
				sd.dst, sd.sport, sd.dport = client, a.Web.Port(), uint16(40000) // toward a client, as a real server's reply
			}
			out = append(out, sd)
		}
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("hostile peer %s needs an interface on each of %s's segments (has %d in common)", peer, router, len(out))
	}
	return out, nil
}
