package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Proc is a process lvssim started inside a node namespace, tracked by PID.
// It runs in a process group of its own, so stopping it also stops the
// workers it forked (nginx, vsftpd).
type Proc struct {
	Node string
	Role string // router, responder, nginx, vsftpd
	PID  int
	argv []string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process group of p.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s on %s (pid %d) has already exited", p.Role, p.Node, p.PID)
	}
	if err := syscall.Kill(-p.PID, sig); err != nil {
		return fmt.Errorf("signalling %s on %s (pid %d): %w", p.Role, p.Node, p.PID, err)
	}
	return nil
}

// stop kills p's group and waits for it, bounded.
func (p *Proc) stop() {
	if p.Exited() {
		return
	}
	syscall.Kill(-p.PID, syscall.SIGCONT) // a stopped process must wake to die
	syscall.Kill(-p.PID, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// startProc starts argv in node's namespace (`ip netns exec`), logging to
// the run dir, records its PID in the state file and returns once it runs.
func (s *Site) startProc(_ context.Context, node, role string, argv ...string) (*Proc, error) {
	n := s.nodes[node]
	if n == nil {
		return nil, fmt.Errorf("unknown node %s", node)
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "logs", node+"-"+role+".log"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name}, argv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !s.kept {
		// Dies with lvssim even on SIGKILL; a kept site (lvssim up) outlives it.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("starting %s on %s: %w", role, node, err)
	}
	p := &Proc{Node: node, Role: role, PID: cmd.Process.Pid, argv: argv, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.state.addPID(p.PID)
	if err := s.saveState(); err != nil {
		return p, err
	}
	s.logf("started %s on %s (pid %d)", role, node, p.PID)
	return p, nil
}

// spawner is one goroutine locked to its OS thread for the life of the
// process. Children are forked from it because Pdeathsig fires when the
// forking *thread* exits, and inNS discards the threads it uses.
var spawner = sync.OnceValue(func() chan func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread() // never unlocked: this thread outlives every child
		for f := range ch {
			f()
		}
	}()
	return ch
})

// spawn starts cmd from the spawner thread.
func spawn(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	spawner() <- func() { errc <- cmd.Start() }
	return <-errc
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

// stopProcs kills every process the site started, newest first.
func (s *Site) stopProcs() {
	s.mu.Lock()
	ps := append([]*Proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop()
	}
}

// output runs a short command in node's namespace and returns its output.
func (s *Site) output(ctx context.Context, node string, argv ...string) (string, error) {
	n := s.nodes[node]
	if n == nil {
		return "", fmt.Errorf("unknown node %s", node)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, argv...)...).CombinedOutput()
	return string(out), err
}

// run runs a short command in node's namespace and waits for it (≤ 30 s).
func (s *Site) run(ctx context.Context, node string, argv ...string) error {
	n := s.nodes[node]
	if n == nil {
		return fmt.Errorf("unknown node %s", node)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, argv...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s on %s: %w: %s", argv[0], node, err, out)
	}
	return nil
}

// waitPort waits until something accepts TCP connections on addr:port
// inside node, bounded by d.
func (s *Site) waitListening(ctx context.Context, p *Proc, check func() error, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s on %s exited (%v); see %s", p.Role, p.Node, p.err,
				filepath.Join(s.Dir, "logs", p.Node+"-"+p.Role+".log"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %v: %w", d, err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
