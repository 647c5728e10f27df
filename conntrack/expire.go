package conntrack

import (
	"sync/atomic"

	"lvs/ipvs"
)

// removeWhy says why an entry goes, which decides the last-moment checks
// and the counter it bumps.
type removeWhy uint8

const (
	removeDelete  removeWhy = iota // Delete: unconditional (templates wait for their connections)
	removeExpire                   // timer ran out: not if a packet re-armed it meanwhile
	removeEvict                    // table full: only if still half-open
	removeNodest                   // destination gone (expire_nodest_conn)
	removeResched                  // a new SYN replaces it (conn_reuse_mode)
)

// lockEntry locks the home shard of h and, if the entry is on a reply
// chain, that chain's shard, in shard order. ok is false when h is stale.
func (t *Table) lockEntry(h Handle) (a, b *shard, e *entry, ok bool) {
	ref := h.ref()
	if ref&localMask == 0 {
		return nil, nil, nil, false
	}
	a = &t.shards[ref>>localBits]
	a.mu.Lock()
	e = t.at(ref)
	if e == nil || e.gen != h.gen() || !e.live() {
		a.mu.Unlock()
		return nil, nil, nil, false
	}
	b = a
	if e.flags&flagRev != 0 {
		b = t.shardOf(t.revHash(ref, e))
	}
	if b == a {
		return a, b, e, true
	}
	if b.idx > a.idx {
		b.mu.Lock()
		return a, b, e, true
	}
	a.mu.Unlock()
	lockPair(a, b)
	if e.gen != h.gen() || !e.live() {
		unlockPair(a, b)
		return nil, nil, nil, false
	}
	return a, b, e, true
}

// remove deletes the entry h names, after the check its reason calls for.
// It reports whether the entry went.
func (t *Table) remove(h Handle, why removeWhy, now ipvs.Tick) bool {
	a, b, e, ok := t.lockEntry(h)
	if !ok {
		return false
	}
	keep := false
	switch why {
	case removeExpire:
		keep = !expired(e.expires, now)
	case removeEvict:
		keep = !e.state().halfOpen()
	}
	if e.template() && e.aux > 0 {
		// A template lives while it controls connections (ip_vs_conn_expire:
		// "do I control anybody?"); Delete only invalidates it.
		if why == removeDelete {
			a.beginWrite()
			atomic.StoreUint64(&e.k1, e.k1|kindInvalid)
			e.setFlag(uint32(FlagInvalid), true)
			a.endWrite()
		}
		keep = true
	}
	if keep {
		unlockPair(a, b)
		return false
	}
	beginPair(a, b)
	ctl := t.drop(a, b, h.ref(), e)
	endPair(a, b)
	unlockPair(a, b)
	if ctl != 0 {
		t.releaseCtl(ctl)
	}
	switch why {
	case removeEvict:
		t.st.evicted.Add(1)
	case removeNodest:
		t.st.nodest.Add(1)
	case removeResched:
		t.st.resched.Add(1)
	}
	t.st.expired.Add(1)
	return true
}

// drop unlinks e from its chains, unbinds it from its destination and frees
// its slot. The caller holds a (home) and b (reply shard) in write
// sections. It returns the ref of the template that controlled e, whose
// count the caller must release after unlocking.
func (t *Table) drop(a, b *shard, ref uint32, e *entry) uint32 {
	t.withdraw(ref, e)
	hs := *a.heads.Load()
	t.unlink(&hs[t.fwdHash(e)&uint64(len(hs)-1)], ref, nextOf)
	a.n--
	if e.flags&flagRev != 0 {
		rs := *b.rheads.Load()
		t.unlink(&rs[t.revHash(ref, e)&uint64(len(rs)-1)], ref, rnextOf)
		b.rn--
	}
	if c := t.reg.Dest(ipvs.DestID(e.dest)); c != nil {
		if e.flags&uint32(FlagTemplate) != 0 {
			c.Persist.Add(-1)
		} else {
			c.Unbind(e.flags&uint32(FlagInactive) == 0, e.epoch)
		}
	}
	if e.flags&uint32(FlagTemplate) == 0 && e.proto() == ipvs.TCP && e.state().halfOpen() {
		t.halfOpen.Add(-1)
	}
	var ctl uint32
	if !e.template() {
		ctl = e.aux
	}
	e.aux = 0
	if e.hasRec() {
		a.release6(t, ref, e)
	}
	a.release(ref&localMask, e)
	t.count.Add(-1)
	return ctl
}

// releaseCtl drops one controlled connection from template ref. The template
// itself goes at its next expiry once it controls nothing.
func (t *Table) releaseCtl(ref uint32) {
	c := &t.shards[ref>>localBits]
	c.mu.Lock()
	if te := t.at(ref); te != nil && te.live() && te.template() && te.aux > 0 {
		te.aux--
	}
	c.mu.Unlock()
}

// Delete removes the entry h names at once (ipvsadm has no such command; the
// daemon uses it for flushes and tests). A template that still controls
// connections is invalidated instead and goes when they are gone. It
// reports whether h named a live entry.
func (t *Table) Delete(h Handle) bool {
	if t.remove(h, removeDelete, 0) {
		return true
	}
	c, ok := t.Get(h)
	return ok && c.Flags()&FlagInvalid != 0
}

// sweepBatch bounds how many candidates one shard visit collects, so a lock
// is held for a bounded time.
const (
	sweepBatch = 64
	sweepSlots = 256 // slots looked at per lock hold
	// freeSlotCost is how many free slots one unit of Expire's budget pays
	// for. A budget in live entries (Len()/5 every 200 ms) would otherwise
	// crawl over a slab a flood grew: 1.75M slots at 4k a call, a pass
	// every 85 s, left a drained flood's last entries a minute or more
	// past their timeouts.
	freeSlotCost = 64
)

// Expire looks at up to budget entries (a free slot costs 1/freeSlotCost
// of one), shard after shard from where the last call stopped, and removes
// entries whose timer ran out, and (with expire_nodest_conn) entries whose
// destination left the table. A template that still controls connections
// is re-armed instead (expire_later in ip_vs_conn_expire). It returns how
// many entries went. Call it from one goroutine every fraction of a second
// with a budget that covers the table's entries in about a second (e.g.
// Len()/10+1024 every 100 ms): expiry is then late by at most that period,
// and no lock is held for more than 256 slots. One call never goes round
// the table more than once. At the end of each shard's pass it gives back
// the chunks and buckets the shard no longer needs (compact.go), so a
// table a flood grew shrinks as it drains.
func (t *Table) Expire(now ipvs.Tick, budget int) int {
	t.sweepMu.Lock()
	defer t.sweepMu.Unlock()
	set := t.set.Load()
	var cand [sweepBatch]Handle
	var why [sweepBatch]removeWhy
	var fresh [sweepBatch]Handle // offloaded entries whose timer to bring up to date (offload.go)
	removed, free := 0, 0
	for finished := 0; budget > 0 && finished < numShards; { // at most one pass per call
		s := &t.shards[t.sweepAt]
		budget--
		s.mu.Lock()
		cs := *s.chunks.Load() // changes only under s.mu
		n, nf, done := 0, 0, false
		for scanned := 0; n < sweepBatch && nf < sweepBatch && budget > 0 && scanned < sweepSlots; scanned++ {
			if s.cursor == 0 {
				s.cursor = 1
			}
			if s.cursor >= s.used {
				s.cursor, done = 1, true
				break
			}
			ref := mkRef(s.idx, s.cursor)
			if cs[s.cursor>>chunkBits] == emptyChunk { // given back (compact.go): nothing there
				s.cursor = (s.cursor>>chunkBits + 1) << chunkBits
				continue
			}
			s.cursor++
			e := t.at(ref)
			if !e.live() {
				if free++; free%freeSlotCost == 0 {
					budget--
				}
				continue
			}
			budget--
			if w, ok := t.due(e, set, now); ok {
				cand[n], why[n] = mkHandle(ref, e.gen), w
				n++
			} else if t.behind(e, now) {
				fresh[nf] = mkHandle(ref, e.gen)
				nf++
			}
		}
		s.mu.Unlock()
		for _, h := range fresh[:nf] {
			t.rearmSeen(h, now)
		}
		for i := range n {
			if why[i] == removeExpire && t.rearmSeen(cand[i], now) {
				continue // the offload forwarded it meanwhile (offload.go)
			}
			if t.remove(cand[i], why[i], now) {
				removed++
			}
		}
		if done {
			s.mu.Lock()
			freed := t.compact(s)
			s.mu.Unlock()
			t.sweepAt = (t.sweepAt + 1) % numShards
			t.gaveBack(freed, t.sweepAt == 0)
			finished++
		}
	}
	return removed
}

// due decides whether the sweep removes e: a run-out timer, or a dead
// destination under expire_nodest_conn. A controlling entry whose timer ran
// out is re-armed. Caller holds e's home lock.
func (t *Table) due(e *entry, set *Settings, now ipvs.Tick) (removeWhy, bool) {
	controls := e.template() && e.aux > 0
	if expired(e.expires, now) {
		if controls {
			e.expires = deadline(now, int64(e.extra))
			return 0, false
		}
		return removeExpire, true
	}
	if set.ExpireNodestConn && !controls {
		if c := t.reg.Dest(ipvs.DestID(e.dest)); c == nil || !c.Available() {
			return removeNodest, true
		}
	}
	return 0, false
}
