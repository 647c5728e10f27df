// Package procstat reads /proc/PID/stat: enough to tell whether a process
// recorded earlier (by PID and start time) still runs, which the simulator's
// and the benchmark's crash sweeps need, and its CPU times.
package procstat

import (
	"os"
	"strconv"
	"strings"
)

// Fields returns the fields of /proc/PID/stat after the command name:
// f[0] is the state (field 3 of proc(5)), f[11] utime, f[12] stime,
// f[19] the start time.
func Fields(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i := strings.LastIndexByte(string(b), ')') // comm may hold spaces
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

// Stat returns the state letter and start time of pid.
func Stat(pid int) (state byte, start uint64, ok bool) {
	f, ok := Fields(pid)
	if !ok || len(f) < 20 {
		return 0, 0, false
	}
	start, _ = strconv.ParseUint(f[19], 10, 64) // field 22 of stat
	return f[0][0], start, true
}

// Alive reports whether process pid, started at start (0: any time), runs:
// a zombie or a reused PID counts as dead.
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, st, ok := Stat(pid)
	return ok && state != 'Z' && state != 'X' && (start == 0 || st == start)
}
