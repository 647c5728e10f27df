//go:build linux

package bench

import (
	"os"
	"strconv"

	"lvs/internal/procstat"
)

// pfKthread is PF_KTHREAD in /proc/PID/stat's flags.
const pfKthread = 0x00200000

// readProcSnap reads every process's parent, kind and CPU time.
func readProcSnap() procSnap {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	s := make(procSnap, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := procstat.Fields(pid)
		if !ok || len(f) < 15 {
			continue // ended meanwhile
		}
		num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
		ppid, _ := strconv.Atoi(f[1])
		s[pid] = procCPU{ppid: ppid, kernel: num(6)&pfKthread != 0, ticks: num(11) + num(12) + num(13) + num(14)}
	}
	return s
}
