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
//
// IPv6 address records (addr6.go) are compacted on the same terms, in the
// same pass: every chunk of records none of whose records a live entry
// holds is given back. Nothing outside the table points at a record: an
// entry names its record by index in its d word, and every reader reaches
// a record through its entry, under the entry's lock or inside a seqlock
// read that a change of the entry sends round again. A record chunk is
// given back only while no live entry names a record in it, so a reader
// that meets a released chunk has read a stale d word (emptyChunk6 reads
// as zeros, and the seqlock rejects the read). Records carry no generation: a handle
// made before names the entry, whose generation changed when the entry
// that held the record went, so it matches no entry that a record put in
// the released chunk's place later belongs to.

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

// emptyChunk6 stands in for a chunk of address records given back: every
// record reads as zeros. It is never written: alloc6 puts a new chunk in
// its place before it hands out one of its records.
var emptyChunk6 = new(chunk6)

const (
	chunkBytes  = int(unsafe.Sizeof(chunk{}))
	chunk6Bytes = int(unsafe.Sizeof(chunk6{}))
	// returnAfter is how much the table gives back in one sweep pass
	// before it asks the runtime to return the free pages to the system
	// (debug.FreeOSMemory: a forced collection, worth it after a flood,
	// not after every few expired flows).
	returnAfter = 16 << 20
)

// withChunk returns slab cs with chunk c set to nc, grown to hold it: a new
// slice, as lock-free readers may still index the old one.
func withChunk[C any](cs []*C, c int, nc *C) []*C {
	next := make([]*C, max(len(cs), c+1))
	copy(next, cs)
	next[c] = nc
	return next
}

// lowestHole returns the lowest chunk of slab cs given back (empty) that
// holds indices below used, the indices handed out; -1 when none does.
func lowestHole[C any](cs []*C, used uint32, empty *C) int {
	if used <= 1 {
		return -1
	}
	for c := 0; c <= int((used-1)>>chunkBits) && c < len(cs); c++ {
		if cs[c] == empty {
			return c
		}
	}
	return -1
}

// putChunk makes chunk c of s a new one, appending it when c is the slab's
// end; its slots start at the shard's generation floor. Caller holds s.mu.
func (s *shard) putChunk(c int) {
	nc := new(chunk)
	if s.genFloor != 0 {
		for i := range nc {
			nc[i].gen = s.genFloor
		}
	}
	next := withChunk(*s.chunks.Load(), c, nc)
	s.chunks.Store(&next)
}

// putChunk6 makes chunk c of the address records of s a new one,
// appending it when c is the slab's end. Caller holds s.mu.
func (s *shard) putChunk6(c int) {
	next := withChunk(*s.chunks6.Load(), c, new(chunk6))
	s.chunks6.Store(&next)
}

// refill puts a new chunk in the lowest hole of s (a chunk below used that
// was given back) and its slots on the free list, lowest first. Caller
// holds s.mu.
func (s *shard) refill() {
	c := lowestHole(*s.chunks.Load(), s.used, emptyChunk)
	if c < 0 {
		s.holes = 0
		return
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
}

// refill6 is refill for the address records of s: a new chunk in the
// lowest hole below used6, its records on the free list, lowest first.
// Caller holds s.mu.
func (s *shard) refill6() {
	c := lowestHole(*s.chunks6.Load(), s.used6, emptyChunk6)
	if c < 0 {
		s.holes6 = 0
		return
	}
	s.putChunk6(c)
	s.holes6--
	nc := (*s.chunks6.Load())[c]
	for i := chunkSize - 1; i >= 0; i-- {
		if local := uint32(c)<<chunkBits | uint32(i); local != 0 {
			atomic.StoreUint64(&nc[i].w[0], uint64(s.free6))
			s.free6 = local
		}
	}
}

// compact gives back what s holds beyond its live entries and returns the
// bytes it gave back: bucket arrays at least eight times their chains
// shrink to twice them, and, when a slab (entries, IPv6 address records)
// has room for two chunks more than it holds, every chunk of it without a
// live entry or record goes (so a drained shard keeps at most one chunk of
// each, and one that churns near a chunk's size does not give it back and
// take it again at every pass). Caller holds s.mu and sweepMu.
func (t *Table) compact(s *shard) int {
	return t.shrinkBuckets(s) + t.compactEntries(s) + t.compactRecords(s)
}

// compactEntries gives back the chunks of entries of s that hold no live
// entry, when the slab has room for two chunks more than its entries; it
// returns the bytes it gave back. Caller holds s.mu.
func (t *Table) compactEntries(s *shard) int {
	cs := *s.chunks.Load()
	if kept(cs, emptyChunk)*chunkSize < s.n+2*chunkSize {
		return 0
	}
	var next []*chunk
	floor, freed := s.genFloor, 0
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
		return 0
	}
	s.beginWrite()
	s.genFloor = floor
	s.chunks.Store(&next)
	s.relist(next)
	s.endWrite()
	return freed
}

// compactRecords gives back the chunks of IPv6 address records of s that
// hold no record of a live entry, when the slab has room for two chunks
// more than its records; it returns the bytes it gave back. Caller holds
// s.mu and sweepMu.
func (t *Table) compactRecords(s *shard) int {
	cs := *s.chunks6.Load()
	if kept(cs, emptyChunk6)*chunkSize < int(s.n6)+2*chunkSize {
		return 0
	}
	held := t.heldRecords(s)
	var next []*chunk6
	freed := 0
	for c, ch := range cs {
		if ch == emptyChunk6 || chunkHeld(held, c) {
			continue
		}
		if next == nil {
			next = make([]*chunk6, len(cs))
			copy(next, cs)
		}
		next[c] = emptyChunk6
		freed += chunk6Bytes
	}
	if next == nil {
		return 0
	}
	s.beginWrite()
	s.chunks6.Store(&next)
	s.relist6(next, held)
	s.endWrite()
	return freed
}

// kept counts the chunks of slab cs not given back.
func kept[C any](cs []*C, empty *C) int {
	n := 0
	for _, c := range cs {
		if c != empty {
			n++
		}
	}
	return n
}

// heldRecords returns a bitmap of the address records of s that its live
// entries hold (bit r for record r, r below used6): those entries, not
// the records, say which records are in use. The bitmap is the table's
// scratch, valid until the next call. Caller holds s.mu and sweepMu.
func (t *Table) heldRecords(s *shard) []uint64 {
	words := int(s.used6+63) / 64
	if cap(t.held) < words {
		t.held = make([]uint64, words)
	}
	held := t.held[:words]
	clear(held)
	for _, ch := range *s.chunks.Load() {
		if ch == emptyChunk {
			continue
		}
		for i := range ch {
			if e := &ch[i]; e.live() && e.hasRec() {
				if r := uint32(atomic.LoadUint64(&e.d)>>32) & localMask; r < s.used6 {
					held[r/64] |= 1 << (r % 64)
				}
			}
		}
	}
	return held
}

// chunkHeld reports whether bitmap held (heldRecords) has a record of chunk
// c.
func chunkHeld(held []uint64, c int) bool {
	const words = chunkSize / 64
	for w := c * words; w < (c+1)*words && w < len(held); w++ {
		if held[w] != 0 {
			return true
		}
	}
	return false
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

// relist6 is relist for the address records of s after chunks of them
// were given back: used6 ends with the last chunk left, the free list holds
// every record below it in a chunk left that no live entry holds (held:
// heldRecords), lowest first, and holes6 counts the chunks given back
// below it. Caller holds s.mu inside a write section.
func (s *shard) relist6(cs []*chunk6, held []uint64) {
	top := -1
	for c := min(int((max(s.used6, 1)-1)>>chunkBits), len(cs)-1); c >= 0; c-- {
		if cs[c] != emptyChunk6 {
			top = c
			break
		}
	}
	s.used6 = max(min(s.used6, uint32(top+1)<<chunkBits), 1)
	s.free6, s.holes6 = 0, 0
	for c := range top {
		if cs[c] == emptyChunk6 {
			s.holes6++
		}
	}
	for local := s.used6 - 1; local > 0; local-- {
		ch := cs[local>>chunkBits]
		if ch == emptyChunk6 || held[local/64]&(1<<(local%64)) != 0 {
			continue
		}
		atomic.StoreUint64(&ch[local&(chunkSize-1)].w[0], uint64(s.free6))
		s.free6 = local
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
		n += chunkBytes*kept(cs, emptyChunk) + 8*len(cs) + s.recordBytes()
		n += 4 * (len(*s.heads.Load()) + len(*s.rheads.Load()))
	}
	return n
}

// recordBytes is the part of Bytes that the address records of s hold:
// their chunks and the slice naming them.
func (s *shard) recordBytes() int {
	cs := *s.chunks6.Load()
	return chunk6Bytes*kept(cs, emptyChunk6) + 8*len(cs)
}

// recordBytes is the part of Bytes that address records hold.
func (t *Table) recordBytes() int {
	n := 0
	for i := range t.shards {
		n += t.shards[i].recordBytes()
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
