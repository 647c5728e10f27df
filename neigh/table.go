package neigh

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"lvs/frame"
)

// Table is lvsd's own neighbour table for one interface: the MAC addresses of
// the real servers (and gateways) lvsd sends frames to. lvsd keeps its own
// rather than the kernel's because it resolves on behalf of addresses the
// kernel does not own (the nat_router address, VIPs).
//
// Lookup is lock-free and allocation-free for the packet path: it reads an
// immutable map published through an atomic pointer. Every change (learning
// a MAC, expiry) copies the map under mu; changes are rare (one per real
// server every few minutes), lookups are per packet.
//
// The control loop drives resolution: Want says which addresses to keep
// resolved, Due says which to probe now, Learn records what ARP (or, for
// IPv6, a neighbour solicitation or advertisement) said. The packet path
// asks for an address nobody wanted (a sorry server, a server added by
// lvsadm -a) with Resolve when Lookup misses, as the kernel starts
// resolving on a neighbour miss; such addresses are kept resolved like the
// hosts LearnAny records.
//
// IPv4 and IPv6 neighbours live in two maps of their own (v4, v6), so an
// IPv4 Lookup hashes 4 bytes as it did before IPv6 existed.
type Table struct {
	mu sync.Mutex       // guards both families' want, auto, state and publishing
	v4 family[[4]byte]  // IPv4 neighbours (ARP)
	v6 family[[16]byte] // IPv6 neighbours (Neighbour Discovery)

	asks  [askSlots]atomic.Uint32 // IPv4 addresses Resolve asked for (big endian, 0: free), drained by Due
	askMu sync.Mutex              // guards asks6; taken only with TryLock on the packet path
	asks6 [askSlots][16]byte      // IPv6 addresses Resolve6 asked for
	nask6 int
	moves atomic.Uint64   // known MACs that changed (Moves)
	wake  chan<- struct{} // poked when there is work for the control loop (SetWake); may be nil

	reachable time.Duration // a MAC is used without re-probing for this long
	retrans   time.Duration // between probes of one address
	probes    int           // unanswered probes before a MAC is forgotten
}

// family is the part of the table for one address family, keyed by the
// address's bytes.
type family[K [4]byte | [16]byte] struct {
	want   map[K]bool                      // addresses to keep resolved (Want)
	auto   map[K]bool                      // hosts that asked for an owned address (LearnAny)
	state  map[K]*neighState               // resolution state, written under Table.mu
	lookup atomic.Pointer[map[K]frame.MAC] // published MACs, read lock-free
	addr   func(K) netip.Addr              // the key as an address
}

// init makes f an empty family whose keys are addresses by addr.
func (f *family[K]) init(addr func(K) netip.Addr) {
	f.want, f.auto, f.state, f.addr = map[K]bool{}, map[K]bool{}, map[K]*neighState{}, addr
	empty := map[K]frame.MAC{}
	f.lookup.Store(&empty)
}

type neighState struct {
	mac        frame.MAC
	known      bool
	confirmed  time.Time // last ARP or ND message from the neighbour
	probed     time.Time // last probe sent
	unanswered int       // probes sent since the last confirmation
}

// New returns an empty table with the kernel's default timers: a MAC is
// trusted 30 s after its last confirmation, then re-probed every second, and
// forgotten after 3 unanswered probes (base_reachable_time, retrans_time,
// ucast_solicit). Packets to a forgotten neighbour are dropped and counted
// until it answers again.
func New() *Table {
	n := &Table{reachable: 30 * time.Second, retrans: time.Second, probes: 3}
	n.v4.init(netip.AddrFrom4)
	n.v6.init(netip.AddrFrom16)
	return n
}

// Lookup returns the MAC of the IPv4 neighbour ip, if known. It never
// blocks or allocates.
func (n *Table) Lookup(ip [4]byte) (frame.MAC, bool) {
	m, ok := (*n.v4.lookup.Load())[ip]
	return m, ok
}

// Lookup6 returns the MAC of the IPv6 neighbour ip, if known. It never
// blocks or allocates.
func (n *Table) Lookup6(ip [16]byte) (frame.MAC, bool) {
	m, ok := (*n.v6.lookup.Load())[ip]
	return m, ok
}

// askSlots bounds the addresses asked for between two Due calls; a miss
// that finds them all taken is asked again by the next packet.
const askSlots = 32

// SetWake makes Resolve and Learn poke c (without blocking) when the
// control loop has work: an address to probe, or a MAC that frames may be
// waiting for. Call it before the table is used.
func (n *Table) SetWake(c chan<- struct{}) { n.wake = c }

// poke tells the control loop there is work, without blocking.
func (n *Table) poke() {
	if n.wake == nil {
		return
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Resolve asks for ip to be resolved: the packet path calls it when Lookup
// misses. It never blocks, locks or allocates; the next Due takes the
// address (bounded by MaxAuto, like LearnAny's hosts) and probes it at once.
func (n *Table) Resolve(ip [4]byte) {
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	if v == 0 {
		return
	}
	h := v * 2654435761 // Fibonacci hashing spreads a subnet's addresses
	for i := range uint32(askSlots) {
		s := &n.asks[(h>>27+i)%askSlots]
		cur := s.Load()
		if cur == v {
			return // asked already
		}
		if cur == 0 && s.CompareAndSwap(0, v) {
			n.poke()
			return
		}
	}
}

// Resolve6 is Resolve for an IPv6 neighbour. It never blocks or
// allocates: when another goroutine holds the ask list, or it is full, the
// address is asked for again by the next packet that misses.
func (n *Table) Resolve6(ip [16]byte) {
	if ip == ([16]byte{}) || !n.askMu.TryLock() {
		return
	}
	for i := range n.nask6 {
		if n.asks6[i] == ip {
			n.askMu.Unlock()
			return
		}
	}
	added := n.nask6 < askSlots
	if added {
		n.asks6[n.nask6] = ip
		n.nask6++
	}
	n.askMu.Unlock()
	if added {
		n.poke()
	}
}

// takeAsks moves the addresses Resolve and Resolve6 asked for into the
// table. Called with mu held.
func (n *Table) takeAsks() {
	for i := range n.asks {
		v := n.asks[i].Swap(0)
		if v == 0 {
			continue
		}
		n.v4.ask([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	n.askMu.Lock()
	for _, a := range n.asks6[:n.nask6] {
		n.v6.ask(a)
	}
	n.nask6 = 0
	n.askMu.Unlock()
}

// ask adds a, which a packet missed, to the hosts kept resolved.
func (f *family[K]) ask(a K) {
	if !f.want[a] && !f.auto[a] && len(f.auto) < MaxAuto {
		f.auto[a] = true
	}
}

// Want sets the addresses to keep resolved, of both families. Addresses
// no longer wanted are forgotten at once.
func (n *Table) Want(ips []netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	want4 := make(map[[4]byte]bool, len(ips))
	want6 := map[[16]byte]bool{}
	for _, ip := range ips {
		switch {
		case ip.Is4():
			want4[ip.As4()] = true
		case ip.Is6() && !ip.Is4In6():
			want6[ip.As16()] = true
		}
	}
	n.v4.setWant(want4)
	n.v6.setWant(want6)
}

// setWant replaces the wanted addresses and publishes. Called with
// Table.mu held.
func (f *family[K]) setWant(want map[K]bool) {
	f.want = want
	for ip := range f.state {
		if !want[ip] && !f.auto[ip] {
			delete(f.state, ip)
		}
	}
	f.publish()
}

// Learn records that ip is at mac, from an ARP request or reply, or a
// neighbour solicitation or advertisement, the neighbour sent. Only wanted
// addresses are learned, so a stranger's ARP or ND cannot fill the table.
func (n *Table) Learn(ip netip.Addr, mac frame.MAC, now time.Time) {
	if mac == (frame.MAC{}) || mac[0]&1 != 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var changed, moved bool
	switch {
	case ip.Is4():
		changed, moved = n.v4.learn(ip.As4(), mac, now)
	case ip.Is6() && !ip.Is4In6():
		changed, moved = n.v6.learn(ip.As16(), mac, now)
	}
	if moved {
		n.moves.Add(1)
	}
	if changed {
		n.poke() // frames may be waiting for this MAC
	}
}

// learn is Learn for one family, with Table.mu held: it reports whether
// the published MAC changed, and whether a known one moved.
func (f *family[K]) learn(a K, mac frame.MAC, now time.Time) (changed, moved bool) {
	if !f.want[a] && !f.auto[a] {
		return false, false
	}
	s := f.state[a]
	if s == nil {
		s = &neighState{}
		f.state[a] = s
	}
	changed = !s.known || s.mac != mac
	moved = s.known && s.mac != mac
	s.mac, s.known, s.confirmed, s.unanswered = mac, true, now, 0
	if changed {
		f.publish()
	}
	return changed, moved
}

// Moves counts the neighbours whose known MAC changed to another (a real
// server's NIC replaced, an address moved to another host): whoever copied
// a MAC out of the table, like the eBPF fast path's flow entries, learns
// from a change of this count that it may hold a stale one.
func (n *Table) Moves() uint64 { return n.moves.Load() }

// MaxAuto bounds the hosts LearnAny keeps (per address family), so a flood
// of ARP requests or neighbour solicitations cannot grow the table without
// limit.
const MaxAuto = 4096

// LearnAny records a host on the segment that asked for one of lvsd's
// addresses (an ARP request or a neighbour solicitation for a VIP): a
// client on the same segment, whose replies go straight to it. Such hosts
// are kept resolved like wanted ones and forgotten when they stop
// answering.
func (n *Table) LearnAny(ip netip.Addr, mac frame.MAC, now time.Time) {
	if ip.IsUnspecified() || ip.IsMulticast() {
		return
	}
	n.mu.Lock()
	switch {
	case ip.Is4():
		n.v4.ask(ip.As4())
	case ip.Is6() && !ip.Is4In6():
		n.v6.ask(ip.As16())
	}
	n.mu.Unlock()
	n.Learn(ip, mac, now)
}

// Due returns the wanted addresses to probe now (appending to dst), IPv4
// ones first, and forgets MACs whose probes went unanswered. Addresses
// Resolve asked for since the last call are probed at once; one that does
// not answer three probes is dropped until a packet asks for it again. The
// caller sends one ARP request for each IPv4 address returned and one
// neighbour solicitation for each IPv6 one.
func (n *Table) Due(dst []netip.Addr, now time.Time) []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	start := len(dst)
	n.takeAsks()
	dst = n.v4.due(n, dst, start, now)
	dst = n.v6.due(n, dst, start, now)
	return dst
}

// due is Due for one family, with Table.mu held; start is where this
// Due call's addresses begin in dst (MaxProbes counts both families).
func (f *family[K]) due(n *Table, dst []netip.Addr, start int, now time.Time) []netip.Addr {
	forgot, mine := false, len(dst)
	for ip := range f.auto {
		if s := f.state[ip]; s != nil && !s.known && s.unanswered >= n.probes && now.Sub(s.probed) >= n.retrans {
			delete(f.auto, ip) // a host that left: stop probing it
			delete(f.state, ip)
		}
	}
	for ip := range f.all() {
		s := f.state[ip]
		if s == nil {
			s = &neighState{}
			f.state[ip] = s
		}
		fresh := s.known && now.Sub(s.confirmed) < n.reachable
		if fresh || now.Sub(s.probed) < n.retrans {
			continue
		}
		if len(dst)-start >= MaxProbes {
			continue // the rest next time: their replies would overflow a receive ring
		}
		if s.known && s.unanswered >= n.probes {
			s.known, forgot = false, true
		}
		s.probed = now
		s.unanswered++
		dst = append(dst, f.addr(ip))
	}
	if forgot {
		f.publish()
	}
	slices.SortFunc(dst[mine:], func(a, b netip.Addr) int { return a.Compare(b) })
	return dst
}

// MaxProbes bounds the addresses one Due call returns. A thousand real
// servers probed at once answer with a thousand ARP replies at once, more
// than a worker's ARP receive ring holds (512 frames: afpacket's
// arpFrameCount; most were lost, and their servers stayed unresolved);
// the rest are due at the next call (the daemon calls Due five times a
// second), as the kernel spreads its neighbour timers: 1,000 real servers
// resolve within a second of lvsd's start. Until a service's servers all
// resolve, the Go workers schedule its new flows, not the kernel.
const MaxProbes = 256

// all returns the wanted and the learned hosts. Called with Table.mu held.
func (f *family[K]) all() map[K]bool {
	if len(f.auto) == 0 {
		return f.want
	}
	m := make(map[K]bool, len(f.want)+len(f.auto))
	for ip := range f.want {
		m[ip] = true
	}
	for ip := range f.auto {
		m[ip] = true
	}
	return m
}

// publish copies the known MACs into a new lookup map. Called with
// Table.mu held.
func (f *family[K]) publish() {
	m := make(map[K]frame.MAC, len(f.state))
	for ip, s := range f.state {
		if s.known {
			m[ip] = s.mac
		}
	}
	f.lookup.Store(&m)
}
