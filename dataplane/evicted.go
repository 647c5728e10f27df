package dataplane

import (
	"time"

	"lvs/conntrack"
	"lvs/dataplane/fastpath"
)

// A frame of a flow direction the connection table marks offloaded
// reaches a worker for one of two reasons: the program punted it (a
// fragment, IP options, a frame over the MTU or with its TTL running out,
// a flow marked withdrawn when the ring was full), or the fast path no
// longer holds the direction: its LRU map evicted it to make room (the
// map grows, but a burst of new flows can fill it first), or it was
// flushed. An evicted direction would stay on the Go path for the rest of
// the flow's life, since a worker does not offer what the table marks
// offloaded; so the worker asks the fast path, and a direction it no
// longer holds is unmarked and offered again like a new one. The
// question is a system call, so a worker asks at most evictLooks times a
// second: a stream of punted frames cannot make every frame pay it.

// evictLooks is how many times a second a worker may ask the fast path
// whether it still holds a direction (about a microsecond each).
const evictLooks = 1000

// lookBudget is a worker's allowance of such questions.
type lookBudget struct {
	since time.Time // when the current second began
	used  int
}

// evicted reports whether the fast path no longer holds direction dir of
// c, which the table marks offloaded and a frame of which this worker is
// forwarding, and if so unmarks it, so that offer installs it again.
func (w *Worker) evicted(c conntrack.Conn, dir conntrack.Dir) bool {
	if w.now.Sub(w.looks.since) >= time.Second {
		w.looks = lookBudget{since: w.now}
	}
	if w.looks.used >= evictLooks {
		return false
	}
	w.looks.used++
	var k fastpath.Key
	switch {
	case c.IPv6():
		ks, in, out := w.d.keys6.get(c.Handle, dir == conntrack.DirInput, dir == conntrack.DirOutput)
		if !in && !out {
			return false // not recorded: being installed or withdrawn
		}
		k = ks[dir&1]
	case dir == conntrack.DirInput:
		k = inKey(c)
	default:
		k = outKey(c)
	}
	if w.d.fast.Holds(k) || !w.d.CT.SetOffloaded(c.Handle, dir, false) {
		return false
	}
	if c.IPv6() {
		w.d.keys6.drop(c.Handle, dir)
	}
	w.C.FastEvicted.Add(1)
	return true
}
