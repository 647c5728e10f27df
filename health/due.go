package health

import "container/heap"

// dueQueue holds the probes between two checks, earliest start first, so
// that the loop finds what is due without walking every probe: with a
// thousand real servers, a walk per finished check cost the director 1 %
// of a core (issue 15). A probe is in it while it is registered and not
// busy; its index is probeRun.idx, -1 when out.
type dueQueue []*probeRun

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx, q[j].idx = i, j
}

func (q *dueQueue) Push(x any) {
	pr := x.(*probeRun)
	pr.idx = len(*q)
	*q = append(*q, pr)
}

func (q *dueQueue) Pop() any {
	old := *q
	pr := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	pr.idx = -1
	return pr
}

// wait puts pr in the queue at its due time, or moves it there when it is
// in already.
func (q *dueQueue) wait(pr *probeRun) {
	if pr.idx >= 0 {
		heap.Fix(q, pr.idx)
		return
	}
	heap.Push(q, pr)
}

// drop takes pr out of the queue if it is in.
func (q *dueQueue) drop(pr *probeRun) {
	if pr.idx >= 0 {
		heap.Remove(q, pr.idx)
	}
}
