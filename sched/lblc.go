package sched

import "lvs/ipvs"

// LBLC is locality-based least-connection scheduling (ip_vs_lblc.c): a cache
// maps each destination address (Flow.Dst) to the server last chosen for
// it. A cached server is reused while it is in the service, has weight > 0,
// is not overloaded, and is not "overloaded" in lblc's own sense (more active
// connections than its weight while another server is below half its
// weight); otherwise WLC picks one and the cache is rewritten.
//
// The cache has the kernel's 1024 chains, one lock each (where the kernel
// takes svc->sched_lock to write), and its garbage collection: every 60 s of
// Flow.Now, entries idle 6 min are dropped when there are more than 16384,
// and every 30th tick entries idle for the expiration (default 24 h) are.
// Pick runs that check itself when it is due, so the cache never depends on
// a timer goroutine. The check is cheap except on the full-sweep tick (every
// 30 min: one pass over all entries, ~10-25 µs at the 16384-entry nominal
// size); a daemon that wants even that off the packet path calls GC from
// its management goroutine, and picks then find the tick already done. GC
// also serves a service that sees no new connections.
//
// Deviation: the kernel's cache hit does not test IP_VS_DEST_F_OVERLOAD (the
// -x threshold), so it can return a server over its upper threshold; here a
// hit on such a server reschedules, because no scheduler may return an
// overloaded destination.
type LBLC struct {
	c *cache
}

// NewLBLC returns an lblc scheduler with an empty cache; opts.Expiration is
// lblc_expiration (0: 24 h).
func NewLBLC(opts ipvs.SchedOptions) *LBLC { return &LBLC{c: newCache(opts)} }

// Name returns "lblc".
func (l *LBLC) Name() string { return "lblc" }

// Update refreshes the destinations cached IDs resolve to. The cache itself
// survives edits, as the kernel's (lblc has no dest hooks).
func (l *LBLC) Update(s *ipvs.Service) { l.c.update(s) }

// GC runs the periodic cache check if it is due at now (see LBLC).
func (l *LBLC) GC(now ipvs.Tick) { l.c.GC(now) }

// Len returns the number of cached destination addresses.
func (l *LBLC) Len() int { return l.c.Len() }

// Pick returns the cached server for f.Dst's address, or a new WLC choice
// that it caches, as ip_vs_lblc_schedule.
func (l *LBLC) Pick(s *ipvs.Service, f *ipvs.Flow) *ipvs.Dest {
	now, addr := f.Now, f.Dst.Addr()
	l.c.GC(now)
	b := l.c.bucketOf(addr)
	b.mu.Lock()
	if i := b.find(addr); i >= 0 {
		e := &b.entries[i]
		e.lastuse = now
		id := e.set[0].id
		b.mu.Unlock()
		d := l.c.resolve(id)
		if d != nil && d.Weight > 0 && !d.C.Overloaded() && !lblcOverloaded(d, s.Dests) {
			return d
		}
	} else {
		b.mu.Unlock()
	}
	d := wlcPick(s.Dests)
	if d == nil {
		return nil
	}
	b.mu.Lock()
	if i := b.find(addr); i >= 0 { // ip_vs_lblc_new on an existing entry
		b.entries[i].set[0] = member{d.ID, d.C}
	} else {
		e := b.add(addr, now)
		e.set = append(e.set, member{d.ID, d.C})
		l.c.inserted()
	}
	b.mu.Unlock()
	return d
}
