package fastpath

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
)

// Growing the flow maps. The kernel's LRU hash has as many buckets as
// entries (rounded up to a power of two) and allocates them all when the
// map is created, so the map's size is paid at every lookup, not only in
// memory: a frame's lookup in a 2^22-bucket map (64 MiB of buckets)
// misses the TLB and the cache where one in a 2^18-bucket map mostly does
// not. lvsd therefore starts with a map near the kernel's own conntrack
// table and grows it when the connection table fills it (daemon's
// growFlowMaps): Resize creates the bigger map, copies the flows into
// it, loads the program again with it and swaps the program on every
// interface in one step per interface (a tcx link update, or the tc
// filter's replacement), then copies what the old program changed
// meanwhile. Frames never miss a flow for it:
//
//  1. Resize creates the new maps and a program using them. From here
//     until the end, Install, InstallNew and Withdraw write both maps.
//  2. It copies every entry of the old map but those the writers wrote
//     since step 1, a chunk at a time under mu, so a Withdraw cannot fall
//     between a chunk's read and its write, and remembers what it copied.
//  3. It swaps the program. The old map is frozen from here: only the
//     writers above still touch it, and they write the new one too.
//  4. It reads the old map again: an entry created since step 2 (a flow
//     the program scheduled) is copied; one whose flags the old program
//     changed since (a FIN's mark, the handshake's ACK) is copied again
//     unless the new program or a writer changed the new map's since the
//     copy; one deleted since (an RST the program handled, an LRU
//     eviction) is deleted from the new map unless that changed it. The
//     time a flow was last seen is not compared: the new program's next
//     frame writes it.
//  5. It drops the old map and program.

// resizeChunk is how many entries Resize reads and writes per hold of
// mu: about a millisecond, which is the longest a worker's install or
// withdrawal waits for a resize.
const resizeChunk = 512

// Capacity returns the flow maps' sizes, in entries (a NAT flow takes two,
// a direct-routing one one).
func (f *FastPath) Capacity() (flows, flows6 int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxFlows, f.maxFlows6
}

// Resize replaces the IPv4 flow map by one of flows entries and the IPv6
// one by one of flows6, keeping every flow (see above); a size of 0, or
// the map's own, keeps that map. It takes about a second per million
// entries copied and blocks Close meanwhile, not the fast path: the
// workers' installs and withdrawals wait at most a chunk's copy.
func (f *FastPath) Resize(flows, flows6 int) (err error) {
	f.rmu.Lock()
	defer f.rmu.Unlock()
	cur4, cur6 := f.Capacity()
	if (flows <= 0 || flows == cur4) && (flows6 <= 0 || flows6 == cur6) {
		return nil
	}
	var n4, n6 *ebpf.Map
	defer func() { // a failed resize leaves the old maps in place
		if err != nil {
			closeMaps(n4, n6)
		}
	}()
	maps := f.maps
	s4, s6, prog := f.spare, f.spare6, f.spareProg
	f.spareProg = nil
	if flows > 0 && flows != cur4 {
		if n4, f.spare = takeSpare(f.spare, flows); n4 == nil {
			if n4, err = newFlowMap(flows); err != nil {
				return err
			}
		}
		maps.flows = n4.FD()
	}
	if flows6 > 0 && flows6 != cur6 {
		if n6, f.spare6 = takeSpare(f.spare6, flows6); n6 == nil {
			if n6, err = newFlowMap6(flows6); err != nil {
				return err
			}
		}
		maps.flows6 = n6.FD()
	}
	if spareProg := n4 != nil && n4 == s4 && n6 != nil && n6 == s6; !spareProg && prog != nil {
		prog.Close() // loaded for both reserved maps, and this takes fewer
		prog = nil
	}
	if prog == nil {
		if prog, err = load(maps, f.at); err != nil {
			return fmt.Errorf("loading the fast-path program for the new flow maps: %w", err)
		}
	}
	c4 := &resizer[[keyLen]byte, [valueLen]byte]{mu: &f.mu, from: f.flows, to: n4, written: map[[keyLen]byte]struct{}{}}
	c6 := &resizer[[key6Len]byte, [value6Len]byte]{mu: &f.mu, from: f.flows6, to: n6, written: map[[key6Len]byte]struct{}{}}
	f.mu.Lock()
	f.shadow, f.shadow6, f.rs4, f.rs6 = n4, n6, c4, c6
	f.mu.Unlock()
	if err = errors.Join(c4.copy(), c6.copy()); err == nil {
		if f.resizeHook != nil {
			f.resizeHook()
		}
		err = f.swap(prog, maps)
	}
	if err != nil {
		f.mu.Lock()
		f.shadow, f.shadow6, f.rs4, f.rs6 = nil, nil, nil, nil
		f.mu.Unlock()
		prog.Close()
		return err
	}
	// The program on every interface uses the new maps: the old ones are
	// the shadows now, and c4 and c6 read them again.
	err = errors.Join(c4.follow(), c6.follow())
	f.mu.Lock()
	old := []*ebpf.Map{f.shadow, f.shadow6}
	f.shadow, f.shadow6, f.rs4, f.rs6 = nil, nil, nil, nil
	f.mu.Unlock()
	closeMaps(old...)
	n4, n6 = nil, nil // the fast path's now, whatever follow said
	if err != nil {
		return fmt.Errorf("the flow maps were resized, but some flows changed meanwhile may be stale: %w", err)
	}
	return nil
}

// Reserve creates empty flow maps of flows and flows6 entries, and the
// program using them, for a later Resize to exactly those sizes to take,
// so that the resize costs a copy and neither an allocation (the kernel
// allocates an LRU map's every entry when it is made: about a second for
// two million) nor a verification. A Resize to other sizes takes a map
// of the right size and loads a program. It replaces an earlier
// reservation; Close releases it.
func (f *FastPath) Reserve(flows, flows6 int) (err error) {
	f.rmu.Lock()
	defer f.rmu.Unlock()
	f.dropSpares()
	defer func() {
		if err != nil {
			f.dropSpares()
		}
	}()
	if f.spare, err = newFlowMap(flows); err != nil {
		return err
	}
	if f.spare6, err = newFlowMap6(flows6); err != nil {
		return err
	}
	// The program for both, loaded now: the verifier's time would
	// otherwise fall on the resize, on a core a flood may be keeping busy.
	maps := f.maps
	maps.flows, maps.flows6 = f.spare.FD(), f.spare6.FD()
	if f.spareProg, err = load(maps, f.at); err != nil {
		return fmt.Errorf("loading the fast-path program for the reserved flow maps: %w", err)
	}
	return nil
}

// dropSpares releases what Reserve made. Caller holds rmu.
func (f *FastPath) dropSpares() {
	closeMaps(f.spare, f.spare6)
	if f.spareProg != nil {
		f.spareProg.Close()
	}
	f.spare, f.spare6, f.spareProg = nil, nil, nil
}

// takeSpare returns spare as the map of n entries when it has that size,
// and what is left reserved.
func takeSpare(spare *ebpf.Map, n int) (taken, left *ebpf.Map) {
	if spare != nil && int(spare.MaxEntries()) == n {
		return spare, nil
	}
	return nil, spare
}

// swap makes prog, loaded with maps, the program on every interface, and
// its maps the fast path's; the maps it replaces become the shadows.
func (f *FastPath) swap(prog *ebpf.Program, maps progMaps) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, l := range f.links {
		if err := l.Update(prog); err != nil {
			// Put back the interfaces already swapped: the old program
			// and maps stay.
			for _, l := range f.links[:i] {
				l.Update(f.tcx)
			}
			return fmt.Errorf("swapping the fast-path program: %w", err)
		}
	}
	for i, a := range f.tcs {
		if _, err := attachTC(a.ifindex, prog); err != nil {
			for _, a := range f.tcs[:i] {
				attachTC(a.ifindex, f.tcx)
			}
			for _, l := range f.links {
				l.Update(f.tcx)
			}
			return fmt.Errorf("swapping the fast-path program: %w", err)
		}
	}
	f.tcx.Close()
	f.tcx, f.maps = prog, maps
	if f.shadow != nil {
		f.flows, f.shadow = f.shadow, f.flows
		f.maxFlows = int(f.flows.MaxEntries())
	}
	if f.shadow6 != nil {
		f.flows6, f.shadow6 = f.shadow6, f.flows6
		f.maxFlows6 = int(f.flows6.MaxEntries())
	}
	return nil
}

func closeMaps(ms ...*ebpf.Map) {
	for _, m := range ms {
		if m != nil {
			m.Close()
		}
	}
}

// shadowOf returns the map a resize fills (or empties) for k's family, nil
// when none is. Caller holds mu.
func (f *FastPath) shadowOf(k Key) *ebpf.Map {
	if k.is6() {
		return f.shadow6
	}
	return f.shadow
}

// shadowUpdate writes the entry Install or InstallNew just wrote for k to
// the shadow map too, if a resize is under way. Caller holds mu.
func (f *FastPath) shadowUpdate(k Key, key, val unsafe.Pointer) error {
	s := f.shadowOf(k)
	if s == nil {
		return nil
	}
	if err := s.Update(key, val, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("installing flow %v→%v in the resized map: %w", k.Src, k.Dst, err)
	}
	// Until the swap the shadow is the new map, which copy must not
	// overwrite with the older entry it may read for k.
	if k.is6() {
		f.rs6.written[f.key6] = struct{}{}
	} else {
		f.rs4.written[f.key] = struct{}{}
	}
	return nil
}

// resizer copies one family's flows from a map to its replacement
// (Resize's steps 2 and 4). to is nil when the family's map is kept. What
// copy wrote is remembered as each key and a hash of its value (flowHash),
// sorted by key: 24 bytes an IPv4 entry, where keys and values would take
// 80, since a growth copies up to half a million of them.
type resizer[K, V comparable] struct {
	mu       *sync.Mutex
	from, to *ebpf.Map
	copied   []copiedFlow[K]
	// written holds the keys the writers wrote to since the resize
	// began (shadowUpdate), under mu.
	written map[K]struct{}
}

type copiedFlow[K comparable] struct {
	k K
	h uint64 // flowHash of the value copied
}

// copy is step 2: every entry of from that the writers did not write to
// to meanwhile is copied. (The kernel's batch update takes no
// BPF_NOEXIST, so the writers' keys are left out here instead.)
func (r *resizer[K, V]) copy() error {
	if r.to == nil {
		return nil
	}
	var nk []K
	var nv []V
	err := r.each(func(ks []K, vs []V) error {
		nk, nv = nk[:0], nv[:0]
		for i, k := range ks {
			if _, ok := r.written[k]; !ok {
				nk, nv = append(nk, k), append(nv, vs[i])
				r.copied = append(r.copied, copiedFlow[K]{k, flowHash(&vs[i])})
			}
		}
		if len(nk) == 0 {
			return nil
		}
		if _, err := r.to.BatchUpdate(nk, nv, nil); err != nil {
			return fmt.Errorf("copying flows to the resized map: %w", err)
		}
		return nil
	})
	slices.SortFunc(r.copied, func(a, b copiedFlow[K]) int { return keyCmp(&a.k, &b.k) })
	return err
}

// find returns the index of k in copied, false when copy did not write it.
func (r *resizer[K, V]) find(k *K) (int, bool) {
	return slices.BinarySearchFunc(r.copied, k, func(c copiedFlow[K], k *K) int { return keyCmp(&c.k, k) })
}

// follow is step 4, after the swap: from is the old map, frozen but for
// the writers, which write to too.
func (r *resizer[K, V]) follow() error {
	if r.to == nil {
		return nil
	}
	found := make([]bool, len(r.copied))
	var errs []error
	err := r.each(func(ks []K, vs []V) error {
		for j := range ks {
			i, ok := r.find(&ks[j])
			switch {
			case !ok: // created after its chunk was read
				err := r.to.Update(&ks[j], &vs[j], ebpf.UpdateNoExist)
				if err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
					return fmt.Errorf("copying flows to the resized map: %w", err)
				}
			case flowHash(&vs[j]) != r.copied[i].h: // changed since
				found[i] = true
				if err := r.replace(&ks[j], r.copied[i].h, &vs[j]); err != nil {
					errs = append(errs, err)
				}
			default:
				found[i] = true
			}
		}
		return nil
	})
	for i, ok := range found {
		if !ok { // deleted since
			r.mu.Lock()
			if err := r.replace(&r.copied[i].k, r.copied[i].h, nil); err != nil {
				errs = append(errs, err)
			}
			r.mu.Unlock()
		}
	}
	r.copied = nil
	return errors.Join(append(errs, err)...)
}

// replace makes to's entry for k now (nil: none), if it is still the one
// copy wrote, whose flowHash was. Caller holds mu.
func (r *resizer[K, V]) replace(k *K, was uint64, now *V) error {
	var cur V
	if err := r.to.Lookup(k, &cur); err != nil || flowHash(&cur) != was {
		return nil // gone or changed since the copy: the new map's stands
	}
	if now == nil {
		if err := r.to.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
		return nil
	}
	return r.to.Update(k, now, ebpf.UpdateExist)
}

// each reads from a chunk at a time and calls fn with each chunk, holding
// mu over the read and fn.
func (r *resizer[K, V]) each(fn func([]K, []V) error) error {
	var cursor ebpf.MapBatchCursor
	ks, vs := make([]K, resizeChunk), make([]V, resizeChunk)
	for {
		r.mu.Lock()
		n, err := r.from.BatchLookup(&cursor, ks, vs, nil)
		var ferr error
		if n > 0 {
			ferr = fn(ks[:n], vs[:n])
		}
		r.mu.Unlock()
		switch {
		case ferr != nil:
			return ferr
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return nil // the end
		case err != nil:
			return fmt.Errorf("reading the flow map to resize it: %w", err)
		}
	}
}

// flowHash hashes an entry of a flow map but for the time the flow was
// last seen, which every forwarded frame writes.
func flowHash[V any](v *V) uint64 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
	var h maphash.Hash
	h.SetSeed(hashSeed)
	h.Write(b[:valSeen])
	h.Write(b[valSeen+8:])
	return h.Sum64()
}

var hashSeed = maphash.MakeSeed()

// keyCmp orders flow map keys by their bytes.
func keyCmp[K any](a, b *K) int {
	n := unsafe.Sizeof(*a)
	return bytes.Compare(unsafe.Slice((*byte)(unsafe.Pointer(a)), n), unsafe.Slice((*byte)(unsafe.Pointer(b)), n))
}
