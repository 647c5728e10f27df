//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"lvs/internal/procstat"
)

// proc is a process the harness started inside a namespace, tracked by
// PID. It runs in a process group of its own with Pdeathsig, so even a
// SIGKILLed harness takes it along. (sim has the same machinery for its
// sites, unexported; this is the small part the harness needs.)
type proc struct {
	name string
	pid  int
	log  string // file holding its stdout and stderr
	done chan struct{}
	err  error // exit status, valid after done
}

// spawner is one goroutine locked to its OS thread for the life of the
// process: Pdeathsig fires when the forking *thread* exits, and the
// namespace helpers throw their threads away.
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

// startIn runs argv inside namespace ns (`ip netns exec`) pinned to cpus
// (a taskset list such as "1" or "0-1"; "" for no pinning) at niceness
// nice, logging to logPath, and records its PID in st.
func startIn(st *runState, ns, cpus string, nice int, logPath, name string, argv ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log for %s: %w", name, err)
	}
	defer logf.Close()
	args := []string{"netns", "exec", ns}
	if nice != 0 {
		args = append(args, "nice", "-n", strconv.Itoa(nice))
	}
	if cpus != "" {
		args = append(args, "taskset", "-c", cpus)
	}
	cmd := exec.Command("ip", append(args, argv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	spawner() <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, pid: cmd.Process.Pid, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := st.addPID(p.pid); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks p's group to terminate (SIGTERM), then kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	syscall.Kill(-p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// kill SIGKILLs p's group and waits for it, bounded.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	syscall.Kill(-p.pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// output returns the tail of p's log, trimmed to one paragraph.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// cpusAllowed returns the distinct Cpus_allowed_list values of p's
// threads ("1", or "0-1; 1" when threads differ): what pinning p really got.
func (p *proc) cpusAllowed() string {
	dirs, _ := os.ReadDir("/proc/" + strconv.Itoa(p.pid) + "/task")
	seen := map[string]bool{}
	var out []string
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/task/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok && !seen[strings.TrimSpace(v)] {
				seen[strings.TrimSpace(v)] = true
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// procTimes returns the utime and stime of process pid (all its
// threads), in ticks; false once it is gone.
func procTimes(pid int) (ProcTimes, bool) {
	f, ok := procstat.Fields(pid)
	if !ok || len(f) < 13 {
		return ProcTimes{}, false
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return ProcTimes{User: u, System: s}, true
}
