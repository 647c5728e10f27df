package ha

import (
	"net"
	"net/netip"
	"sync"
)

// SyncPipe is the in-memory fake of a sync socket pair: NewSyncPipe returns
// two endpoints with the given addresses; what one writes to the other's
// address the other reads, with the writer's address as source. A datagram
// to any other address is lost, as is one that finds the reader's queue
// full. It is for tests, here and in the daemon's.
type SyncPipe struct {
	addr  netip.AddrPort
	peer  *SyncPipe
	queue chan syncDatagram

	mu     sync.Mutex // guards closed
	closed bool
	done   chan struct{}
}

type syncDatagram struct {
	b    []byte
	from netip.AddrPort
}

// NewSyncPipe returns two connected endpoints, each queueing up to depth
// datagrams (depth ≤ 0: 1024).
func NewSyncPipe(a, b netip.AddrPort, depth int) (*SyncPipe, *SyncPipe) {
	if depth <= 0 {
		depth = 1024
	}
	x := &SyncPipe{addr: a, queue: make(chan syncDatagram, depth), done: make(chan struct{})}
	y := &SyncPipe{addr: b, queue: make(chan syncDatagram, depth), done: make(chan struct{})}
	x.peer, y.peer = y, x
	return x, y
}

// LocalAddr returns the endpoint's address.
func (p *SyncPipe) LocalAddr() netip.AddrPort { return p.addr }

// ReadFromUDPAddrPort reads the next datagram. After Close it still
// returns what was queued before net.ErrClosed, so a test can drain it.
func (p *SyncPipe) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	select {
	case d := <-p.queue:
		return copy(b, d.b), d.from, nil
	default:
	}
	select {
	case d := <-p.queue:
		return copy(b, d.b), d.from, nil
	case <-p.done:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

// WriteToUDPAddrPort delivers a copy of b to the peer if addr is its
// address.
func (p *SyncPipe) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return 0, net.ErrClosed
	}
	if addr != p.peer.addr {
		return len(b), nil
	}
	select {
	case p.peer.queue <- syncDatagram{b: append([]byte(nil), b...), from: p.addr}:
	default:
	}
	return len(b), nil
}

// Close makes blocked and later reads return net.ErrClosed.
func (p *SyncPipe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	return nil
}
