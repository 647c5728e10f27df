//go:build linux

package bench

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// speedLead is how long before a window its first speed probe starts
// (speedTries workloads of about 3.5 ms, with room to be preempted).
const speedLead = 80 * time.Millisecond

// speedTries is how many times a speed probe runs its workload; it keeps
// the fastest, which a preemption or a cold cache cannot lengthen.
const speedTries = 5

// speedProbe returns the CPU time (of the thread, so not the time other
// work on the core took meanwhile) that spinWork's fixed workload takes on
// cpu: the fastest of speedTries. The same instructions on the same core
// take longer when the machine under the VM is busier; read at both edges
// of a window, it says how fast the core was there, for every contender
// alike. It runs on a fresh OS thread pinned to cpu at trafficNice, which
// ends with it.
func speedProbe(cpu int) (time.Duration, error) {
	type res struct {
		d   time.Duration
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the pinned thread exits with the goroutine
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			ch <- res{err: fmt.Errorf("pinning the speed probe to CPU %d: %w", cpu, err)}
			return
		}
		unix.Setpriority(unix.PRIO_PROCESS, 0, trafficNice)
		table := make([]uint64, spinTable)
		best := time.Duration(1<<63 - 1)
		for range speedTries {
			clear(table)
			t0, err := threadCPU()
			if err != nil {
				ch <- res{err: err}
				return
			}
			spinWork(table, spinRounds)
			t1, err := threadCPU()
			if err != nil {
				ch <- res{err: err}
				return
			}
			best = min(best, t1-t0)
		}
		ch <- res{d: best}
	}()
	r := <-ch
	return r.d, r.err
}

// threadCPU is the calling thread's CPU time.
func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("thread CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
