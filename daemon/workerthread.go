package daemon

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// workerThread gives the calling goroutine, a worker about to run, an OS
// thread of its own for as long as it runs, at the nice value
// --worker-nice asks for. The reason is the core a worker shares with the
// receive softirq: under load the kernel runs the softirq's backlog in
// ksoftirqd, a thread of nice 0, and the scheduler then splits the core
// between it and the worker evenly, preempting the worker even inside a
// sendmmsg (cond_resched); the frames the fast path leaves to the worker
// (a connection's RST, a new flow it may not schedule) wait in a ring that
// overflows, and a lost RST leaves a stale connection a reused client port
// runs into. Measured: make bench's TCP window with --kernel-schedule=all
// lost 3–14 connections per 2 s window at nice 0, none at -5 or -10.
// A refused change (no CAP_SYS_NICE) is logged and the worker runs as is.
func (d *lvsd) workerThread() {
	runtime.LockOSThread() // never unlocked: the thread ends with the worker
	if d.opts.WorkerNice == 0 {
		return
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), d.opts.WorkerNice); err != nil {
		d.log.Warn("worker thread keeps its priority", "nice", d.opts.WorkerNice, "err", err)
	}
}
