package sim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// FaultCutServers and FaultMendServers are drill (e) of an ECMP site: the
// path between one director and every real server breaks (its private
// link cut) while the other directors still reach them, and later comes
// back. Every real server drops the frames the director sends it — its
// health checks and the flows it forwards — at its interface's ingress
// (an nftables netdev table per real server), so only that director sees
// every real server down.
//
// The cut waits until the director has withdrawn every VIP and the
// gateway's route to each VIP no longer leads to it; then it notes the
// director's forwarding counters. The mend checks that the director has
// forwarded nothing since (the router sent it no flow), removes the
// tables, and waits until the director announces every VIP again and the
// gateway's route leads to it once more; the next check-directors step
// then counts only the connections the director scheduled after that.
// Each step reports how long it took from the cut or the mend.
const (
	FaultCutServers  FaultKind = "cut-servers"
	FaultMendServers FaultKind = "mend-servers"
)

// pathWait bounds the wait for a withdrawal or an announcement to reach
// the gateway: far above the health checks' detection time (the check
// interval and timeout, 2+2 s in the ecmp site) and their reentry (5 s).
// It only ends a drill that would otherwise never end.
const pathWait = 30 * time.Second

// ecmpState is what the ECMP drills carry from one step to the next.
type ecmpState struct {
	mu     sync.Mutex
	cuts   map[string]cutMark // director → its forwarding when the cut took hold
	checks map[string]uint64  // director → connections at the previous check-directors
}

// cutMark is a director's forwarding counters once its VIPs are withdrawn.
type cutMark struct {
	at        time.Time // the cut
	forwarded float64   // frames the director's workers forwarded or dropped
	conns     uint64    // connections it scheduled
}

// cutTable is the nftables table a real server drops node's frames with.
func cutTable(node string) string { return "lvssim_cut_" + birdName(node, 0)[4:] }

// cutServers cuts the path between director node and every real server,
// and waits until node has withdrawn its VIPs from the gateway.
func (s *Site) cutServers(ctx context.Context, node string) (string, error) {
	macs, err := s.directorMACs(node)
	if err != nil {
		return "", err
	}
	var rules strings.Builder
	t0 := time.Now()
	for _, n := range s.Topo.Nodes {
		if n.Role != RoleReal {
			continue
		}
		rules.Reset()
		fmt.Fprintf(&rules, "table netdev %[1]s\ndelete table netdev %[1]s\ntable netdev %[1]s {\n", cutTable(node))
		for _, ifc := range n.Interfaces {
			fmt.Fprintf(&rules, "\tchain in_%s {\n\t\ttype filter hook ingress device %q priority -500; policy accept;\n", birdName(ifc.Name, 0)[4:], ifc.Name)
			for _, m := range macs {
				fmt.Fprintf(&rules, "\t\tether saddr %v drop\n", m)
			}
			rules.WriteString("\t}\n")
		}
		rules.WriteString("}\n")
		f, err := s.writeFile(fmt.Sprintf("fault-cut-%s-%s.nft", node, n.Name), []byte(rules.String()))
		if err != nil {
			return "", err
		}
		if err := s.run(ctx, n.Name, "nft", "-f", f); err != nil {
			return "", fmt.Errorf("cutting %s from %s: %w", n.Name, node, err)
		}
	}
	withdrawn, why, err := s.waitBGP(ctx, node, false)
	if err != nil {
		return "", err
	}
	routed, err := s.waitGatewayRoute(ctx, node, false)
	if err != nil {
		return "", err
	}
	mark, err := s.forwarding(ctx, node)
	if err != nil {
		return "", err
	}
	mark.at = t0
	s.ecmp.mu.Lock()
	if s.ecmp.cuts == nil {
		s.ecmp.cuts = map[string]cutMark{}
	}
	s.ecmp.cuts[node] = mark
	s.ecmp.mu.Unlock()
	return fmt.Sprintf("cut %s from every real server; it withdrew every VIP (%s) %.1f s after the cut; "+
		"the gateway's routes left it %.1f s after the cut", node, why, withdrawn.Sub(t0).Seconds(), routed.Sub(t0).Seconds()), nil
}

// mendServers restores the path cut by cutServers and waits until node
// announces its VIPs to the gateway again. It fails if node forwarded a
// frame while it was withdrawn.
func (s *Site) mendServers(ctx context.Context, node string) (string, error) {
	s.ecmp.mu.Lock()
	mark, ok := s.ecmp.cuts[node]
	delete(s.ecmp.cuts, node)
	s.ecmp.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%s: no cut-servers step cut it", node)
	}
	now, err := s.forwarding(ctx, node)
	if err != nil {
		return "", err
	}
	t0 := time.Now()
	for _, n := range s.Topo.Nodes {
		if n.Role != RoleReal {
			continue
		}
		rules := fmt.Sprintf("table netdev %[1]s\ndelete table netdev %[1]s\n", cutTable(node))
		f, err := s.writeFile(fmt.Sprintf("fault-mend-%s-%s.nft", node, n.Name), []byte(rules))
		if err != nil {
			return "", err
		}
		if err := s.run(ctx, n.Name, "nft", "-f", f); err != nil {
			return "", fmt.Errorf("mending %s to %s: %w", n.Name, node, err)
		}
	}
	if d, c := now.forwarded-mark.forwarded, now.conns-mark.conns; d > 0 || c > 0 {
		return "", fmt.Errorf("%s forwarded or dropped %.0f frames and scheduled %d connections while its VIPs were withdrawn: the router still sent it flows", node, d, c)
	}
	announced, _, err := s.waitBGP(ctx, node, true)
	if err != nil {
		return "", err
	}
	routed, err := s.waitGatewayRoute(ctx, node, true)
	if err != nil {
		return "", err
	}
	// The next check-directors counts node's connections from here: those
	// the router sent it after it came back.
	back, err := s.scheduled(ctx, node)
	if err != nil {
		return "", err
	}
	s.ecmp.mu.Lock()
	if s.ecmp.checks == nil {
		s.ecmp.checks = map[string]uint64{}
	}
	s.ecmp.checks[node] = back
	s.ecmp.mu.Unlock()
	return fmt.Sprintf("%s handled no frame for a VIP while withdrawn (%.1f s since the cut); mended: it announced every VIP "+
		"again %.1f s after the mend, the gateway's routes lead to it again %.1f s after the mend", node,
		t0.Sub(mark.at).Seconds(), announced.Sub(t0).Seconds(), routed.Sub(t0).Seconds()), nil
}

// directorMACs returns the MACs of a router node's interfaces.
func (s *Site) directorMACs(node string) ([]net.HardwareAddr, error) {
	tn := s.Topo.Node(node)
	if tn == nil || tn.Role != RoleRouter {
		return nil, fmt.Errorf("%s is not a router node", node)
	}
	var macs []net.HardwareAddr
	for _, ifc := range tn.Interfaces {
		m, err := s.macOf(node, ifc.Name)
		if err != nil {
			return nil, err
		}
		macs = append(macs, m)
	}
	return macs, nil
}

// waitBGP waits until director node announces every VIP (announced) or
// has withdrawn every VIP, and returns when it saw that and the reasons.
func (s *Site) waitBGP(ctx context.Context, node string, announced bool) (time.Time, string, error) {
	deadline := time.Now().Add(pathWait)
	for {
		h, err := s.haStatus(ctx, node)
		if err != nil {
			return time.Time{}, "", err
		}
		if h.BGP == nil {
			return time.Time{}, "", fmt.Errorf("%s runs no BGP speaker", node)
		}
		var why, wrong []string
		for _, v := range h.BGP.VIPs {
			why = append(why, fmt.Sprintf("%v: %s", v.VIP, v.Reason))
			if v.Announced != announced {
				wrong = append(wrong, fmt.Sprintf("%v %s", v.VIP, v.Reason))
			}
		}
		if len(wrong) == 0 && len(why) > 0 {
			return time.Now(), strings.Join(why, ", "), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, "", fmt.Errorf("%s: after %v still %s", node, pathWait, strings.Join(wrong, ", "))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return time.Time{}, "", err
		}
	}
}

// waitGatewayRoute waits until every gateway's route to every VIP has a
// next hop at director node (present) or none, and returns when it saw it.
func (s *Site) waitGatewayRoute(ctx context.Context, node string, present bool) (time.Time, error) {
	var own []netip.Addr
	for _, ifc := range s.Topo.Node(node).Interfaces {
		for _, a := range ifc.Addresses {
			own = append(own, a.Addr())
		}
	}
	var vips []netip.Addr
	for _, v := range s.Topo.Site.Config.ActiveVirtuals() {
		if v.Address.IsValid() && !slices.Contains(vips, v.Address) {
			vips = append(vips, v.Address)
		}
	}
	deadline := time.Now().Add(pathWait)
	for {
		var wrong []string
		for _, gw := range s.Topo.Nodes {
			if gw.Role != RoleGateway || !slices.ContainsFunc(gw.Services, func(sv *Service) bool { return sv.Kind == ServiceBIRD }) {
				continue
			}
			for _, vip := range vips {
				hops, err := s.nextHops(gw.Name, vip)
				if err != nil {
					return time.Time{}, err
				}
				if slices.ContainsFunc(hops, func(a netip.Addr) bool { return slices.Contains(own, a) }) != present {
					wrong = append(wrong, fmt.Sprintf("%s's route to %v via %v", gw.Name, vip, hops))
				}
			}
		}
		if len(wrong) == 0 {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("after %v: %s", pathWait, strings.Join(wrong, "; "))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

// nextHops returns the gateways of node's routes to vip in its main
// table (one, or the next hops of a multipath route).
func (s *Site) nextHops(node string, vip netip.Addr) ([]netip.Addr, error) {
	ns, err := s.node(node)
	if err != nil {
		return nil, err
	}
	dst := &net.IPNet{IP: vip.AsSlice(), Mask: net.CIDRMask(vip.BitLen(), vip.BitLen())}
	rs, err := ns.Netlink().RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: dst}, netlink.RT_FILTER_DST)
	if err != nil {
		return nil, fmt.Errorf("routes of %s to %v: %w", node, vip, err)
	}
	var hops []netip.Addr
	add := func(ip net.IP) {
		if a, ok := netip.AddrFromSlice(ip); ok {
			hops = append(hops, a.Unmap())
		}
	}
	for _, r := range rs {
		add(r.Gw)
		for _, nh := range r.MultiPath {
			add(nh.Gw)
		}
	}
	return hops, nil
}

// forwarding reads the frames of flows a director's workers forwarded, or
// dropped for want of a real server or a connection (every new
// connection's first frame crosses them), and the connections it
// scheduled.
func (s *Site) forwarding(ctx context.Context, node string) (cutMark, error) {
	smp, err := s.sample(ctx, node)
	if err != nil {
		return cutMark{}, err
	}
	conns, err := s.scheduled(ctx, node)
	if err != nil {
		return cutMark{}, err
	}
	fw := smp.Verdicts["forward"]
	for _, r := range []string{"no_dest", "dest_gone", "no_connection"} {
		fw += smp.Drops[r] // frames of flows it could not forward
	}
	return cutMark{forwarded: fw, conns: conns}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
