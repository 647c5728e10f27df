package sim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// resolve maps "primary"/"backup" to the router node holding that lvs.cf
// address; other targets are node names.
func (s *Site) resolve(target string) string {
	if target != "primary" && target != "backup" || s.Topo.Site == nil {
		return target
	}
	want := s.Topo.Site.Config.Primary
	if target == "backup" {
		want = s.Topo.Site.Config.Backup
	}
	for _, n := range s.Topo.Routers() {
		for _, i := range n.Interfaces {
			for _, a := range i.Addresses {
				if a.Addr() == want {
					return n.Name
				}
			}
		}
	}
	return target
}

// inject performs one fault and says what it did.
func (s *Site) inject(ctx context.Context, f *Fault) (string, error) {
	node := s.resolve(f.Target)
	switch f.Kind {
	case FaultLinkDown, FaultLinkUp:
		n, err := s.node(node)
		if err != nil {
			return "", err
		}
		if err := n.SetUp(f.Interface, f.Kind == FaultLinkUp); err != nil {
			return "", err
		}
		what := fmt.Sprintf("set %s %s %s", node, f.Interface, map[bool]string{true: "up", false: "down"}[f.Kind == FaultLinkUp])
		if f.Kind == FaultLinkDown {
			return what, nil
		}
		restored, err := s.restoreRoutes(node, f.Interface)
		if len(restored) > 0 {
			what += "; routes restored: " + strings.Join(restored, ", ")
		}
		return what, err
	case FaultDropHeartbeats, FaultPassHeartbeats:
		return s.heartbeats(ctx, f.Kind == FaultDropHeartbeats, f.Interface)
	case FaultStartService:
		return s.startAgain(ctx, node, f.Process)
	case FaultForgeHeartbeat:
		return s.forgeHeartbeats(ctx, node)
	case FaultCheckRoles:
		return s.checkRoles(ctx)
	case FaultEditConfig:
		return s.editConfig(ctx, node)
	case FaultARPOwners:
		return s.arpOwners(node, f.Interface)
	case FaultFlood: // flood.go
		return s.flood(ctx, f)
	case FaultHostile: // hostile.go
		return s.hostile(ctx, f)
	case FaultCheckDirectors: // ECMP sites (ecmp.go)
		return s.checkDirectors(ctx)
	case FaultDrain, FaultUndrain: // ECMP sites (ecmp.go)
		return s.drain(ctx, node, f.Kind == FaultDrain)
	case FaultCutServers: // ECMP sites (ecmp_cut.go)
		return s.cutServers(ctx, node)
	case FaultMendServers:
		return s.mendServers(ctx, node)
	case FaultPing: // ipv6.go
		return s.pingStep(node, f.To)
	}
	p := s.proc(node, f.Process)
	if f.Process == "router" && s.Router != nil {
		p = s.Router.Process(node)
	}
	if p == nil {
		return "", fmt.Errorf("no %s process on %s", f.Process, node)
	}
	sig := map[FaultKind]syscall.Signal{FaultKill: syscall.SIGKILL, FaultStop: syscall.SIGSTOP,
		FaultCont: syscall.SIGCONT, FaultStopService: syscall.SIGKILL}[f.Kind]
	if err := p.Signal(sig); err != nil {
		return "", err
	}
	if sig == syscall.SIGKILL {
		p.Kill() // reap it, so start-service sees it exited
	}
	return fmt.Sprintf("sent %s to %s on %s (pid %d)", sigName(sig), f.Process, node, p.PID), nil
}

// restoreRoutes gives node back the routes of its topology that go through
// iface, as a network manager does when a link comes back: setting a link
// down flushes the routes through it (the default route too), and a
// director without its default route cannot forward replies to clients
// once lvsd restarts and reads the kernel's routes again.
func (s *Site) restoreRoutes(node, iface string) ([]string, error) {
	n, tn := s.nodes[node], s.Topo.Node(node)
	if n == nil || tn == nil {
		return nil, fmt.Errorf("unknown node %s", node)
	}
	var restored []string
	for _, ifc := range tn.Interfaces {
		if ifc.Name != iface {
			continue
		}
		for _, r := range tn.Routes {
			if !slices.ContainsFunc(ifc.Addresses, func(p netip.Prefix) bool { return p.Masked().Contains(r.Via) }) {
				continue
			}
			dst, name := r.To, r.To.String()
			if r.Default {
				dst, name = netip.Prefix{}, "default"
			}
			if err := n.AddRoute(dst, r.Via); err != nil && !errors.Is(err, unix.EEXIST) {
				return restored, fmt.Errorf("restore route %s via %s on %s: %w", name, r.Via, node, err)
			}
			restored = append(restored, name+" via "+r.Via.String())
		}
	}
	return restored, nil
}

func sigName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGSTOP: "SIGSTOP", syscall.SIGCONT: "SIGCONT"}[sig]
}

// heartbeats drops (or passes again) heartbeat_port UDP between the
// routers with an nftables table in each router namespace; on one
// interface only (one heartbeat channel) when iface is set.
func (s *Site) heartbeats(ctx context.Context, drop bool, iface string) (string, error) {
	port := uint16(539)
	if s.Topo.Site != nil {
		port = s.Topo.Site.Config.HeartbeatPort
	}
	for _, n := range s.Topo.Routers() {
		rules := "table inet lvssim_fault\ndelete table inet lvssim_fault\n"
		if drop {
			in, out := "", ""
			if iface != "" {
				in, out = fmt.Sprintf("iifname %q ", iface), fmt.Sprintf("oifname %q ", iface)
			}
			rules += fmt.Sprintf("table inet lvssim_fault {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n"+
				"\t\t%sudp dport %d drop\n\t}\n\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n"+
				"\t\t%sudp dport %d drop\n\t}\n}\n", in, port, out, port)
		}
		f, err := s.writeFile("fault-heartbeat-"+n.Name+".nft", []byte(rules))
		if err != nil {
			return "", err
		}
		if err := s.run(ctx, n.Name, "nft", "-f", f); err != nil {
			return "", err
		}
	}
	if drop && iface != "" {
		return fmt.Sprintf("dropping UDP port %d (heartbeats) on %s of every router", port, iface), nil
	}
	if drop {
		return fmt.Sprintf("dropping UDP port %d (heartbeats) on every router", port), nil
	}
	return fmt.Sprintf("passing UDP port %d (heartbeats) again", port), nil
}

func haveCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// startAgain starts a stopped service of node as the topology describes it
// and waits until it listens.
func (s *Site) startAgain(ctx context.Context, node, process string) (string, error) {
	if process == "router" && s.Router != nil {
		if p := s.Router.Process(node); p != nil && !p.Exited() {
			return "", fmt.Errorf("the router on %s (pid %d) is still running", node, p.PID)
		}
		p, err := s.Router.Restart(ctx, s, node)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("started the router on %s again (pid %d)", node, p.PID), nil
	}
	p := s.proc(node, process)
	if p == nil {
		return "", fmt.Errorf("no %s was started on %s", process, node)
	}
	if !p.Exited() {
		return "", fmt.Errorf("%s on %s (pid %d) is still running", process, node, p.PID)
	}
	n := s.Topo.Node(node)
	for _, svc := range n.Services {
		if string(svc.Kind) == process {
			if err := s.startService(ctx, n, svc); err != nil {
				return "", err
			}
			return fmt.Sprintf("started %s on %s again (pid %d)", process, node, s.proc(node, process).PID), nil
		}
	}
	return "", fmt.Errorf("node %s has no %s service", node, process)
}
