//go:build linux

package bench

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"lvs/internal/netlab"
	"lvs/internal/procstat"
)

// proc is a process the harness started inside a namespace: a netlab.Proc
// (tracked by PID, its own process group, Pdeathsig) under the names the
// harness uses.
type proc struct {
	*netlab.Proc
	name string
	pid  int
}

// startIn runs argv inside namespace ns of the run pinned to cpus (a
// taskset list such as "1" or "0-1"; "" for no pinning) at niceness nice,
// logging to logPath, and records its PID in the run's state file.
func startIn(st *runState, ns, cpus string, nice int, logPath, name string, argv ...string) (*proc, error) {
	var pre []string
	if nice != 0 {
		pre = append(pre, "nice", "-n", strconv.Itoa(nice))
	}
	if cpus != "" {
		pre = append(pre, "taskset", "-c", cpus)
	}
	n, err := st.node(ns)
	if err != nil {
		return nil, err
	}
	np, err := st.lab.Start(n, netlab.Cmd{Name: name, Argv: append(pre, argv...), Log: logPath})
	if err != nil {
		return nil, err
	}
	return &proc{Proc: np, name: name, pid: np.PID}, nil
}

func (p *proc) exited() bool { return p.Exited() }

// stop asks p's group to terminate (SIGTERM), then kills it after grace.
func (p *proc) stop(grace time.Duration) { p.Stop(grace) }

// output returns the tail of p's log, trimmed to one paragraph.
func (p *proc) output() string { return p.Tail() }

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
