package conntrack

import (
	"sync/atomic"

	"lvs/ipvs"
)

// prefetchGroup is how many keys a batch call warms up at a time: enough
// misses in flight to hide DRAM latency, few enough that the lines are still
// cached when the per-key pass reaches them.
const prefetchGroup = 16

// One lookup is two dependent cache misses (bucket, then entry), about two
// DRAM latencies at a million flows. A batch first packs and hashes its
// keys and touches their buckets, then their chains' first entries, each
// pass a loop of independent loads the CPU overlaps, and only then runs the
// per-key code on warm lines. The touches are atomic loads, so the compiler
// keeps them and the race detector agrees; a stale touch only costs a miss.

// packed is a key packed and hashed by the warm-up pass; ok is false for a
// key that is not IPv4 (an IPv6 key then takes the one-key path).
type packed struct {
	w0, w1, h uint64
	ok        bool
}

// warmFwd packs keys into p and touches their buckets and first entries.
func (t *Table) warmFwd(keys []Key, p *[prefetchGroup]packed) {
	var refs [prefetchGroup]uint32
	for i := range keys {
		k0, k1, ok := packKey(keys[i], kindConn)
		h := t.hash(k0, k1&^kindMask)
		p[i] = packed{k0, k1, h, ok}
		if ok {
			hs := *t.shardOf(h).heads.Load()
			refs[i] = atomic.LoadUint32(&hs[h&uint64(len(hs)-1)])
		}
	}
	t.touchEntries(refs[:len(keys)])
}

// warmRev is warmFwd for reply keys.
func (t *Table) warmRev(keys []ReplyKey, p *[prefetchGroup]packed) {
	var refs [prefetchGroup]uint32
	for i := range keys {
		r0, r1, ok := packReply(keys[i])
		h := t.hash(r0, r1)
		p[i] = packed{r0, r1, h, ok}
		if ok {
			hs := *t.shardOf(h).rheads.Load()
			refs[i] = atomic.LoadUint32(&hs[h&uint64(len(hs)-1)])
		}
	}
	t.touchEntries(refs[:len(keys)])
}

func (t *Table) touchEntries(refs []uint32) {
	for _, ref := range refs {
		if ref != 0 {
			if e := t.at(ref); e != nil {
				atomic.LoadUint64(&e.k0)
			}
		}
	}
}

// LookupBatch is Lookup for every key: out[i] and found[i] receive the
// result for keys[i]. out and found must be at least as long as keys.
func (t *Table) LookupBatch(keys []Key, out []Conn, found []bool) {
	var p [prefetchGroup]packed
	for len(keys) > 0 {
		n := min(len(keys), prefetchGroup)
		t.warmFwd(keys[:n], &p)
		for i := range n {
			out[i], found[i] = Conn{}, false
			if p[i].ok {
				out[i], found[i] = t.lookup(p[i].w0, p[i].w1, p[i].h)
			} else {
				out[i], found[i] = t.lookup6(keys[i])
			}
		}
		keys, out, found = keys[n:], out[n:], found[n:]
	}
}

// LookupReplyBatch is LookupReply for every key.
func (t *Table) LookupReplyBatch(keys []ReplyKey, out []Conn, found []bool) {
	var p [prefetchGroup]packed
	for len(keys) > 0 {
		n := min(len(keys), prefetchGroup)
		t.warmRev(keys[:n], &p)
		for i := range n {
			out[i], found[i] = Conn{}, false
			h, ok := Handle(0), false
			if p[i].ok {
				h, ok = t.replyRefPacked(p[i].w0, p[i].w1, p[i].h)
			} else {
				h, ok = t.replyRef6(keys[i])
			}
			if ok {
				out[i], found[i] = t.Get(h)
			}
		}
		keys, out, found = keys[n:], out[n:], found[n:]
	}
}

// InBatch is In for a batch of client packets: packet i has key keys[i]
// and TCP flags flags[i]; its entry and verdict land in out[i] and vd[i].
// Packets are applied in order, so two packets of one flow in a batch
// step it twice, as they would one by one.
func (t *Table) InBatch(keys []Key, flags []TCPFlags, now ipvs.Tick, out []Conn, vd []Verdict) {
	var p [prefetchGroup]packed
	for len(keys) > 0 {
		n := min(len(keys), prefetchGroup)
		t.warmFwd(keys[:n], &p)
		for i := range n {
			out[i], vd[i] = Conn{}, Miss
			if p[i].ok {
				out[i], vd[i] = t.in(p[i].w0, p[i].w1, p[i].h, nil, flags[i], now)
			} else {
				out[i], vd[i] = t.in6(keys[i], flags[i], now)
			}
		}
		keys, flags, out, vd = keys[n:], flags[n:], out[n:], vd[n:]
	}
}

// OutBatch is Out for a batch of NAT replies.
func (t *Table) OutBatch(keys []ReplyKey, flags []TCPFlags, now ipvs.Tick, out []Conn, found []bool) {
	var p [prefetchGroup]packed
	for len(keys) > 0 {
		n := min(len(keys), prefetchGroup)
		t.warmRev(keys[:n], &p)
		for i := range n {
			out[i], found[i] = Conn{}, false
			h, ok := Handle(0), false
			if p[i].ok {
				h, ok = t.replyRefPacked(p[i].w0, p[i].w1, p[i].h)
			} else {
				h, ok = t.replyRef6(keys[i])
			}
			if ok {
				out[i], found[i] = t.Update(h, DirOutput, flags[i], now)
			}
		}
		keys, flags, out, found = keys[n:], flags[n:], out[n:], found[n:]
	}
}
