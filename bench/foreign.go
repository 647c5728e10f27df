package bench

// procCPU is one process as a foreign-CPU snapshot reads it from
// /proc/PID/stat: its parent, whether it is a kernel thread, and its CPU
// time in ticks with that of its reaped children (utime + stime + cutime
// + cstime).
type procCPU struct {
	ppid   int
	kernel bool
	ticks  uint64
}

// procSnap is every process of the machine at one instant, by PID.
type procSnap map[int]procCPU

// foreignTicks is the CPU time (ticks) that processes other than self's
// own (self and its descendants, as either snapshot has them) and other
// than kernel threads (the receive softirq runs in ksoftirqd) took
// between snapshots a and b: on a machine shared with other people's
// builds and tests, what they took from a window. A process in both
// counts its growth; one born since a counts all of its time; one that
// ended is counted by its parent's reaped-children time, when the parent
// is in both.
func foreignTicks(a, b procSnap, self int) uint64 {
	// ours follows pid's parents in s up to self.
	ours := func(s procSnap, pid int) bool {
		for range 64 { // a bound on the depth, in case of a cycle from PID reuse
			if pid == self {
				return true
			}
			p, ok := s[pid]
			if !ok || p.ppid <= 1 {
				return false
			}
			pid = p.ppid
		}
		return false
	}
	var n uint64
	for pid, p := range b {
		if p.kernel || ours(b, pid) || ours(a, pid) { // a: an orphan of ours is ours
			continue
		}
		if q, ok := a[pid]; ok {
			if p.ticks > q.ticks {
				n += p.ticks - q.ticks
			}
			continue
		}
		n += p.ticks
	}
	return n
}
