package conntrack

import (
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"lvs/ipvs"
)

const (
	shardBits  = 8
	numShards  = 1 << shardBits
	localBits  = 32 - shardBits
	localMask  = 1<<localBits - 1
	chunkBits  = 8 // 256 entries (22 KiB) per chunk: little slack per shard
	chunkSize  = 1 << chunkBits
	minBuckets = 16
	maxChain   = 1 << 12 // a reader that walks further is on a chain being rewritten
	readTries  = 4       // optimistic reads before a reader takes the lock
)

type chunk [chunkSize]entry

// shard is one lock's worth of the table. Its entries (the "home" entries,
// whose client-direction key hashes here) live in its chunks; its reply
// chains may link entries of any shard.
type shard struct {
	mu       sync.Mutex                // guards the fields below, home entries, and rnext of entries on rheads chains
	seq      atomic.Uint32             // odd while a writer changes chains or entries readers may see
	heads    atomic.Pointer[[]uint32]  // client-direction buckets: refs, 0 = empty
	rheads   atomic.Pointer[[]uint32]  // reply-direction buckets
	chunks   atomic.Pointer[[]*chunk]  // slab; chunks never move
	chunks6  atomic.Pointer[[]*chunk6] // IPv6 address records (addr6.go); chunks never move
	idx      uint32                    // this shard's number
	n, rn    int                       // entries on heads chains, on rheads chains
	used     uint32                    // local indices handed out; 0 is reserved as "none"
	free     uint32                    // free list head (local index), linked by entry.next
	used6    uint32                    // address records handed out; 0 is reserved as "none"
	free6    uint32                    // free address records, linked by addr6.w[0]
	n6       uint32                    // address records held by entries
	holes6   uint32                    // chunks of records below used6 given back (emptyChunk6)
	cursor   uint32                    // expiry sweep position
	evictPos uint32                    // eviction scan position
	genFloor uint32                    // generation a new chunk's slots start at (compact.go)
	holes    uint32                    // chunks below used given back (emptyChunk), refilled before used grows
	flow     ipvs.Flow                 // scratch for Sched.Pick, so a pick does not allocate
	chg      changeLog                 // entries created or changed since the last DrainChanges
	_        [8]byte                   // keep neighbouring shards' locks off this cache line
}

// Config sizes a Table.
type Config struct {
	// MaxEntries bounds flows plus templates; 0 means DefaultMaxEntries().
	MaxEntries int
	// Seed keys the hash; 0 picks a random one (tests may fix it).
	Seed uint64
}

// Table is the connection table. All methods are safe for concurrent use.
// Lookups take no lock; changes lock one or two shards. Nothing allocates on
// the packet path once the slabs have grown to the working set.
type Table struct {
	reg      *ipvs.Registry
	seed     [2]uint64
	max      atomic.Int64
	count    atomic.Int64 // live entries, templates included
	halfOpen atomic.Int64 // TCP entries in SYN_RECV or SYNACK
	logOn    atomic.Bool  // changes are logged for connection sync (LogChanges)
	set      atomic.Pointer[Settings]
	off      atomic.Pointer[Offload] // the fast path forwarding some flows (offload.go); nil: none
	to       timeouts
	st       stats
	sweepMu  sync.Mutex // serialises Expire callers
	sweepAt  int        // shard the next sweep starts in (sweepMu)
	returned int        // bytes compact gave back this pass, not yet returned to the system (sweepMu)
	held     []uint64   // scratch bitmap of the address records a shard's entries hold (compact.go; sweepMu)
	evictAt  atomic.Uint32
	shards   [numShards]shard
}

// NewTable returns an empty table whose entries count against the
// destinations of reg.
func NewTable(reg *ipvs.Registry, cfg Config) *Table {
	t := &Table{reg: reg}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64() | 1
	}
	t.seed = [2]uint64{seed, bits.RotateLeft64(seed, 29) ^ 0x9e3779b97f4a7c15}
	max := cfg.MaxEntries
	if max <= 0 {
		max = DefaultMaxEntries()
	}
	t.max.Store(int64(max))
	s := DefaultSettings()
	t.set.Store(&s)
	t.to.init()
	for i := range t.shards {
		sh := &t.shards[i]
		sh.idx = uint32(i)
		h, r := make([]uint32, minBuckets), make([]uint32, minBuckets)
		sh.heads.Store(&h)
		sh.rheads.Store(&r)
		sh.chunks.Store(&[]*chunk{})
		sh.chunks6.Store(&[]*chunk6{})
	}
	return t
}

// hash is a seeded 128-bit multiply fold of the two key words (as wyhash's mum).
func (t *Table) hash(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a^t.seed[0], b^t.seed[1])
	return hi ^ lo
}

func (t *Table) shardOf(h uint64) *shard { return &t.shards[h>>(64-shardBits)] }

func mkRef(shard, local uint32) uint32 { return shard<<localBits | local }

// at returns the entry of ref, or nil when ref is outside the slab (a reader
// may meet stale links; they are bounded here and rejected by the seqlock).
func (t *Table) at(ref uint32) *entry {
	s := &t.shards[ref>>localBits]
	local := ref & localMask
	cs := *s.chunks.Load()
	c := local >> chunkBits
	if local == 0 || int(c) >= len(cs) {
		return nil
	}
	return &cs[c][local&(chunkSize-1)]
}

func (s *shard) beginWrite() { s.seq.Add(1) }
func (s *shard) endWrite()   { s.seq.Add(1) }

// lockPair locks a and b (which may be the same shard) in shard order.
func lockPair(a, b *shard) {
	switch {
	case a == b:
		a.mu.Lock()
	case a.idx < b.idx:
		a.mu.Lock()
		b.mu.Lock()
	default:
		b.mu.Lock()
		a.mu.Lock()
	}
}

func unlockPair(a, b *shard) {
	a.mu.Unlock()
	if a != b {
		b.mu.Unlock()
	}
}

func beginPair(a, b *shard) {
	a.beginWrite()
	if a != b {
		b.beginWrite()
	}
}

func endPair(a, b *shard) {
	a.endWrite()
	if a != b {
		b.endWrite()
	}
}

// find walks the client-direction chain of h in s for an entry with key
// words k0, k1. Safe under s.mu or inside a seqlock read.
func (t *Table) find(s *shard, h, k0, k1 uint64) (uint32, *entry) {
	hs := *s.heads.Load()
	ref := atomic.LoadUint32(&hs[h&uint64(len(hs)-1)])
	for n := 0; ref != 0 && n < maxChain; n++ {
		e := t.at(ref)
		if e == nil {
			return 0, nil
		}
		if atomic.LoadUint64(&e.k0) == k0 && atomic.LoadUint64(&e.k1) == k1 {
			return ref, e
		}
		ref = atomic.LoadUint32(&e.next)
	}
	return 0, nil
}

// findReply walks the reply-direction chain of rh in s.
func (t *Table) findReply(s *shard, rh, r0, r1 uint64) (uint32, *entry) {
	hs := *s.rheads.Load()
	ref := atomic.LoadUint32(&hs[rh&uint64(len(hs)-1)])
	for n := 0; ref != 0 && n < maxChain; n++ {
		e := t.at(ref)
		if e == nil {
			return 0, nil
		}
		k0, k1, d := atomic.LoadUint64(&e.k0), atomic.LoadUint64(&e.k1), atomic.LoadUint64(&e.d)
		if k1&kindMask == kindConn {
			if a, b := replyWords(k0, k1, d); a == r0 && b == r1 {
				return ref, e
			}
		}
		ref = atomic.LoadUint32(&e.rnext)
	}
	return 0, nil
}

// read runs f as an optimistic (seqlock) read of s, falling back to the lock.
func read[T any](s *shard, f func() (T, bool)) (T, bool) {
	for try := 0; try < readTries; try++ {
		seq := s.seq.Load()
		if seq&1 != 0 {
			continue
		}
		v, ok := f()
		if s.seq.Load() == seq {
			return v, ok
		}
	}
	s.mu.Lock()
	v, ok := f()
	s.mu.Unlock()
	return v, ok
}

// Lookup finds the flow k in the client direction without changing it. It
// takes no lock and never allocates.
func (t *Table) Lookup(k Key) (Conn, bool) {
	k0, k1, ok := packKey(k, kindConn)
	if !ok {
		return t.lookup6(k)
	}
	return t.lookup(k0, k1, t.hash(k0, k1&^kindMask))
}

// lookup is Lookup on packed key words and their hash.
func (t *Table) lookup(k0, k1, h uint64) (Conn, bool) {
	s := t.shardOf(h)
	for try := 0; try < readTries; try++ {
		seq := s.seq.Load()
		if seq&1 != 0 {
			continue
		}
		ref, e := t.find(s, h, k0, k1)
		var c Conn
		if e != nil {
			c = e.load(ref)
		}
		if s.seq.Load() == seq {
			return c, e != nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref, e := t.find(s, h, k0, k1); e != nil {
		return e.load(ref), true
	}
	return Conn{}, false
}

// LookupReply finds the flow a NAT reply belongs to (real server → client)
// without changing it. It takes no lock and never allocates.
func (t *Table) LookupReply(k ReplyKey) (Conn, bool) {
	ref, ok := t.replyRef(k)
	if !ok {
		return Conn{}, false
	}
	return t.Get(ref)
}

// replyRef returns the handle of the entry matching reply key k.
func (t *Table) replyRef(k ReplyKey) (Handle, bool) {
	r0, r1, ok := packReply(k)
	if !ok {
		return t.replyRef6(k)
	}
	return t.replyRefPacked(r0, r1, t.hash(r0, r1))
}

// replyRefPacked is replyRef on packed reply words and their hash.
func (t *Table) replyRefPacked(r0, r1, rh uint64) (Handle, bool) {
	s := t.shardOf(rh)
	return read(s, func() (Handle, bool) {
		ref, e := t.findReply(s, rh, r0, r1)
		if e == nil {
			return 0, false
		}
		return mkHandle(ref, atomic.LoadUint32(&e.gen)), true
	})
}

// Get returns the entry h names, or false once it was deleted.
func (t *Table) Get(h Handle) (Conn, bool) {
	if h.ref()&localMask == 0 {
		return Conn{}, false
	}
	s := &t.shards[h.ref()>>localBits]
	return read(s, func() (Conn, bool) {
		e := t.at(h.ref())
		if e == nil || atomic.LoadUint32(&e.gen) != h.gen() || !e.live() {
			return Conn{}, false
		}
		return e.load(h.ref()), true
	})
}

// Len returns the number of entries, templates included.
func (t *Table) Len() int { return int(t.count.Load()) }

// alloc takes a free slot of s (under s.mu), growing the slab by one chunk
// when none is free (a chunk given back first: compact.go). It returns 0
// when the shard's index space is used up.
func (s *shard) alloc(t *Table) (uint32, *entry) {
	if s.free == 0 && s.holes > 0 {
		s.refill()
	}
	if s.free != 0 {
		local := s.free
		e := t.at(mkRef(s.idx, local))
		s.free = e.next
		return local, e
	}
	if s.used == 0 {
		s.used = 1
	}
	local := s.used
	if local > localMask {
		return 0, nil
	}
	if c := int(local >> chunkBits); c >= len(*s.chunks.Load()) || (*s.chunks.Load())[c] == emptyChunk {
		s.putChunk(c)
	}
	s.used++
	return local, t.at(mkRef(s.idx, local))
}

// release puts a slot back on the free list; its generation changes so old
// handles stop matching. Caller holds s.mu inside a write section.
func (s *shard) release(local uint32, e *entry) {
	atomic.StoreUint32(&e.flags, 0)
	atomic.StoreUint64(&e.k1, kindInvalid)
	atomic.StoreUint32(&e.gen, atomic.LoadUint32(&e.gen)+1)
	atomic.StoreUint32(&e.next, s.free)
	s.free = local
}

// linkFwd puts e (ref) at the head of its client-direction chain in s.
func (t *Table) linkFwd(s *shard, ref uint32, e *entry, h uint64) {
	if s.n >= len(*s.heads.Load()) {
		t.rehash(s, false)
	}
	hs := *s.heads.Load()
	b := &hs[h&uint64(len(hs)-1)]
	atomic.StoreUint32(&e.next, atomic.LoadUint32(b))
	atomic.StoreUint32(b, ref)
	s.n++
}

// linkRev puts e (ref) at the head of its reply-direction chain in s.
func (t *Table) linkRev(s *shard, ref uint32, e *entry, rh uint64) {
	if s.rn >= len(*s.rheads.Load()) {
		t.rehash(s, true)
	}
	hs := *s.rheads.Load()
	b := &hs[rh&uint64(len(hs)-1)]
	atomic.StoreUint32(&e.rnext, atomic.LoadUint32(b))
	atomic.StoreUint32(b, ref)
	e.setFlag(flagRev, true)
	s.rn++
}

// unlink removes ref from the chain starting at bucket b whose links are
// read and written by link(e).
func (t *Table) unlink(b *uint32, ref uint32, link func(*entry) *uint32) bool {
	p := b
	for n := 0; n < maxChain*4; n++ {
		cur := atomic.LoadUint32(p)
		if cur == 0 {
			return false
		}
		e := t.at(cur)
		if cur == ref {
			atomic.StoreUint32(p, atomic.LoadUint32(link(e)))
			return true
		}
		p = link(e)
	}
	return false
}

func nextOf(e *entry) *uint32  { return &e.next }
func rnextOf(e *entry) *uint32 { return &e.rnext }

// rehash doubles the buckets of s (reply buckets when rev). The caller
// holds s.mu inside a write section. Chains are rebuilt in place.
func (t *Table) rehash(s *shard, rev bool) {
	ptr := &s.heads
	if rev {
		ptr = &s.rheads
	}
	t.resize(s, rev, 2*len(*ptr.Load()))
}

// resize rebuilds the client-direction buckets of s (reply buckets when
// rev) as n buckets, a power of two: larger as the shard grows (rehash),
// smaller once it drained (compact). The caller holds s.mu inside a write
// section. Chains are rebuilt in place; a lock-free reader of the old
// array is sent round again by the seqlock.
func (t *Table) resize(s *shard, rev bool, n int) {
	ptr, link := &s.heads, nextOf
	if rev {
		ptr, link = &s.rheads, rnextOf
	}
	old := *ptr.Load()
	nb := make([]uint32, n)
	mask := uint64(len(nb) - 1)
	for _, head := range old {
		for ref := head; ref != 0; {
			e := t.at(ref)
			nx := atomic.LoadUint32(link(e))
			var h uint64
			if rev {
				h = t.revHash(ref, e)
			} else {
				h = t.fwdHash(e)
			}
			atomic.StoreUint32(link(e), nb[h&mask])
			nb[h&mask] = ref
			ref = nx
		}
	}
	ptr.Store(&nb)
}
