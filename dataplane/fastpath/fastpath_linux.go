package fastpath

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Config sizes the fast path.
type Config struct {
	// MaxFlows bounds the flow map (one entry per direction of a flow). It
	// is an LRU map: when full, the kernel evicts the least recently used
	// entry, whose flow then goes through the Go path again (and is
	// installed again), so a small map costs speed, never correctness.
	// 0 means DefaultMaxFlows.
	MaxFlows int
	// MaxFlows6 bounds the IPv6 flow map likewise; 0 means
	// DefaultMaxFlows6. An IPv6 direction costs about 1.5 times the kernel
	// memory of an IPv4 one (a 40-byte key and a 104-byte value, against
	// 16 and 64), and the map is allocated whole when it is created, so
	// its default is smaller: a site with few IPv6 flows does not pay for
	// IPv4's.
	MaxFlows6 int
	// Slots is the number of counter slots (2 per destination ID); 0 means
	// DefaultSlots.
	Slots int
	// Hook is where Attach puts the program: tcx where the kernel has it
	// and the tc hook otherwise (HookAuto), or only the one named.
	Hook Hook
}

// Defaults.
const (
	DefaultMaxFlows  = 1 << 18
	DefaultMaxFlows6 = 1 << 16
	DefaultSlots     = 1 << 16
)

// FastPath is the loaded fast path: its maps, its program and the
// interfaces the tcx program is attached to. Its methods are safe for
// concurrent use; Install, Withdraw and Seen each cost one or two bpf(2)
// calls and are meant for the first and last packets of a flow, not for
// every packet.
type FastPath struct {
	flows    *ebpf.Map // LRU hash: Key → value (flow.go)
	flows6   *ebpf.Map // LRU hash: IPv6 Key → value (flow6.go)
	counters *ebpf.Map // per-CPU array of {packets, bytes} by slot
	tcx      *ebpf.Program
	slots    int
	hook     Hook // as configured
	maps     progMaps
	at       ebpf.AttachType // what tcx was loaded expecting
	// The sizes the flow maps were created with (entries), and the maps
	// a resize fills before the program uses them, or emptied after: the
	// writers write both while they are set (resize_linux.go). Under mu.
	maxFlows, maxFlows6 int
	shadow, shadow6     *ebpf.Map
	spare, spare6       *ebpf.Map     // made by Reserve for a later Resize; under rmu
	spareProg           *ebpf.Program // the program loaded with both spares; under rmu
	rs4                 *resizer[[keyLen]byte, [valueLen]byte]
	rs6                 *resizer[[key6Len]byte, [value6Len]byte]
	rmu                 sync.Mutex // serialises Resize and Close
	resizeHook          func()     // tests: run by Resize between its copy and the swap

	nmu sync.Mutex  // guards nf's writers and its reader
	nf  newFlowMaps // the new-flow path (newflow.go)

	mu    sync.Mutex      // guards the fields below
	links []link.Link     // tcx links
	tcs   []tcAttachment  // tc filters (tc_linux.go)
	used  Hook            // the hook the last Attach used
	key   [keyLen]byte    // scratch for the calls, so they do not allocate
	val   [valueLen]byte  // likewise
	key6  [key6Len]byte   // likewise, for IPv6 flows
	val6  [value6Len]byte // likewise
	per   []counter       // likewise: one per CPU
	// ReadCounters' keys and values (one per CPU per slot), reused.
	batchKeys []uint32
	batchVals []counter
	batch     [][keyLen]byte  // WithdrawAll's keys, reused
	batch6    [][key6Len]byte // likewise, for IPv6 flows
	// withdrawFailed counts the flows a withdrawal failed to remove (an
	// absent one is no failure): they stay in the kernel map, which lvsd
	// no longer tracks, until the LRU evicts them.
	withdrawFailed atomic.Uint64
}

type counter struct{ Packets, Bytes uint64 }

// ErrUnsupported is returned by Open and Attach where the kernel cannot
// load or attach the program (no BPF, neither tcx nor cls_bpf, not
// permitted): lvsd then forwards everything in Go.
var ErrUnsupported = errors.New("the eBPF fast path is not available")

// Open creates the maps and loads the program. It attaches nothing:
// Attach puts the tcx program on an interface. lvsd's packet sockets on
// such an interface must be bound per protocol (ETH_P_IP, ETH_P_IPV6,
// ETH_P_ARP), not to ETH_P_ALL: those are delivered after tcx, so a frame
// the program forwards never reaches them, where an ETH_P_ALL tap runs
// before tcx and would copy it.
func Open(c Config) (_ *FastPath, err error) {
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.MaxFlows6 <= 0 {
		c.MaxFlows6 = DefaultMaxFlows6
	}
	if c.Slots <= 0 {
		c.Slots = DefaultSlots
	}
	if c.Hook != HookAuto && c.Hook != HookTCX && c.Hook != HookTC {
		return nil, fmt.Errorf("unknown fast-path hook %q (want %q or %q)", c.Hook, HookTCX, HookTC)
	}
	f := &FastPath{slots: c.Slots, hook: c.Hook, maxFlows: c.MaxFlows, maxFlows6: c.MaxFlows6}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if f.flows, err = newFlowMap(c.MaxFlows); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if f.flows6, err = newFlowMap6(c.MaxFlows6); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	f.counters, err = ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_counters", Type: ebpf.PerCPUArray,
		KeySize: 4, ValueSize: 16, MaxEntries: uint32(c.Slots)})
	if err != nil {
		return nil, fmt.Errorf("%w: creating the counter map: %w", ErrUnsupported, err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	f.per = make([]counter, ncpu)
	if err := f.nf.open(c.Slots); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	f.maps = progMaps{flows: f.flows.FD(), flows6: f.flows6.FD(), counters: f.counters.FD(), services: f.nf.services.FD(),
		seq: f.nf.seq.FD(), targets: f.nf.targets.FD(), events: f.nf.events.FD(), reuse: f.nf.reuse.FD()}
	// cls_bpf takes a program that expects tcx, so one program serves
	// both hooks; a kernel that refuses to load it expecting tcx gets
	// one that expects nothing, for the tc hook.
	f.at = ebpf.AttachTCXIngress
	if c.Hook == HookTC {
		f.at = ebpf.AttachNone
	}
	if f.tcx, err = load(f.maps, f.at); err != nil && c.Hook == HookAuto {
		if p, err2 := load(f.maps, ebpf.AttachNone); err2 == nil {
			f.tcx, f.hook, f.at, err = p, HookTC, ebpf.AttachNone, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: loading the fast-path program: %w", ErrUnsupported, err)
	}
	return f, nil
}

// load loads the tcx program for maps, expecting attach type at.
func load(maps progMaps, at ebpf.AttachType) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "lvs_fastpath", Type: ebpf.SchedCLS,
		AttachType: at, License: "GPL", Instructions: tcxProgram(maps)})
}

// newFlowMap creates an IPv4 flow map of n entries; newFlowMap6 an IPv6 one.
func newFlowMap(n int) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_flows", Type: ebpf.LRUHash,
		KeySize: keyLen, ValueSize: valueLen, MaxEntries: uint32(n)})
	if err != nil {
		return nil, fmt.Errorf("creating the flow map (%d entries): %w", n, err)
	}
	return m, nil
}

func newFlowMap6(n int) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "lvs_flows6", Type: ebpf.LRUHash,
		KeySize: key6Len, ValueSize: value6Len, MaxEntries: uint32(n)})
	if err != nil {
		return nil, fmt.Errorf("creating the IPv6 flow map (%d entries): %w", n, err)
	}
	return m, nil
}

// Attach puts the program at the ingress of interface ifindex (in the
// caller's network namespace): as a tcx link, or where the kernel has no
// tcx (or Config.Hook says so) as a tc filter (tc_linux.go). It is
// detached by Close.
func (f *FastPath) Attach(ifindex int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hook != HookTC {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: f.tcx, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			f.links, f.used = append(f.links, l), HookTCX
			return nil
		}
		if f.hook == HookTCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return fmt.Errorf("%w: attaching tcx ingress to interface %d: %w", ErrUnsupported, ifindex, err)
		}
	}
	a, err := attachTC(ifindex, f.tcx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	f.tcs, f.used = append(f.tcs, a), HookTC
	return nil
}

// Hook returns the hook the program was last attached with: HookTCX or
// HookTC, HookAuto before any Attach.
func (f *FastPath) Hook() Hook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// Install makes the fast path forward frames matching k as a says, from
// the next frame on.
func (f *FastPath) Install(k Key, a Action) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, key, val := f.entry(k, &a)
	if err := m.Update(key, val, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("installing flow %v→%v: %w", k.Src, k.Dst, err)
	}
	return f.shadowUpdate(k, key, val)
}

// InstallNew is Install unless the fast path already holds an entry for
// k: then it changes nothing and returns false. It is how the Go path
// installs the client direction of a flow it scheduled while the tcx
// program may schedule the same flow (newflow.go): whoever writes first
// decides the real server.
func (f *FastPath) InstallNew(k Key, a Action) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, key, val := f.entry(k, &a)
	err := m.Update(key, val, ebpf.UpdateNoExist)
	switch {
	case errors.Is(err, ebpf.ErrKeyExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("installing flow %v→%v: %w", k.Src, k.Dst, err)
	}
	return true, f.shadowUpdate(k, key, val)
}

// Withdraw removes k: its frames go to the Go path from the next one on.
// A k the fast path does not hold is not an error.
func (f *FastPath) Withdraw(k Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, key, _ := f.entry(k, nil)
	err := m.Delete(key)
	if s := f.shadowOf(k); s != nil && (err == nil || errors.Is(err, ebpf.ErrKeyNotExist)) {
		err = s.Delete(key)
	}
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		f.withdrawFailed.Add(1)
		return fmt.Errorf("withdrawing flow %v→%v: %w", k.Src, k.Dst, err)
	}
	return nil
}

// WithdrawFailures is how many flows Withdraw and WithdrawAll failed to
// remove since Open (at most: a failed batch counts all its keys left).
func (f *FastPath) WithdrawFailures() uint64 { return f.withdrawFailed.Load() }

// WithdrawAll withdraws the flows of keys as Withdraw does each, a key
// without an entry skipped, in one system call per family
// (BPF_MAP_DELETE_BATCH) rather than one per key: lvsd withdraws the
// connections a drain of the new-flow ring reports closed this way.
func (f *FastPath) WithdrawAll(keys []Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batch, f.batch6 = f.batch[:0], f.batch6[:0]
	for _, k := range keys {
		if k.is6() {
			k.marshal6(&f.key6)
			f.batch6 = append(f.batch6, f.key6)
		} else {
			k.marshal(&f.key)
			f.batch = append(f.batch, f.key)
		}
	}
	n4, err4 := deleteAll(f.flows, f.batch)
	n6, err6 := deleteAll(f.flows6, f.batch6)
	var ns4, ns6 int
	var errs4, errs6 error
	if f.shadow != nil {
		ns4, errs4 = deleteAll(f.shadow, f.batch)
	}
	if f.shadow6 != nil {
		ns6, errs6 = deleteAll(f.shadow6, f.batch6)
	}
	f.withdrawFailed.Add(uint64(max(n4, ns4) + max(n6, ns6)))
	return errors.Join(err4, err6, errs4, errs6)
}

// deleteAll deletes keys from m, skipping the absent, in as few calls as
// the absent ones allow (the kernel's batch stops at the first), or one by
// one where the kernel has no batch operations. failed is how many keys
// it may have left in m.
func deleteAll[K [keyLen]byte | [key6Len]byte](m *ebpf.Map, keys []K) (failed int, err error) {
	for len(keys) > 0 {
		n, err := m.BatchDelete(keys, nil)
		switch {
		case err == nil:
			return 0, nil
		case errors.Is(err, ebpf.ErrKeyNotExist) && n < len(keys):
			keys = keys[n+1:]
		case errors.Is(err, ebpf.ErrNotSupported):
			var errs []error
			for i := range keys {
				if err := m.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					errs = append(errs, err)
				}
			}
			return len(errs), errors.Join(errs...)
		default:
			// The count the kernel reports is no help here (cilium/ebpf
			// gives the keys' number back on EBADF): every key left counts.
			return len(keys), fmt.Errorf("withdrawing %d flows: %w", len(keys), err)
		}
	}
	return 0, nil
}

// Idle returns how long ago the fast path last forwarded a frame of k,
// false when it holds no entry for k or never forwarded one.
func (f *FastPath) Idle(k Key) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	val, ok := f.lookup(k)
	if !ok {
		return 0, false
	}
	seen := int64(le64(val[valSeen:]))
	if seen == 0 {
		return 0, false
	}
	// bpf_ktime_get_coarse_ns reads CLOCK_MONOTONIC_COARSE.
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts)
	return time.Duration(max(ts.Nano()-seen, 0)), true
}

// Holds reports whether the fast path has an entry for k.
func (f *FastPath) Holds(k Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.lookup(k)
	return ok
}

// entry marshals k, and a unless nil, into the scratch buffers of k's
// family and returns its map and the buffers. Caller holds mu.
func (f *FastPath) entry(k Key, a *Action) (m *ebpf.Map, key, val unsafe.Pointer) {
	if k.is6() {
		k.marshal6(&f.key6)
		if a != nil {
			a.marshal6(k, &f.val6)
		}
		return f.flows6, unsafe.Pointer(&f.key6), unsafe.Pointer(&f.val6)
	}
	k.marshal(&f.key)
	if a != nil {
		a.marshal(k, &f.val)
	}
	return f.flows, unsafe.Pointer(&f.key), unsafe.Pointer(&f.val)
}

// lookup reads the entry of k into the scratch value of its family and
// returns the words both families share (the first valueLen bytes).
// Caller holds mu.
func (f *FastPath) lookup(k Key) ([]byte, bool) {
	m, key, val := f.entry(k, nil)
	if err := m.Lookup(key, val); err != nil {
		// Not yet copied by a resize? (resize_linux.go)
		if s := f.shadowOf(k); s == nil || s.Lookup(key, val) != nil {
			return nil, false
		}
	}
	if k.is6() {
		return f.val6[:valueLen], true
	}
	return f.val[:], true
}

// Counters returns the packets and bytes the fast path counted in slot
// since it was opened, summed over CPUs.
func (f *FastPath) Counters(slot uint32) (packets, bytes uint64, err error) {
	if int(slot) >= f.slots {
		return 0, 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.counters.Lookup(slot, f.per); err != nil {
		return 0, 0, fmt.Errorf("reading fast-path counters: %w", err)
	}
	for _, c := range f.per {
		packets += c.Packets
		bytes += c.Bytes
	}
	return packets, bytes, nil
}

// ReadCounters fills out[slot] with the packets and bytes of each slot
// below len(out) (at most Slots), summed over CPUs, in one batched system
// call where Counters costs one per slot: lvsd reads every destination's
// slots each second, 2,000 of them at 1,000 real servers.
func (f *FastPath) ReadCounters(out [][2]uint64) error {
	n := min(len(out), f.slots)
	if n == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ncpu := len(f.per)
	if cap(f.batchKeys) < n {
		f.batchKeys = make([]uint32, n)
		f.batchVals = make([]counter, n*ncpu)
	}
	keys, vals := f.batchKeys[:n], f.batchVals[:n*ncpu]
	var cursor ebpf.MapBatchCursor
	got, err := f.counters.BatchLookup(&cursor, keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) { // before Linux 5.6: a lookup per slot
		for i := range n {
			keys[i], got, err = uint32(i), i+1, f.counters.Lookup(uint32(i), vals[i*ncpu:(i+1)*ncpu])
			if err != nil {
				break
			}
		}
	}
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("reading fast-path counters: %w", err)
	}
	for i := range got {
		var p, b uint64
		for _, c := range vals[i*ncpu : (i+1)*ncpu] {
			p += c.Packets
			b += c.Bytes
		}
		if int(keys[i]) < n {
			out[keys[i]] = [2]uint64{p, b}
		}
	}
	return nil
}

// Slots returns the number of counter slots: Action.Slot must be below it.
func (f *FastPath) Slots() int { return f.slots }

// Close detaches the program from every interface and releases the
// programs and maps.
func (f *FastPath) Close() error {
	f.rmu.Lock() // after a resize under way
	defer f.rmu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, l := range f.links {
		errs = append(errs, l.Close())
	}
	f.links = nil
	for _, a := range f.tcs {
		errs = append(errs, a.detach())
	}
	f.tcs = nil
	for _, p := range []*ebpf.Program{f.tcx} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	for _, m := range []*ebpf.Map{f.flows, f.flows6, f.counters} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	f.dropSpares()
	errs = append(errs, f.nf.close()...)
	return errors.Join(errs...)
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// Simulate runs the tcx program on frame f as if it had arrived on
// interface ifindex (BPF_PROG_TEST_RUN: nothing is sent) and reports
// whether the fast path would forward it — scheduling it first when it
// opens a flow of a service the fast path schedules, as the kernel
// would — and the frame it would send.
// A frame's packet type comes from its destination MAC against that
// interface's address. For tests and diagnostics.
func (f *FastPath) Simulate(frame []byte, ifindex int) (forwarded bool, out []byte, err error) {
	out = make([]byte, len(frame)+256)
	ctx := make([]byte, skbGSOSize+4) // struct __sk_buff up to gso_size
	ctx[skbIfindex] = byte(ifindex)
	ctx[skbIfindex+1] = byte(ifindex >> 8)
	ret, err := f.tcx.Run(&ebpf.RunOptions{Data: frame, DataOut: out, Context: ctx})
	if err != nil {
		return false, nil, fmt.Errorf("test run of the tcx program: %w", err)
	}
	return ret == tcActRedirect, out[:len(frame)], nil
}

// tcActRedirect is TC_ACT_REDIRECT, what bpf_redirect returns.
const tcActRedirect = 7

// Flush removes every flow and every service the fast path schedules:
// from the next frame on, everything goes to the Go path (a router that
// stops being active must not go on forwarding).
func (f *FastPath) Flush() error {
	var errs []error
	if err := f.SetServices(nil); err != nil {
		errs = append(errs, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	errs = append(errs, flush(f.flows, &f.key, &f.val), flush(f.flows6, &f.key6, &f.val6))
	if f.shadow != nil {
		errs = append(errs, flush(f.shadow, &f.key, &f.val))
	}
	if f.shadow6 != nil {
		errs = append(errs, flush(f.shadow6, &f.key6, &f.val6))
	}
	return errors.Join(errs...)
}

// flush deletes every entry of flow map m, using key and val as scratch.
func flush[K, V any](m *ebpf.Map, key *K, val *V) error {
	var keys []K
	it := m.Iterate()
	for it.Next(unsafe.Pointer(key), unsafe.Pointer(val)) {
		keys = append(keys, *key)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("listing fast-path flows: %w", err)
	}
	for i := range keys {
		if err := m.Delete(unsafe.Pointer(&keys[i])); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("flushing fast-path flows: %w", err)
		}
	}
	return nil
}
