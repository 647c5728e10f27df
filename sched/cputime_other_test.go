//go:build !linux

package sched

import "testing"

// threadCPU is unavailable off Linux; benchmarks then report 0.
func threadCPU(testing.TB) int64 { return 0 }
