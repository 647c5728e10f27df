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
// resolved, Due says which to probe now, Learn records what ARP said. The
// packet path asks for an address nobody wanted (a sorry server, a server
// added by lvsadm -a) with Resolve when Lookup misses, as the kernel starts
// resolving on a neighbour miss; such addresses are kept resolved like the
// hosts LearnAny records.
type Table struct {
	mu     sync.Mutex                            // guards want, state and publishing
	want   map[[4]byte]bool                      // addresses to keep resolved (Want)
	auto   map[[4]byte]bool                      // hosts that asked for an owned address (LearnAny)
	state  map[[4]byte]*neighState               // resolution state, written under mu
	lookup atomic.Pointer[map[[4]byte]frame.MAC] // published MACs, read lock-free

	asks  [askSlots]atomic.Uint32 // addresses Resolve asked for (big endian, 0: free), drained by Due
	moves atomic.Uint64           // known MACs that changed (Moves)
	wake  chan<- struct{}         // poked when there is work for the control loop (SetWake); may be nil

	reachable time.Duration // a MAC is used without re-probing for this long
	retrans   time.Duration // between probes of one address
	probes    int           // unanswered probes before a MAC is forgotten
}

type neighState struct {
	mac        frame.MAC
	known      bool
	confirmed  time.Time // last ARP from the neighbour
	probed     time.Time // last probe sent
	unanswered int       // probes sent since the last confirmation
}

// New returns an empty table with the kernel's default timers: a MAC is
// trusted 30 s after its last confirmation, then re-probed every second, and
// forgotten after 3 unanswered probes (base_reachable_time, retrans_time,
// ucast_solicit). Packets to a forgotten neighbour are dropped and counted
// until it answers again.
func New() *Table {
	n := &Table{want: map[[4]byte]bool{}, auto: map[[4]byte]bool{}, state: map[[4]byte]*neighState{},
		reachable: 30 * time.Second, retrans: time.Second, probes: 3}
	empty := map[[4]byte]frame.MAC{}
	n.lookup.Store(&empty)
	return n
}

// Lookup returns the MAC of ip, if known. It never blocks or allocates.
func (n *Table) Lookup(ip [4]byte) (frame.MAC, bool) {
	m, ok := (*n.lookup.Load())[ip]
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

// takeAsks moves the addresses Resolve asked for into the table. Called
// with mu held.
func (n *Table) takeAsks() {
	for i := range n.asks {
		v := n.asks[i].Swap(0)
		if v == 0 {
			continue
		}
		a := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		if !n.want[a] && !n.auto[a] && len(n.auto) < MaxAuto {
			n.auto[a] = true
		}
	}
}

// Want sets the addresses to keep resolved. Addresses no longer wanted are
// forgotten at once.
func (n *Table) Want(ips []netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	want := make(map[[4]byte]bool, len(ips))
	for _, ip := range ips {
		if ip.Is4() {
			want[ip.As4()] = true
		}
	}
	n.want = want
	for ip := range n.state {
		if !want[ip] && !n.auto[ip] {
			delete(n.state, ip)
		}
	}
	n.publish()
}

// Learn records that ip is at mac, from an ARP request or reply the
// neighbour sent. Only wanted addresses are learned, so a stranger's ARP
// cannot fill the table.
func (n *Table) Learn(ip netip.Addr, mac frame.MAC, now time.Time) {
	if !ip.Is4() || mac == (frame.MAC{}) || mac[0]&1 != 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	a := ip.As4()
	if !n.want[a] && !n.auto[a] {
		return
	}
	s := n.state[a]
	if s == nil {
		s = &neighState{}
		n.state[a] = s
	}
	changed := !s.known || s.mac != mac
	if s.known && s.mac != mac {
		n.moves.Add(1)
	}
	s.mac, s.known, s.confirmed, s.unanswered = mac, true, now, 0
	if changed {
		n.publish()
		n.poke() // frames may be waiting for this MAC
	}
}

// Moves counts the neighbours whose known MAC changed to another (a real
// server's NIC replaced, an address moved to another host): whoever copied
// a MAC out of the table, like the eBPF fast path's flow entries, learns
// from a change of this count that it may hold a stale one.
func (n *Table) Moves() uint64 { return n.moves.Load() }

// MaxAuto bounds the hosts LearnAny keeps, so a flood of ARP requests cannot
// grow the table without limit.
const MaxAuto = 4096

// LearnAny records a host on the segment that asked for one of lvsd's
// addresses (an ARP request for a VIP): a client on the same segment, whose
// replies go straight to it. Such hosts are kept resolved like wanted ones
// and forgotten when they stop answering.
func (n *Table) LearnAny(ip netip.Addr, mac frame.MAC, now time.Time) {
	if !ip.Is4() || ip.IsUnspecified() {
		return
	}
	n.mu.Lock()
	a := ip.As4()
	if !n.want[a] && !n.auto[a] && len(n.auto) < MaxAuto {
		n.auto[a] = true
	}
	n.mu.Unlock()
	n.Learn(ip, mac, now)
}

// Due returns the wanted addresses to probe now (appending to dst), and
// forgets MACs whose probes went unanswered. Addresses Resolve asked for
// since the last call are probed at once; one that does not answer three
// probes is dropped until a packet asks for it again. The caller sends one ARP
// request for each address returned.
func (n *Table) Due(dst []netip.Addr, now time.Time) []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	forgot, start := false, len(dst)
	n.takeAsks()
	for ip := range n.auto {
		if s := n.state[ip]; s != nil && !s.known && s.unanswered >= n.probes && now.Sub(s.probed) >= n.retrans {
			delete(n.auto, ip) // a host that left: stop probing it
			delete(n.state, ip)
		}
	}
	for ip := range n.all() {
		s := n.state[ip]
		if s == nil {
			s = &neighState{}
			n.state[ip] = s
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
		dst = append(dst, netip.AddrFrom4(ip))
	}
	if forgot {
		n.publish()
	}
	slices.SortFunc(dst[start:], func(a, b netip.Addr) int { return a.Compare(b) })
	return dst
}

// MaxProbes bounds the addresses one Due call returns. A thousand real
// servers probed at once answer with a thousand ARP replies at once, more
// than a worker's receive ring holds (most were lost, and their servers
// stayed unresolved); the rest are due at the next call (the daemon calls
// Due five times a second), as the kernel spreads its neighbour timers.
const MaxProbes = 64

// all returns the wanted and the learned hosts. Called with mu held.
func (n *Table) all() map[[4]byte]bool {
	if len(n.auto) == 0 {
		return n.want
	}
	m := make(map[[4]byte]bool, len(n.want)+len(n.auto))
	for ip := range n.want {
		m[ip] = true
	}
	for ip := range n.auto {
		m[ip] = true
	}
	return m
}

// publish copies the known MACs into a new lookup map. Called with mu held.
func (n *Table) publish() {
	m := make(map[[4]byte]frame.MAC, len(n.state))
	for ip, s := range n.state {
		if s.known {
			m[ip] = s.mac
		}
	}
	n.lookup.Store(&m)
}
