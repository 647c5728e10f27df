package nat

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lvs/ipvs"
)

// A Flow is one translated connection that is not a virtual service's: a
// connection a real server opened itself (masquerade: the guide's
// `-j MASQUERADE`, active FTP data) or an FTP data connection the helper
// expected. Inner is the real server's side (RIP:port), Peer the remote end
// (the client, or any host the real server talks to), Outer the public
// address the peer sees (VIP:port). Packets Inner→Peer leave with source
// Outer; packets Peer→Outer arrive back with destination Inner.
type Flow struct {
	Proto uint8 // frame.ProtoTCP or frame.ProtoUDP
	Inner netip.AddrPort
	Peer  netip.AddrPort
	Outer netip.AddrPort
	Stats Stats // where its packets are counted; not part of the translation
}

// Stats are the counters a flow is counted on: its real server's and that
// server's service's, as IPVS counts an FTP data connection on the
// destination of its control connection. Either may be nil.
type Stats struct {
	Dest, Svc *ipvs.Counters
}

// flow is a Flow in the table: the translation, immutable once inserted,
// plus the state and deadline its packets update atomically.
type flow struct {
	Flow
	fwd, rev key
	state    atomic.Uint32 // tcpState
	deadline atomic.Int64  // ipvs.Tick after which the flow is gone
	bound    bool          // counted in Stats.Dest's active/inactive connections (bind.go)
	epoch    uint32        // Stats.Dest's scheduling epoch when it was bound
}

// key is a packed (proto, a:port, b:port) tuple: a cheap map key that holds
// no pointers, so the garbage collector does not scan the maps. An IPv4
// end packs into one word (a, b); an IPv6 end adds the high half of its
// address (a6, b6) and its port (pa, pb), which stay zero for IPv4, so an
// IPv4 key hashes to the same shard it always did.
type key struct {
	a, b   uint64 // IPv4: addr<<16 | port; IPv6: the low 64 bits of the address
	a6, b6 uint64 // IPv6: the high 64 bits of the address
	pa, pb uint16 // IPv6: the ports
	proto  uint8
	v6     bool
}

// keyOf returns the key of the tuple (proto, a, b). The ends of a flow are
// of one family (IPVS does not translate NAT between families); an IPv4
// end beside an IPv6 one takes its IPv4-mapped form.
func keyOf(proto uint8, a, b netip.AddrPort) key {
	if a.Addr().Is4() && b.Addr().Is4() {
		return key{a: pack(a), b: pack(b), proto: proto}
	}
	x, y := a.Addr().As16(), b.Addr().As16()
	return key{a: binary.BigEndian.Uint64(x[8:]), b: binary.BigEndian.Uint64(y[8:]),
		a6: binary.BigEndian.Uint64(x[:8]), b6: binary.BigEndian.Uint64(y[:8]),
		pa: a.Port(), pb: b.Port(), proto: proto, v6: true}
}

func pack(ap netip.AddrPort) uint64 {
	a := ap.Addr().As4()
	return (uint64(a[0])<<24|uint64(a[1])<<16|uint64(a[2])<<8|uint64(a[3]))<<16 | uint64(ap.Port())
}

// tcpState is the small TCP state machine of a flow: enough to pick a
// timeout like IPVS's (SYN_SENT, ESTABLISHED, FIN_WAIT/CLOSE, CLOSE).
type tcpState uint32

const (
	stSynSent tcpState = iota // the opener's SYN went by, nothing back yet
	stEstablished
	stClosing // a FIN went by
	stClosed  // an RST went by
	stDead    // unlinked: no more state changes (bind.go)
)

// Timeouts are the idle timeouts of flows, by TCP state, and of UDP flows.
// The defaults are IPVS's (ip_vs_proto_tcp.c tcp_timeouts, ip_vs_proto_udp.c).
type Timeouts struct {
	SynSent, Established, Closing, Closed, UDP time.Duration
}

// DefaultTimeouts returns IPVS's timeouts: SYN_SENT 2 min, ESTABLISHED
// 15 min, FIN_WAIT 2 min, CLOSE 10 s, UDP 5 min.
func DefaultTimeouts() Timeouts {
	return Timeouts{SynSent: 2 * time.Minute, Established: 15 * time.Minute, Closing: 2 * time.Minute,
		Closed: 10 * time.Second, UDP: 5 * time.Minute}
}

func (t *Timeouts) of(proto uint8, s tcpState) int64 {
	var d time.Duration
	switch {
	case proto != protoTCP:
		d = t.UDP
	case s == stSynSent:
		d = t.SynSent
	case s == stEstablished:
		d = t.Established
	case s == stClosing:
		d = t.Closing
	default:
		d = t.Closed
	}
	return d.Milliseconds()
}

const (
	protoTCP = 6
	protoUDP = 17

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// Errors of Table.Add.
var (
	ErrTableFull = errors.New("masquerade table full")
	ErrNoPort    = errors.New("no free masquerade port")
)

const (
	shardBits = 6
	numShards = 1 << shardBits
	// sweepEvery: a shard sweeps its expired flows every this many inserts,
	// so the table needs no timer goroutine.
	sweepEvery = 256
)

type shard struct {
	idx     int // position in Table.shards: the lock order
	mu      sync.RWMutex
	m       map[key]*flow // guarded by mu: both directions' keys
	inserts int           // guarded by mu: since the last sweep
}

// Table holds the flows. Lookups take a shard's read lock and do not
// allocate; Add allocates one flow. It is safe for concurrent use by every
// worker. Expired flows are removed by a sweep of the shard every
// sweepEvery inserts into it, and ignored by lookups before that.
type Table struct {
	shards [numShards]shard
	count  atomic.Int64
	max    int64
	to     atomic.Pointer[Timeouts]
	log    changeLog    // new flows and state changes, for connection sync (sync.go)
	tidied atomic.Int64 // ipvs.Tick of the last Tidy sweep
}

// NewTable returns a table holding at most max flows (0: 1<<18).
func NewTable(max int) *Table {
	if max <= 0 {
		max = 1 << 18
	}
	t := &Table{max: int64(max)}
	for i := range t.shards {
		t.shards[i].m = make(map[key]*flow, 64)
		t.shards[i].idx = i
	}
	to := DefaultTimeouts()
	t.to.Store(&to)
	return t
}

// SetTimeouts replaces the timeouts; flows pick them up at their next packet.
func (t *Table) SetTimeouts(to Timeouts) { t.to.Store(&to) }

// Len returns the number of flows, expired ones not swept yet included.
func (t *Table) Len() int { return int(t.count.Load()) }

func (t *Table) shardOf(k key) *shard {
	h := k.a*0x9e3779b97f4a7c15 ^ k.b*0xc2b2ae3d27d4eb4f ^ uint64(k.proto)
	if k.v6 {
		h ^= (k.a6^uint64(k.pa))*0x165667b19e3779f9 ^ (k.b6^uint64(k.pb))*0x27d4eb2f165667c5
	}
	return &t.shards[h>>(64-shardBits)]
}

func (t *Table) get(k key, now ipvs.Tick) *flow {
	s := t.shardOf(k)
	s.mu.RLock()
	f := s.m[k]
	s.mu.RUnlock()
	if f == nil || int64(now) > f.deadline.Load() {
		return nil
	}
	return f
}

// Dir is the direction of a packet of a flow.
type Dir uint8

// Directions of a flow's packets.
const (
	Out Dir = iota // Inner → Peer: leaves with source Outer
	In             // Peer → Outer: arrives back with destination Inner
)

// LookupOut finds the flow of a packet Inner→Peer and steps its state with
// the packet's TCP flags (0 for UDP).
func (t *Table) LookupOut(proto uint8, inner, peer netip.AddrPort, flags uint8, now ipvs.Tick) (Flow, bool) {
	f := t.get(keyOf(proto, inner, peer), now)
	if f == nil {
		return Flow{}, false
	}
	t.step(f, Out, flags, now)
	return f.Flow, true
}

// LookupIn finds the flow of a packet Peer→Outer and steps its state.
func (t *Table) LookupIn(proto uint8, peer, outer netip.AddrPort, flags uint8, now ipvs.Tick) (Flow, bool) {
	f := t.get(keyOf(proto, peer, outer), now)
	if f == nil {
		return Flow{}, false
	}
	t.step(f, In, flags, now)
	return f.Flow, true
}

// FindIn is LookupIn for a packet that is not the flow's own (an ICMP error
// quoting one): it neither steps the state nor re-arms the timer.
func (t *Table) FindIn(proto uint8, peer, outer netip.AddrPort, now ipvs.Tick) (Flow, bool) {
	f := t.get(keyOf(proto, peer, outer), now)
	if f == nil {
		return Flow{}, false
	}
	return f.Flow, true
}

// step advances the flow's TCP state and re-arms its deadline.
func (t *Table) step(f *flow, dir Dir, flags uint8, now ipvs.Tick) {
	st := tcpState(f.state.Load())
	if f.Proto == protoTCP && st != stDead {
		next := st
		switch {
		case flags&tcpRST != 0:
			next = stClosed
		case flags&tcpFIN != 0:
			next = stClosing
		case st == stSynSent && flags&tcpACK != 0: // the SYN-ACK, or any later segment
			next = stEstablished
		case st == stClosed && flags&tcpSYN != 0 && flags&tcpACK == 0:
			next = stSynSent // a new connection on the same ports
		}
		if next != st && f.state.CompareAndSwap(uint32(st), uint32(next)) {
			f.moved(st, next) // bind.go
			st = next
			t.log.add(f) // the standby follows state changes (sync.go)
		}
	}
	d := int64(now) + t.to.Load().of(f.Proto, st)
	if f.deadline.Load() != d {
		f.deadline.Store(d)
	}
}

// Reserved says whether outer address addr:port cannot be given to a flow
// with peer: the port of a virtual service (or a firewall-marked port) on
// the VIP, whose packets from the peer would go to the service instead.
// Implementations must not allocate.
type Reserved interface {
	Reserved(proto uint8, peer, outer netip.AddrPort) bool
}

// Add inserts the flow of a new connection from inner to peer, translated
// to address outer and, if possible, port want (iptables MASQUERADE keeps
// the source port when it is free; want 0 means inner's port), counted on
// st. Otherwise a
// port is picked from the same class (below 1024, or 1024-65535) that no
// flow with the same peer uses and res does not reserve. The returned Flow
// is the one in the table: an existing one when a concurrent Add won.
func (t *Table) Add(proto uint8, inner, peer netip.AddrPort, outer netip.Addr, want uint16, st Stats, res Reserved, now ipvs.Tick) (Flow, error) {
	if want == 0 {
		want = inner.Port()
	}
	fwd := keyOf(proto, inner, peer)
	if t.count.Load() >= t.max {
		t.sweepAll(now)
		if t.count.Load() >= t.max {
			return Flow{}, ErrTableFull
		}
	}
	lo, hi := uint32(1024), uint32(65535)
	if want < 1024 {
		lo, hi = 600, 1023 // as nf_nat's privileged-port class (ports below 512 are rarer still)
	}
	n := hi - lo + 1
	start := uint32(want)
	if start < lo || start > hi {
		start = lo
	}
	// The wanted port first, then every port of its class once, walking
	// up from it (nf_nat's get_unique_tuple walks its range likewise).
	for i := uint32(0); i <= n; i++ {
		o := netip.AddrPortFrom(outer, want)
		if i > 0 {
			o = netip.AddrPortFrom(outer, uint16(lo+(start-lo+i)%n))
		}
		if res != nil && res.Reserved(proto, peer, o) {
			continue
		}
		f, err := t.insert(fwd, Flow{Proto: proto, Inner: inner, Peer: peer, Outer: o, Stats: st}, now)
		if errors.Is(err, errTaken) {
			continue
		}
		return f, err
	}
	return Flow{}, ErrNoPort
}

var errTaken = errors.New("outer tuple in use")

// Insert adds a flow with the given translation (the FTP helper's data
// connections, whose ports are fixed by the control channel). It fails
// when the outer tuple is in use by another flow.
func (t *Table) Insert(fl Flow, now ipvs.Tick) (Flow, error) {
	if t.count.Load() >= t.max {
		t.sweepAll(now)
		if t.count.Load() >= t.max {
			return Flow{}, ErrTableFull
		}
	}
	return t.insert(keyOf(fl.Proto, fl.Inner, fl.Peer), fl, now)
}

// insert links a new flow under both keys, taking both shards' locks in
// address order. An unexpired flow under the forward key is returned as it
// is; one under the reverse key makes the insert fail with errTaken.
func (t *Table) insert(fwd key, fl Flow, now ipvs.Tick) (Flow, error) {
	rev := keyOf(fl.Proto, fl.Peer, fl.Outer)
	a, b := t.shardOf(fwd), t.shardOf(rev)
	lock(a, b)
	defer unlock(a, b)
	if f := a.m[fwd]; f != nil && int64(now) <= f.deadline.Load() {
		return f.Flow, nil
	}
	if f := b.m[rev]; f != nil && int64(now) <= f.deadline.Load() {
		return Flow{}, errTaken
	}
	for _, k := range [2]key{fwd, rev} { // expired flows in the way
		s := a
		if k == rev {
			s = b
		}
		if old := s.m[k]; old != nil {
			t.unlinkLocked(old)
		}
	}
	f := &flow{Flow: fl, fwd: fwd, rev: rev}
	f.deadline.Store(int64(now) + t.to.Load().of(fl.Proto, stSynSent))
	f.bind() // bind.go
	t.log.add(f)
	a.m[fwd] = f
	b.m[rev] = f
	t.count.Add(1)
	a.inserts++
	if a.inserts >= sweepEvery {
		a.inserts = 0
		t.sweepLocked(a, b, now)
	}
	return fl, nil
}

// unlinkLocked removes f from both maps; the caller holds the locks of
// both of its shards.
func (t *Table) unlinkLocked(f *flow) {
	f.unbind() // bind.go
	fs, rs := t.shardOf(f.fwd), t.shardOf(f.rev)
	if fs.m[f.fwd] == f {
		delete(fs.m, f.fwd)
	}
	if rs.m[f.rev] == f {
		delete(rs.m, f.rev)
	}
	t.count.Add(-1)
}

// sweepLocked removes the expired flows of shard s whose other key lives in
// s or in o (both locked); the rest wait for a sweep of their own.
func (t *Table) sweepLocked(s, o *shard, now ipvs.Tick) {
	for k, f := range s.m {
		if k != f.fwd || int64(now) <= f.deadline.Load() {
			continue
		}
		if rs := t.shardOf(f.rev); rs == s || rs == o {
			t.unlinkLocked(f)
		}
	}
}

// Expire removes every expired flow and returns how many it removed. The
// table calls it itself when full; a daemon may call it periodically.
func (t *Table) Expire(now ipvs.Tick) int {
	before := t.count.Load()
	t.sweepAll(now)
	return int(before - t.count.Load())
}

// tidyEvery is how often Tidy sweeps.
const tidyEvery = 1000 // ms

// Tidy is Expire at most once a second: a daemon calls it at every turn of
// its control loop, so an expired flow leaves its real server's connection
// counts (bind.go) within about a second, at the cost of one scan of the
// table a second.
func (t *Table) Tidy(now ipvs.Tick) int {
	last := t.tidied.Load()
	if int64(now)-last < tidyEvery || !t.tidied.CompareAndSwap(last, int64(now)) {
		return 0
	}
	return t.Expire(now)
}

func (t *Table) sweepAll(now ipvs.Tick) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		var dead []*flow
		for k, f := range s.m {
			if k == f.fwd && int64(now) > f.deadline.Load() {
				dead = append(dead, f)
			}
		}
		s.mu.RUnlock()
		for _, f := range dead {
			a, b := t.shardOf(f.fwd), t.shardOf(f.rev)
			lock(a, b)
			if a.m[f.fwd] == f && int64(now) > f.deadline.Load() {
				t.unlinkLocked(f)
			}
			unlock(a, b)
		}
	}
}

// Walk calls fn for every live flow until it returns false.
func (t *Table) Walk(now ipvs.Tick, fn func(Flow) bool) {
	for i := range t.shards {
		s := &t.shards[i]
		var fs []Flow
		s.mu.RLock()
		for k, f := range s.m {
			if k == f.fwd && int64(now) <= f.deadline.Load() {
				fs = append(fs, f.Flow)
			}
		}
		s.mu.RUnlock()
		for _, f := range fs {
			if !fn(f) {
				return
			}
		}
	}
}

func lock(a, b *shard) {
	if a == b {
		a.mu.Lock()
		return
	}
	if a.idx > b.idx {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
}

func unlock(a, b *shard) {
	a.mu.Unlock()
	if a != b {
		b.mu.Unlock()
	}
}
