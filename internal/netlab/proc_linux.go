package netlab

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cmd says how Lab.Start runs a program.
type Cmd struct {
	Name   string    // what it is, for messages: "router on r1", "rs1 responder"
	Argv   []string  // the program and its arguments
	Dir    string    // working directory; "" is the caller's
	Log    string    // file for its stdout and stderr ("" with Output)
	Append bool      // append to Log instead of truncating it
	Output io.Writer // instead of Log
}

// Proc is a process a lab started inside one of its namespaces, tracked by
// PID. It runs in a process group of its own, so stopping it also stops the
// workers it forked, and unless its lab is kept it has Pdeathsig, so even a
// SIGKILLed owner takes it along.
type Proc struct {
	Name string
	PID  int
	Log  string // its log file ("" when it wrote to Cmd.Output)
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done
}

// Start runs c in namespace n (`ip netns exec`, which execs the program, so
// the PID is the program's), records its PID in the state file and returns
// once it runs.
func (l *Lab) Start(n *NS, c Cmd) (*Proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, c.Argv...)...)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = c.Output, c.Output
	if c.Output == nil {
		flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if c.Append {
			flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		logf, err := os.OpenFile(c.Log, flag, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening log for %s: %w", c.Name, err)
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !l.st.Kept {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // dies with its owner even on SIGKILL
	}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", c.Name, err)
	}
	p := &Proc{Name: c.Name, PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	if c.Output == nil {
		p.Log = c.Log
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	if err := l.addPID(p.PID); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// spawner is one goroutine locked to its OS thread for the life of the
// process. Children are forked from it because Pdeathsig fires when the
// forking *thread* exits, and NS.Do discards the threads it uses.
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

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns the process's exit status once it has exited.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the process group of p.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s (pid %d) has already exited", p.Name, p.PID)
	}
	if err := syscall.Kill(-p.PID, sig); err != nil {
		return fmt.Errorf("signalling %s (pid %d): %w", p.Name, p.PID, err)
	}
	return nil
}

// Stop asks p's group to terminate (SIGTERM), then kills it after grace.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	syscall.Kill(-p.PID, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill SIGKILLs p's group and waits for it, at most 5 s.
func (p *Proc) Kill() {
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

// Tail returns the end of p's log (at most 2,000 bytes), trimmed.
func (p *Proc) Tail() string {
	if p.Log == "" {
		return ""
	}
	b, _ := os.ReadFile(p.Log)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}
