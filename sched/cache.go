package sched

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lvs/ipvs"
)

// The lblc/lblcr cache constants (ip_vs_lblc.c, ip_vs_lblcr.c), in Ticks.
const (
	cacheBits         = 10 // IP_VS_LBLC_TAB_BITS
	cacheSize         = 1 << cacheBits
	cacheMax          = cacheSize * 16                                 // tbl->max_size
	checkInterval     = ipvs.Tick(60 * time.Second / time.Millisecond) // CHECK_EXPIRE_INTERVAL
	entryTimeout      = ipvs.Tick(6 * time.Minute / time.Millisecond)  // ENTRY_TIMEOUT
	defaultExpiration = 24 * time.Hour                                 // DEFAULT_EXPIRATION
	countForFull      = 30                                             // COUNT_FOR_FULL_EXPIRATION
	tickUnset         = math.MinInt64
)

// member is one destination a cache entry points at. The ID finds the
// destination in the current table; the Counters outlive it, so lblcr can
// still weigh a deleted member, as the kernel's held dest reference does.
type member struct {
	id ipvs.DestID
	c  *ipvs.Counters
}

// entry maps a destination address to its server (lblc: set has exactly one
// member) or server set (lblcr: newest member last, so walking it backwards
// is the kernel's list order after list_add_rcu at the head).
type entry struct {
	addr    netip.Addr
	lastuse ipvs.Tick
	lastmod ipvs.Tick // lblcr: when the set last changed
	set     []member
}

// bucket is one hash chain. Entries are values, and removal swaps the dead
// entry past the end, so a later insert reuses its memory: picks allocate
// only when a bucket grows past its high-water mark.
type bucket struct {
	mu      sync.Mutex // guards entries and the entries' fields
	entries []entry
}

// cache is the per-service table shared by lblc and lblcr, with the kernel's
// periodic garbage collection driven by Flow.Now instead of a timer.
type cache struct {
	buckets    [cacheSize]bucket
	count      atomic.Int64                               // tbl->entries
	next       atomic.Int64                               // Tick of the next periodic check; tickUnset before the first pick
	view       atomic.Pointer[map[ipvs.DestID]*ipvs.Dest] // the destinations of the last Update
	expiration ipvs.Tick                                  // lblc_expiration / lblcr_expiration

	gcMu    sync.Mutex // guards rover and counter
	rover   int
	counter int
}

func newCache(opts ipvs.SchedOptions) *cache {
	exp := opts.Expiration
	if exp <= 0 {
		exp = defaultExpiration
	}
	c := &cache{expiration: ipvs.Tick(exp / time.Millisecond), counter: 1}
	c.next.Store(tickUnset)
	empty := map[ipvs.DestID]*ipvs.Dest{}
	c.view.Store(&empty)
	return c
}

// update publishes the destinations of s for resolving cached IDs.
func (c *cache) update(s *ipvs.Service) {
	v := make(map[ipvs.DestID]*ipvs.Dest, len(s.Dests))
	for _, d := range s.Dests {
		v[d.ID] = d
	}
	c.view.Store(&v)
}

// resolve returns the current destination with id, or nil when it is no
// longer in the service (the kernel's !IP_VS_DEST_F_AVAILABLE).
func (c *cache) resolve(id ipvs.DestID) *ipvs.Dest { return (*c.view.Load())[id] }

// bucketOf returns the chain for addr (hash_32 of the folded address).
func (c *cache) bucketOf(addr netip.Addr) *bucket {
	return &c.buckets[hash32(fold(addr), cacheBits)]
}

// find returns the index of addr's entry, or -1. b.mu must be held.
func (b *bucket) find(addr netip.Addr) int {
	for i := range b.entries {
		if b.entries[i].addr == addr {
			return i
		}
	}
	return -1
}

// add appends an entry for addr with an empty set, reusing the memory of a
// removed entry when there is one. b.mu must be held.
func (b *bucket) add(addr netip.Addr, now ipvs.Tick) *entry {
	n := len(b.entries)
	if n < cap(b.entries) {
		b.entries = b.entries[:n+1]
	} else {
		b.entries = append(b.entries, entry{})
	}
	e := &b.entries[n]
	e.addr, e.lastuse, e.lastmod, e.set = addr, now, now, e.set[:0]
	return e
}

// expire removes the entries idle for at least idle and returns how many.
// b.mu must not be held.
func (b *bucket) expire(now, idle ipvs.Tick) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	removed := 0
	for i := 0; i < len(b.entries); {
		if now < b.entries[i].lastuse+idle { // time_before(now, lastuse + idle)
			i++
			continue
		}
		last := len(b.entries) - 1
		b.entries[i], b.entries[last] = b.entries[last], b.entries[i]
		b.entries = b.entries[:last]
		removed++
	}
	return removed
}

// inserted counts a new entry.
func (c *cache) inserted() { c.count.Add(1) }

// GC runs the kernel's periodic check (ip_vs_lblc_check_expire) if now is at
// or past its next tick, and schedules the next one CHECK_EXPIRE_INTERVAL
// later. Pick calls it with Flow.Now, so nothing else has to; missed ticks
// (an idle service) collapse into one. One caller wins each tick.
func (c *cache) GC(now ipvs.Tick) {
	nx := ipvs.Tick(c.next.Load())
	if nx == tickUnset { // the kernel arms its timer at init_svc; we at the first pick
		c.next.CompareAndSwap(tickUnset, int64(now+checkInterval))
		return
	}
	if now < nx || !c.next.CompareAndSwap(int64(nx), int64(now+checkInterval)) {
		return
	}
	c.gcMu.Lock()
	defer c.gcMu.Unlock()
	if c.counter%countForFull == 0 {
		c.sweep(now, c.expiration, math.MaxInt64) // ip_vs_lblc_full_check
		c.counter = 1
		return
	}
	n := c.count.Load()
	if n <= cacheMax {
		c.counter++
		return
	}
	goal := min((n-cacheMax)*4/3, cacheMax/2)
	c.sweep(now, entryTimeout, goal)
}

// sweep walks the buckets after the rover, dropping entries idle for at
// least idle, until goal entries are gone or every bucket was seen.
// c.gcMu must be held.
func (c *cache) sweep(now, idle ipvs.Tick, goal int64) {
	j := c.rover
	for range cacheSize {
		j = (j + 1) & (cacheSize - 1)
		n := c.buckets[j].expire(now, idle)
		c.count.Add(-int64(n))
		if goal -= int64(n); goal <= 0 {
			break
		}
	}
	c.rover = j
}

// Len returns the number of cached destination addresses.
func (c *cache) Len() int { return int(c.count.Load()) }

// lblcOverloaded is the kernel's is_overloaded of ip_vs_lblc.c and
// ip_vs_lblcr.c: d has more active connections than its weight and some
// destination of the service has fewer than half its weight.
func lblcOverloaded(d *ipvs.Dest, dests []*ipvs.Dest) bool {
	if d.C.SchedActive() <= d.Weight {
		return false
	}
	for _, o := range dests {
		if int64(o.C.SchedActive())*2 < int64(o.Weight) {
			return true
		}
	}
	return false
}
