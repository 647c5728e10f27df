package ha

import (
	"net"
	"net/netip"
	"sync"
)

// Pipe is the in-memory heartbeat transport fake: two connected endpoints,
// A and B, whose links can be cut per channel and direction to simulate a
// dead router, a lost channel or a partition. Datagrams are copied; a full
// queue drops, like a socket buffer. It is for tests, here and in the
// daemon's.
type Pipe struct {
	A, B *PipeEnd

	mu  sync.Mutex // guards cut
	cut map[pipeLink]bool
}

// pipeLink is one direction of one channel: from A (or B) on ch.
type pipeLink struct {
	fromA bool
	ch    Channel
}

// PipeEnd is one endpoint of a Pipe; it implements Transport.
type PipeEnd struct {
	p     *Pipe
	isA   bool
	addr  [numChannels]netip.Addr // our source address per channel
	chans []Channel
	q     [numChannels]chan datagram

	closeOnce sync.Once
	done      chan struct{}
}

const pipeQueue = 64

// datagram is one queued message and its source address.
type datagram struct {
	b    []byte
	from netip.Addr
}

// NewPipe connects a node with addresses a (per channel) to one with
// addresses b. Channels whose address is invalid on either side are absent.
func NewPipe(a, b [numChannels]netip.Addr) *Pipe {
	p := &Pipe{cut: map[pipeLink]bool{}}
	p.A = &PipeEnd{p: p, isA: true, addr: a, done: make(chan struct{})}
	p.B = &PipeEnd{p: p, addr: b, done: make(chan struct{})}
	for ch := range numChannels {
		if !a[ch].IsValid() || !b[ch].IsValid() {
			continue
		}
		for _, e := range []*PipeEnd{p.A, p.B} {
			e.chans = append(e.chans, ch)
			e.q[ch] = make(chan datagram, pipeQueue)
		}
	}
	return p
}

// NewPipeFor connects the primary (A) and the backup (B) of s.
func NewPipeFor(s Settings) *Pipe {
	var a, b [numChannels]netip.Addr
	for ch := range numChannels {
		a[ch], b[ch] = s.Addr(RolePrimary, ch), s.Addr(RoleBackup, ch)
	}
	return NewPipe(a, b)
}

// Cut drops datagrams sent from A (fromA) or from B on ch until Heal.
func (p *Pipe) Cut(fromA bool, ch Channel) { p.set(fromA, ch, true) }

// Heal restores the link Cut took down.
func (p *Pipe) Heal(fromA bool, ch Channel) { p.set(fromA, ch, false) }

// Partition cuts (or heals) both directions of every channel.
func (p *Pipe) Partition(cut bool) {
	for ch := range numChannels {
		p.set(true, ch, cut)
		p.set(false, ch, cut)
	}
}

func (p *Pipe) set(fromA bool, ch Channel, cut bool) {
	p.mu.Lock()
	p.cut[pipeLink{fromA, ch}] = cut
	p.mu.Unlock()
}

func (p *Pipe) isCut(fromA bool, ch Channel) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut[pipeLink{fromA, ch}]
}

func (e *PipeEnd) other() *PipeEnd {
	if e.isA {
		return e.p.B
	}
	return e.p.A
}

// Channels lists the connected channels.
func (e *PipeEnd) Channels() []Channel { return e.chans }

// Send queues a copy of b at the other end, unless the link is cut, the
// other end is closed or its queue is full; those drops are silent, as on
// a network.
func (e *PipeEnd) Send(ch Channel, b []byte) error {
	select {
	case <-e.done:
		return net.ErrClosed
	default:
	}
	o := e.other()
	if ch >= numChannels || o.q[ch] == nil || e.p.isCut(e.isA, ch) {
		return nil
	}
	select {
	case <-o.done:
		return nil
	default:
	}
	select {
	case o.q[ch] <- datagram{append([]byte(nil), b...), e.addr[ch]}:
	default: // queue full: dropped
	}
	return nil
}

// Recv blocks for the next datagram on ch.
func (e *PipeEnd) Recv(ch Channel, buf []byte) (int, netip.Addr, error) {
	if ch >= numChannels || e.q[ch] == nil {
		return 0, netip.Addr{}, net.ErrClosed
	}
	select {
	case d := <-e.q[ch]:
		return copy(buf, d.b), d.from, nil
	case <-e.done:
		return 0, netip.Addr{}, net.ErrClosed
	}
}

// TryRecv returns the next queued datagram on ch without blocking, for
// tests that step nodes themselves.
func (e *PipeEnd) TryRecv(ch Channel, buf []byte) (int, netip.Addr, bool) {
	if ch >= numChannels || e.q[ch] == nil {
		return 0, netip.Addr{}, false
	}
	select {
	case d := <-e.q[ch]:
		return copy(buf, d.b), d.from, true
	default:
		return 0, netip.Addr{}, false
	}
}

// Inject queues a datagram at this end as if sent from from on ch (forgery
// and replay tests). It ignores cuts.
func (e *PipeEnd) Inject(ch Channel, from netip.Addr, b []byte) {
	if ch >= numChannels || e.q[ch] == nil {
		return
	}
	select {
	case e.q[ch] <- datagram{append([]byte(nil), b...), from}:
	default:
	}
}

// Close makes blocked Recv calls return net.ErrClosed; later sends to this
// end are dropped.
func (e *PipeEnd) Close() error {
	e.closeOnce.Do(func() { close(e.done) })
	return nil
}
