package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"lvs/admin/client"
)

// FaultCheckDirectors is the check-directors drill of an ECMP site, run as
// a step like a fault: every running director announces every VIP, has its
// BGP sessions up, and has scheduled connections (the router spreads flows
// over all of them) since the previous check-directors step (or the
// start). It reports each director's share of those connections.
const FaultCheckDirectors FaultKind = "check-directors"

// checkDirectors is the check-directors drill.
func (s *Site) checkDirectors(ctx context.Context) (string, error) {
	type count struct {
		node  string
		conns uint64
	}
	var counts []count
	var total uint64
	var problems []string
	for _, n := range s.Topo.Routers() {
		if s.Router == nil {
			break
		}
		if p := s.Router.Process(n.Name); p == nil || p.Exited() {
			continue // a killed director
		}
		all, err := s.scheduled(ctx, n.Name)
		if err != nil {
			return "", err
		}
		h, err := s.haStatus(ctx, n.Name)
		if err != nil {
			return "", err
		}
		s.ecmp.mu.Lock()
		if s.ecmp.checks == nil {
			s.ecmp.checks = map[string]uint64{}
		}
		c := all - min(s.ecmp.checks[n.Name], all)
		s.ecmp.checks[n.Name] = all
		s.ecmp.mu.Unlock()
		counts, total = append(counts, count{n.Name, c}), total+c
		if c == 0 {
			problems = append(problems, n.Name+" scheduled no connection since the previous check")
		}
		if h.BGP == nil {
			problems = append(problems, n.Name+" runs no BGP speaker")
			continue
		}
		for _, p := range h.BGP.Peers {
			if !p.Up {
				problems = append(problems, fmt.Sprintf("%s: BGP session with %s is %s", n.Name, p.Name, p.State))
			}
		}
		for _, v := range h.BGP.VIPs {
			if !v.Announced {
				problems = append(problems, fmt.Sprintf("%s: %v withdrawn (%s)", n.Name, v.VIP, v.Reason))
			}
		}
	}
	if len(counts) == 0 {
		return "", fmt.Errorf("no director runs")
	}
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%s %d (%.0f%%)", c.node, c.conns, 100*float64(c.conns)/float64(max(total, 1)))
	}
	msg := "connections scheduled per director since the previous check: " + strings.Join(parts, ", ")
	if len(problems) > 0 {
		return "", fmt.Errorf("%s; %s", msg, strings.Join(problems, "; "))
	}
	return msg + "; every VIP announced, every session up", nil
}

// FaultDrain and FaultUndrain are `lvsadm drain` and `lvsadm drain
// --undrain` on a director of an ECMP site: it withdraws every VIP from
// the router while it keeps forwarding, or announces them again.
const (
	FaultDrain   FaultKind = "drain"
	FaultUndrain FaultKind = "undrain"
)

// drain drains (on) or undrains the director on node through its control
// socket, as lvsadm drain does.
func (s *Site) drain(ctx context.Context, node string, on bool) (string, error) {
	if tn := s.Topo.Node(node); tn == nil || tn.Role != RoleRouter {
		return "", fmt.Errorf("%s is not a router node", node)
	}
	if err := client.NewClient(filepath.Join(s.Dir, node+".sock")).Drain(ctx, on); err != nil {
		return "", fmt.Errorf("%s: %w", node, err)
	}
	if on {
		return "drained " + node + ": its VIPs withdrawn from the router", nil
	}
	return "undrained " + node + ": its VIPs announced again", nil
}

// scheduled returns the connections director node has scheduled so far,
// over all its virtual services.
func (s *Site) scheduled(ctx context.Context, node string) (uint64, error) {
	cl := client.NewClient(filepath.Join(s.Dir, node+".sock"))
	defer cl.Close()
	st, err := cl.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", node, err)
	}
	var c uint64
	for _, svc := range st.Services {
		c += svc.Stats.Conns
	}
	return c, nil
}
