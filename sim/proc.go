package sim

import (
	"context"
	"path/filepath"

	"lvs/internal/netlab"
)

// Proc is a process lvssim started inside a node namespace, tracked by PID
// (netlab.Proc: its own process group, so stopping it also stops the
// workers it forked, such as nginx's and vsftpd's).
type Proc struct {
	Node string
	Role string // router, responder, nginx, vsftpd
	*netlab.Proc
}

// startProc starts argv in node's namespace, logging to the run dir,
// records its PID in the state file and returns once it runs. A kept site's
// processes (lvssim up) outlive lvssim; the others die with it.
func (s *Site) startProc(_ context.Context, node, role string, argv ...string) (*Proc, error) {
	n, err := s.node(node)
	if err != nil {
		return nil, err
	}
	np, err := s.lab.Start(n, netlab.Cmd{Name: role + " on " + node, Argv: argv, Dir: s.Dir,
		Log: filepath.Join(s.Dir, "logs", node+"-"+role+".log"), Append: true})
	if err != nil {
		return nil, err
	}
	p := &Proc{Node: node, Role: role, Proc: np}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.logf("started %s on %s (pid %d)", role, node, p.PID)
	return p, nil
}

// proc returns the newest process of role on node, or nil.
func (s *Site) proc(node, role string) *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- {
		if p := s.procs[i]; p.Node == node && p.Role == role {
			return p
		}
	}
	return nil
}

// run runs a short command in node's namespace and waits for it (≤ 30 s).
func (s *Site) run(ctx context.Context, node string, argv ...string) error {
	n, err := s.node(node)
	if err != nil {
		return err
	}
	_, err = n.Run(ctx, "", argv...)
	return err
}
