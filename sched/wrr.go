package sched

import (
	"slices"
	"sync/atomic"

	"lvs/ipvs"
)

// WRR is weighted round-robin scheduling (ip_vs_wrr.c): passes over the list
// with a current weight cw that starts at the maximum weight and falls by the
// weights' gcd, each pass picking the destinations whose weight is at least
// cw. Weights 4, 3, 2 give A A B A B C A B C.
//
// The kernel's mark (cursor, cw) is one atomic word here, advanced by
// compare-and-swap where ip_vs_wrr_schedule takes svc->sched_lock; di and mw
// are a second word, written only by Update.
//
// Differences from the kernel, none visible in a single-writer sequence:
// weights are the snapshot's (the kernel re-reads dest->weight), the cursor
// is a list index (a pick still running on the previous snapshot clamps an
// index past its end to the head), and whole passes that cannot pick are
// skipped arithmetically (see wrrWalk).
type WRR struct {
	state  atomic.Uint64 // low 32 bits: cursor+1 (0 = list head); high 32: cw
	params atomic.Uint64 // low 32 bits: di (gcd); high 32: mw (max - (di-1))

	prev []*ipvs.Dest // the list of the last Update; only the writer touches it
}

// NewWRR returns a weighted round-robin scheduler for an empty service.
func NewWRR() *WRR {
	w := &WRR{}
	w.params.Store(packWRR(0, 1))
	w.state.Store(packWRR(0, 0))
	return w
}

// packWRR packs a (high, low) pair of 32-bit values into one word.
func packWRR(high, low int32) uint64 { return uint64(uint32(high))<<32 | uint64(uint32(low)) }

// Name returns "wrr".
func (w *WRR) Name() string { return "wrr" }

// Pick returns the next destination of the weighted walk, as
// ip_vs_wrr_schedule. The cursor and cw move even when Pick returns nil,
// as in the kernel.
func (w *WRR) Pick(s *ipvs.Service, _ *ipvs.Flow) *ipvs.Dest {
	for {
		st, p := w.state.Load(), w.params.Load()
		c, cw := int(int32(uint32(st)))-1, int32(st>>32)
		di, mw := int32(uint32(p)), int32(p>>32)
		d, nc, ncw := wrrWalk(s.Dests, c, cw, di, mw)
		if w.state.CompareAndSwap(st, packWRR(ncw, int32(nc+1))) {
			return d
		}
	}
}

// wrrWalk is one ip_vs_wrr_schedule from cursor c (-1: head) and current
// weight cw; it returns the pick and the new cursor and cw.
//
// It adds one shortcut the kernel lacks, with the same result: after a full
// pass that found nothing, the passes whose cw is still above both di and the
// largest eligible weight seen would find nothing either and change no other
// state (no restart, no last pass), so cw jumps over them at once. Without it
// one overloaded heavy destination costs max-weight/gcd passes per pick.
func wrrWalk(dests []*ipvs.Dest, c int, cw, di, mw int32) (*ipvs.Dest, int, int32) {
	n := len(dests)
	if c >= n { // a cursor of a longer list, while a stale snapshot is in use
		c = -1
	}
	if mw <= 0 {
		return nil, c, cw // no weight > 0 at all: err_noavail
	}
	if di <= 0 {
		di = 1
	}
	if cw <= 0 { // only after a racing Update; the kernel's cw is never 0 here
		cw = mw
	}
	last, stop := c, -2
	lastPass, restarted := false, false
	for i := c; ; i = -1 {
		full := i == -1
		var maxw int32 // largest eligible weight below cw seen in this pass
		for i++; i < n; i++ {
			d := dests[i]
			if d.Weight >= cw {
				if d.Weight > 0 && !d.C.Overloaded() {
					return d, i, cw
				}
			} else if d.Weight > maxw && !d.C.Overloaded() {
				maxw = d.Weight
			}
			if i == stop {
				return nil, i, cw // err_over
			}
		}
		if u := max(maxw, 1, di); full && cw-di > u {
			cw -= (cw - u - 1) / di * di
		}
		cw -= di
		if cw <= 0 {
			cw = mw
			if lastPass || last == -1 {
				return nil, -1, cw // err_over from the head
			}
			restarted = true
		}
		lastPass = cw <= di
		if lastPass && restarted && last != -1 {
			stop = last
		}
	}
}

// Update recomputes di and mw and resets the walk as ip_vs_wrr_dest_changed,
// the kernel's add_dest, del_dest and upd_dest hook: the cursor goes to the
// head; cw becomes mw if it is above mw or 0, else with di > 1 it is rounded
// to (cw/di)*di + 1. An Update that changed no destination (a service edit)
// changes nothing, since the kernel calls no hook then.
func (w *WRR) Update(s *ipvs.Service) {
	if w.prev != nil && slices.Equal(w.prev, s.Dests) {
		return
	}
	w.prev = s.Dests
	var g, maxw int32
	for _, d := range s.Dests {
		if d.Weight > 0 {
			g = gcd(g, d.Weight)
		}
		maxw = max(maxw, d.Weight)
	}
	di := max(g, 1)
	mw := maxw - (di - 1)
	w.params.Store(packWRR(mw, di))
	for {
		st := w.state.Load()
		cw := int32(st >> 32)
		switch {
		case cw > mw || cw == 0:
			cw = mw
		case di > 1:
			cw = cw/di*di + 1
		}
		if w.state.CompareAndSwap(st, packWRR(cw, 0)) {
			return
		}
	}
}

// gcd returns the greatest common divisor of a and b (gcd(0, b) = b), as
// lib/math/gcd.c for the non-negative weights it is used on.
func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Sequence is the cycle of picks from the state Update leaves (cursor at
// the head, cw = mw), walked with the same wrrWalk as Pick: every available
// destination appears weight/gcd times, so the cycle is that long
// (ipvs.Sequencer).
func (w *WRR) Sequence(s *ipvs.Service, limit int) []*ipvs.Dest {
	var g, maxw int32
	n := 0
	for _, d := range s.Dests {
		if d.Weight > 0 {
			g = gcd(g, d.Weight)
		}
		maxw = max(maxw, d.Weight)
	}
	di := max(g, 1)
	mw := maxw - (di - 1)
	for _, d := range s.Dests {
		if d.Available() {
			n += int(d.Weight / di)
		}
	}
	if n == 0 || n > limit {
		return nil
	}
	seq := make([]*ipvs.Dest, 0, n)
	c, cw := -1, mw
	for range n {
		var d *ipvs.Dest
		d, c, cw = wrrWalk(s.Dests, c, cw, di, mw)
		if d == nil {
			return nil
		}
		seq = append(seq, d)
	}
	return seq
}
