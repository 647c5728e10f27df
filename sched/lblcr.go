package sched

import "lvs/ipvs"

// LBLCR is locality-based least-connection with replication
// (ip_vs_lblcr.c): each destination address (Flow.Dst) maps to a set of
// servers. A hit picks the set's weighted least-connection member; when the
// set has more than one member and has not changed for the expiration
// (default 24 h), its weighted most-connection member is dropped. When no
// member qualifies, or the choice is overloaded in lblc's sense, WLC over
// the whole service picks a server and it joins the set.
//
// Cache structure, locking and garbage collection are lblc's (see LBLC).
// The set of an entry is only touched under its chain's lock.
type LBLCR struct {
	c *cache
}

// NewLBLCR returns an lblcr scheduler with an empty cache; opts.Expiration
// is lblcr_expiration (0: 24 h).
func NewLBLCR(opts ipvs.SchedOptions) *LBLCR { return &LBLCR{c: newCache(opts)} }

// Name returns "lblcr".
func (l *LBLCR) Name() string { return "lblcr" }

// Update refreshes the destinations cached IDs resolve to.
func (l *LBLCR) Update(s *ipvs.Service) { l.c.update(s) }

// GC runs the periodic cache check if it is due at now (see LBLC).
func (l *LBLCR) GC(now ipvs.Tick) { l.c.GC(now) }

// Len returns the number of cached destination addresses.
func (l *LBLCR) Len() int { return l.c.Len() }

// Pick returns a server for f.Dst's address as ip_vs_lblcr_schedule.
func (l *LBLCR) Pick(s *ipvs.Service, f *ipvs.Flow) *ipvs.Dest {
	now, addr := f.Now, f.Dst.Addr()
	l.c.GC(now)
	b := l.c.bucketOf(addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.find(addr)
	if i < 0 {
		d := wlcPick(s.Dests)
		if d != nil { // ip_vs_lblcr_new
			e := b.add(addr, now)
			e.set = append(e.set, member{d.ID, d.C})
			l.c.inserted()
		}
		return d
	}
	e := &b.entries[i]
	e.lastuse = now
	d := l.setMin(e.set)
	if len(e.set) > 1 && now > e.lastmod+l.c.expiration {
		if m := setMax(e.set); m >= 0 { // ip_vs_dest_set_erase
			e.set = append(e.set[:m], e.set[m+1:]...)
			e.lastmod = now
		}
	}
	if d != nil && !lblcOverloaded(d, s.Dests) {
		return d
	}
	if d = wlcPick(s.Dests); d == nil {
		return nil
	}
	for _, m := range e.set { // ip_vs_dest_set_insert with check
		if m.id == d.ID {
			return d
		}
	}
	e.set = append(e.set, member{d.ID, d.C})
	e.lastmod = now
	return d
}

// setMin is ip_vs_dest_set_min: walking newest first, the first member in
// the service with weight > 0 that is not overloaded, then any later member
// with a strictly lower overhead/weight.
func (l *LBLCR) setMin(set []member) *ipvs.Dest {
	var least *ipvs.Dest
	var loh, lw int64
	for k := len(set) - 1; k >= 0; k-- {
		d := l.c.resolve(set[k].id)
		if d == nil || d.Weight <= 0 || d.C.Overloaded() {
			continue
		}
		doh, dw := d.C.SchedOverhead(), int64(d.Weight)
		if least == nil || loh*dw > doh*lw {
			least, loh, lw = d, doh, dw
		}
	}
	return least
}

// setMax is ip_vs_dest_set_max: walking newest first, the first member with
// weight > 0, then any later member with weight > 0 and a strictly higher
// overhead/weight. It reads the live counters, so a member deleted from the
// service can still be chosen (and so dropped). It returns the index in set,
// or -1.
func setMax(set []member) int {
	most := -1
	var moh, mw int64
	for k := len(set) - 1; k >= 0; k-- {
		c := set[k].c
		w := int64(c.Weight())
		if w <= 0 {
			continue
		}
		doh := c.SchedOverhead()
		if most < 0 || moh*w < doh*mw {
			most, moh, mw = k, doh, w
		}
	}
	return most
}
