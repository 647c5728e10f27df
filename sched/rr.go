package sched

import (
	"sync/atomic"

	"lvs/ipvs"
)

// RR is round-robin scheduling (ip_vs_rr.c). Its cursor is the list index of
// the last destination picked, or -1 for the list head, in one atomic word:
// Pick advances it with compare-and-swap where the kernel takes
// svc->sched_lock, so concurrent picks are serialised exactly as there. A
// pick still running on the previous snapshot after an Update may see an
// index past its list's end; it starts from the head then.
type RR struct {
	cursor atomic.Int64 // index into Service.Dests of the last pick; -1: head

	prev []*ipvs.Dest // the list of the last Update; only the writer touches it
}

// NewRR returns a round-robin scheduler with its cursor at the list head, as
// ip_vs_rr_init_svc.
func NewRR() *RR {
	r := &RR{}
	r.cursor.Store(-1)
	return r
}

// Name returns "rr".
func (r *RR) Name() string { return "rr" }

// Pick returns the next available destination after the cursor, wrapping
// once, as ip_vs_rr_schedule: from the head it walks the list once; from a
// destination it walks to the end and on from the start up to and including
// that destination. Weight 0 and overloaded destinations are passed over; if
// none is available the cursor stays put and Pick returns nil.
func (r *RR) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	dests := s.Dests
	n := int64(len(dests))
	for {
		old := r.cursor.Load()
		c := old
		if c >= n { // a cursor of a longer list, while a stale snapshot is in use
			c = -1
		}
		i := rrNext(dests, c+1, n)
		if i < 0 {
			i = rrNext(dests, 0, c+1)
		}
		if i < 0 {
			return nil
		}
		if r.cursor.CompareAndSwap(old, i) {
			return dests[i]
		}
	}
}

// rrNext returns the first available index in [from, to), or -1.
func rrNext(dests []*ipvs.Dest, from, to int64) int64 {
	for i := from; i < to; i++ {
		if d := dests[i]; d.Weight > 0 && !d.C.Overloaded() {
			return i
		}
	}
	return -1
}

// Update keeps the cursor on the same destination across an edit. When that
// destination was deleted the cursor moves to the one before it (or the
// head), as ip_vs_rr_del_dest, so the walk resumes where it would have.
// Added destinations go to the end and do not move the cursor (rr has no
// add_dest or upd_dest hook).
func (r *RR) Update(s *ipvs.Service) {
	old := r.prev
	r.prev = s.Dests
	for {
		c := r.cursor.Load()
		nc := remapCursor(old, s.Dests, c)
		if nc == c || r.cursor.CompareAndSwap(c, nc) {
			return
		}
	}
}

// remapCursor returns the index in nw of the destination at index c of old,
// or of the nearest one before it that is still there; -1 for none.
func remapCursor(old, nw []*ipvs.Dest, c int64) int64 {
	if c < 0 || c >= int64(len(old)) {
		return -1
	}
	if c < int64(len(nw)) && nw[c].ID == old[c].ID {
		return c
	}
	pos := make(map[ipvs.DestID]int64, len(nw))
	for i, d := range nw {
		pos[d.ID] = int64(i)
	}
	for k := c; k >= 0; k-- {
		if i, ok := pos[old[k].ID]; ok {
			return i
		}
	}
	return -1
}

// Sequence lists the available destinations in list order: the cycle of
// Pick from the head (ipvs.Sequencer).
func (r *RR) Sequence(s *ipvs.Service, limit int) []*ipvs.Dest {
	var seq []*ipvs.Dest
	n := int64(len(s.Dests))
	for i := rrNext(s.Dests, 0, n); i >= 0; i = rrNext(s.Dests, i+1, n) {
		if len(seq) == limit {
			return nil
		}
		seq = append(seq, s.Dests[i])
	}
	return seq
}
