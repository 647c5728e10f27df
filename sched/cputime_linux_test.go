package sched

import (
	"syscall"
	"testing"
)

// threadCPU returns the CPU time the calling OS thread has used, in ns
// (getrusage RUSAGE_THREAD). Benchmarks report it beside wall time because
// the shared build machine is often oversubscribed, which inflates wall time
// but not the CPU time a pick costs.
func threadCPU(tb testing.TB) int64 {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
