//go:build linux

package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// duringGrace is how long a --during command has to finish after its
// SIGINT (perf record writes its file then) before its group is killed.
const duringGrace = 20 * time.Second

// duringHook is a --during command running over one TCP window.
type duringHook struct {
	cmd   *exec.Cmd
	done  chan error
	grace time.Duration
}

// during starts Options.During at the warm-up of a window of the kind
// Options.DuringWindow names (window: duringTCP, duringSaturation or
// duringFixed), which began at start, for contender c; nil when there is
// none or it cannot start (said in the run's notes). Its environment
// names the window (LVSBENCH_WINDOW), the contender
// (LVSBENCH_CONTENDER), the director's core (LVSBENCH_DIR_CPU), lvsd's
// PID (LVSBENCH_PID, empty for the kernel), the run's log directory
// (LVSBENCH_LOGS), the window's sequence number (LVSBENCH_SEQ) and how
// long until the window (LVSBENCH_WARMUP_NS); its output goes to
// LVSBENCH_LOGS/during-CONTENDER-SEQ.log.
func (r *runner) during(c contender, start time.Time, window string) *duringHook {
	if r.o.During == "" || window == "" || window != r.o.DuringWindow {
		return nil
	}
	r.duringSeq++
	name, pid := c.info().Name, ""
	if p := c.process(); p != nil {
		pid = strconv.Itoa(p.pid)
	}
	logs := filepath.Join(r.o.Out, "logs")
	h, err := startDuring(r.o.During, filepath.Join(logs, fmt.Sprintf("during-%s-%d.log", name, r.duringSeq)),
		"LVSBENCH_WINDOW="+window, "LVSBENCH_CONTENDER="+name, "LVSBENCH_DIR_CPU="+strconv.Itoa(r.o.DirCPU), "LVSBENCH_PID="+pid,
		"LVSBENCH_LOGS="+logs, "LVSBENCH_SEQ="+strconv.Itoa(r.duringSeq),
		"LVSBENCH_WARMUP_NS="+strconv.FormatInt(int64(r.o.Warmup-time.Since(start)), 10))
	if err != nil {
		r.notes = append(r.notes, fmt.Sprintf("--during: %v", err))
		return nil
	}
	return h
}

// startDuring runs the shell command line (sh -c, as root at trafficNice
// so the loaded machine does not hold it back, in its own process group,
// in the host's namespaces) with env added to the harness's, its output to
// logPath.
func startDuring(line, logPath string, env ...string) (*duringHook, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child holds its own descriptor
	argv := []string{"sh", "-c", line}
	if os.Geteuid() == 0 { // only root may raise a priority
		argv = append([]string{"nice", "-n", strconv.Itoa(trafficNice)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &duringHook{cmd: cmd, done: make(chan error, 1), grace: duringGrace}
	go func() { h.done <- cmd.Wait() }()
	return h, nil
}

// end interrupts the command's process group (SIGINT) and waits for it,
// killing the group after its grace. A command that ends by the
// interrupt, or had ended before, is not an error.
func (h *duringHook) end() error {
	if h == nil {
		return nil
	}
	pg := -h.cmd.Process.Pid
	syscall.Kill(pg, syscall.SIGINT)
	select {
	case err := <-h.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && (ee.ExitCode() == 130 || !ee.Exited()) {
			return nil
		}
		return err
	case <-time.After(h.grace):
		syscall.Kill(pg, syscall.SIGKILL)
		<-h.done
		return fmt.Errorf("still running %v after its interrupt: killed", h.grace)
	}
}
