package conntrack

import (
	"runtime/debug"
	"sync/atomic"
	"unsafe"
)

// A flood leaves the table grown for its peak: slab chunks and bucket
// arrays for millions of entries. Chunks never move (a lock-free reader may
// hold a ref into one, a handle names a slot), so the table cannot pack
// the entries that outlive the flood into fewer chunks. It gives back
// instead every chunk that no longer holds a live entry, and shrinks bucket
// arrays far larger than their chains: the expiry sweep compacts each shard
// once per pass (Expire), and the memory goes back to the Go heap and, at
// the end of a pass that gave back enough, to the system.
//
// Nothing outside the table points into a chunk but by a Handle (ref and
// generation: the dataplane's flows, the fast path's offers, the sync
// change log, FTP control links) or a ref checked against its slot
// (warm-up prefetches); inside, a connection's template ref (aux) names a
// template that stays live while it controls the connection. A released
// chunk's slots read as free (emptyChunk), so stale refs find nothing; a
// chunk later put in its place starts its slots' generations above every
// generation the released one reached (genFloor), so no handle made before
// matches a new entry.

// emptyChunk stands in for a chunk given back: every slot reads as free
// (flags 0, an invalid key, generation 0). It is never written: alloc puts
// a new chunk in its place before it hands out one of its slots.
var emptyChunk = func() *chunk {
	c := new(chunk)
	for i := range c {
		c[i].k1 = kindInvalid
	}
	return c
}()

const (
	chunkBytes  = int(unsafe.Sizeof(chunk{}))
	chunk6Bytes = int(unsafe.Sizeof(chunk6{}))
	// returnAfter is how much the table gives back in one sweep pass
	// before it asks the runtime to return the free pages to the system
	// (debug.FreeOSMemory: a forced collection, worth it after a flood,
	// not after every few expired flows).
	returnAfter = 16 << 20
)

// putChunk makes chunk c of s a new one, appending it when c is the slab's
// end; its slots start at the shard's generation floor. Caller holds s.mu.
func (s *shard) putChunk(c int) {
	cs := *s.chunks.Load()
	next := make([]*chunk, max(len(cs), c+1))
	copy(next, cs)
	nc := new(chunk)
	if s.genFloor != 0 {
		for i := range nc {
			nc[i].gen = s.genFloor
		}
	}
	next[c] = nc
	s.chunks.Store(&next)
}

// refill puts a new chunk in the lowest hole of s (a chunk below used that
// was given back) and its slots on the free list, lowest first. Caller
// holds s.mu.
func (s *shard) refill() {
	if s.used > 1 {
		cs := *s.chunks.Load()
		for c := 0; c <= int((s.used-1)>>chunkBits) && c < len(cs); c++ {
			if cs[c] != emptyChunk {
				continue
			}
			s.putChunk(c)
			s.holes--
			nc := (*s.chunks.Load())[c]
			for i := chunkSize - 1; i >= 0; i-- {
				if local := uint32(c)<<chunkBits | uint32(i); local != 0 {
					atomic.StoreUint32(&nc[i].next, s.free)
					s.free = local
				}
			}
			return
		}
	}
	s.holes = 0
}

// compact gives back what s holds beyond its live entries and returns the
// bytes it gave back: bucket arrays at least eight times their chains
// shrink to twice them, and, when the slab has room for two chunks more
// than its entries, every chunk without a live entry goes (so a drained
// shard keeps at most one chunk, and one that churns near a chunk's size
// does not give it back and take it again at every pass). Caller holds
// s.mu.
func (t *Table) compact(s *shard) int {
	freed := t.shrinkBuckets(s)
	cs := *s.chunks.Load()
	kept := 0
	for _, c := range cs {
		if c != emptyChunk {
			kept++
		}
	}
	if kept*chunkSize < s.n+2*chunkSize {
		return freed
	}
	var next []*chunk
	floor := s.genFloor
	for c, ch := range cs {
		if ch == emptyChunk || chunkLive(ch) {
			continue
		}
		if next == nil {
			next = make([]*chunk, len(cs))
			copy(next, cs)
		}
		for i := range ch {
			floor = max(floor, atomic.LoadUint32(&ch[i].gen))
		}
		next[c] = emptyChunk
		freed += chunkBytes
	}
	if next == nil {
		return freed
	}
	s.beginWrite()
	s.genFloor = floor
	s.chunks.Store(&next)
	s.relist(next)
	s.endWrite()
	return freed
}

// chunkLive reports whether a slot of c holds an entry.
func chunkLive(c *chunk) bool {
	for i := range c {
		if c[i].live() {
			return true
		}
	}
	return false
}

// relist fits used, the free list, the hole count and the cursors of s to
// its slab cs after chunks were given back: used ends with the last chunk
// left, and the free list holds every free slot below it in a chunk left,
// lowest first, so new entries fill the low chunks and the high ones can
// empty. Caller holds s.mu inside a write section.
func (s *shard) relist(cs []*chunk) {
	top := -1
	for c := min(int((max(s.used, 1)-1)>>chunkBits), len(cs)-1); c >= 0; c-- {
		if cs[c] != emptyChunk {
			top = c
			break
		}
	}
	s.used = min(s.used, uint32(top+1)<<chunkBits)
	if s.used == 0 {
		s.used = 1
	}
	s.free, s.holes = 0, 0
	for local := s.used - 1; local > 0; local-- {
		ch := cs[local>>chunkBits]
		if ch == emptyChunk {
			if local&(chunkSize-1) == 0 {
				s.holes++
			}
			continue
		}
		if e := &ch[local&(chunkSize-1)]; !e.live() {
			atomic.StoreUint32(&e.next, s.free)
			s.free = local
		}
	}
	if cs[0] == emptyChunk && s.used > chunkSize {
		s.holes++ // chunk 0's first slot (local 0) is never handed out, so the loop above missed it
	}
	if s.cursor >= s.used {
		s.cursor = 1
	}
	if s.evictPos >= s.used {
		s.evictPos = 1
	}
}

// shrinkBuckets halves the bucket arrays of s (client and reply direction)
// down to twice their chains' entries, at least minBuckets, when they are
// at least eight times them; the table grows them again at one entry a
// bucket (linkFwd, linkRev). It returns the bytes given back. Caller holds
// s.mu.
func (t *Table) shrinkBuckets(s *shard) int {
	freed := 0
	for _, rev := range [2]bool{false, true} {
		have, n := len(*s.heads.Load()), s.n
		if rev {
			have, n = len(*s.rheads.Load()), s.rn
		}
		if have <= minBuckets || 8*n > have {
			continue
		}
		want := minBuckets
		for want < 2*n {
			want *= 2
		}
		s.beginWrite()
		t.resize(s, rev, want)
		s.endWrite()
		freed += 4 * (have - want)
	}
	return freed
}

// Bytes returns the memory the table holds by its own accounting: the slab
// chunks it has (IPv4 entries and IPv6 address records), the slices naming
// them, and both bucket arrays of every shard. It grows with the table's
// peak and falls as the sweep compacts a drained table.
func (t *Table) Bytes() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		cs := *s.chunks.Load()
		for _, c := range cs {
			if c != emptyChunk {
				n += chunkBytes
			}
		}
		cs6 := *s.chunks6.Load()
		n += 8*(len(cs)+len(cs6)) + chunk6Bytes*len(cs6)
		n += 4 * (len(*s.heads.Load()) + len(*s.rheads.Load()))
	}
	return n
}

// gaveBack adds the bytes one compaction gave back, and at the end of a
// sweep pass (passEnd) hands the pass's free pages to the system when they
// reach returnAfter. Caller holds sweepMu.
func (t *Table) gaveBack(n int, passEnd bool) {
	t.returned += n
	if passEnd && t.returned >= returnAfter {
		t.returned = 0
		debug.FreeOSMemory()
	}
}
