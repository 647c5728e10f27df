package ipvs

import (
	"sync"
	"sync/atomic"
)

const chunkBits = 10 // 1024 counters per chunk

type chunk [1 << chunkBits]Counters

// Registry holds the Counters of every service and destination a daemon has
// ever had, indexed by ID. It outlives Table snapshots. Storage is chunked
// and pointer-free inside a chunk, so the garbage collector has little to
// scan; Get never blocks and never allocates.
type Registry struct {
	mu     sync.Mutex               // guards next and growth of chunks
	next   uint32                   // next ID to hand out; 0 is never used
	chunks atomic.Pointer[[]*chunk] // copy-on-grow list of chunks
	last   atomic.Uint32            // highest ID handed out
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{next: 1}
	empty := []*chunk{}
	r.chunks.Store(&empty)
	return r
}

// newID allocates the counters of a new service or destination.
func (r *Registry) newID() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.next
	r.next++
	cs := *r.chunks.Load()
	if int(id>>chunkBits) >= len(cs) {
		grown := make([]*chunk, len(cs)+1)
		copy(grown, cs)
		grown[len(cs)] = new(chunk)
		r.chunks.Store(&grown)
	}
	r.last.Store(id)
	return id
}

// Dest returns the counters of destination id, or nil for an ID this
// registry never handed out.
func (r *Registry) Dest(id DestID) *Counters { return r.get(uint32(id)) }

// Service returns the counters of service id, or nil for an unknown ID.
func (r *Registry) Service(id ServiceID) *Counters { return r.get(uint32(id)) }

func (r *Registry) get(id uint32) *Counters {
	cs := *r.chunks.Load()
	i := int(id >> chunkBits)
	if id == 0 || id > r.last.Load() || i >= len(cs) {
		return nil
	}
	return &cs[i][id&(1<<chunkBits-1)]
}
