// Package linktest is the in-memory dataplane.Link for unit tests, like
// wireguard's tuntest: a test injects frames that the code under test reads,
// and collects the frames it wrote. Pair connects two Links back to back, and
// TestPair checks any pair of Links (real or fake) against the Link contract.
//
// It must not be imported by non-test code.
package linktest

import (
	"net"
	"sync"
	"sync/atomic"

	"lvs/dataplane"
)

// Poison is the byte ReadBatch writes over the frames of the previous batch
// before reusing their buffers, so code that keeps a frame past the next
// ReadBatch reads garbage in tests instead of passing by luck.
const Poison = 0xdb

// Frame is one frame with its offload metadata, as written or injected.
type Frame struct {
	Data []byte
	Meta dataplane.Meta
}

// Config sizes a Link. The zero Config is valid.
type Config struct {
	BatchSize int // BatchSize() result; default 64
	Capacity  int // frames queued in each direction before writes drop; default 1024
}

// Link is an in-memory dataplane.MetaLink. Frames queue in bounded channels;
// WriteBatch copies frames into recycled buffers (no allocation once warm)
// and drops, counting, when the queue is full, as an interface whose peer is
// slow would. All methods are safe for concurrent use; concurrent ReadBatch
// calls are serialised (and meaningless, since each invalidates the last).
// Close semantics are those of dataplane.Link.
type Link struct {
	batch  int
	in     chan Frame  // what ReadBatch returns
	out    chan Frame  // what WriteBatch writes
	free   chan []byte // recycled buffers, shared by both ends of a Pair
	closed chan struct{}
	once   sync.Once

	mu   sync.Mutex // serialises ReadBatch; guards held
	held [][]byte   // buffers of the last batch: poisoned and recycled by the next ReadBatch

	dropped atomic.Uint64
}

var _ dataplane.MetaLink = (*Link)(nil)

// New returns a Link whose reads come from Inject and whose writes go to Sent.
func New(c Config) *Link {
	c = c.withDefaults()
	free := make(chan []byte, 2*c.Capacity)
	return newLink(c, make(chan Frame, c.Capacity), make(chan Frame, c.Capacity), free)
}

// Pair returns two connected Links: frames written to a are read from b and
// frames written to b are read from a, with their Meta. Closing one end does
// not close the other.
func Pair(c Config) (a, b *Link) {
	c = c.withDefaults()
	ab, ba := make(chan Frame, c.Capacity), make(chan Frame, c.Capacity)
	free := make(chan []byte, 4*c.Capacity)
	return newLink(c, ba, ab, free), newLink(c, ab, ba, free)
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.Capacity <= 0 {
		c.Capacity = 1024
	}
	return c
}

func newLink(c Config, in, out chan Frame, free chan []byte) *Link {
	return &Link{
		batch:  c.BatchSize,
		in:     in,
		out:    out,
		free:   free,
		closed: make(chan struct{}),
		held:   make([][]byte, 0, c.BatchSize),
	}
}

// Inject queues a copy of frame for ReadBatch. It blocks while the queue is
// full and discards the frame once the Link is closed.
func (l *Link) Inject(frame []byte) { l.InjectMeta(frame, dataplane.Meta{}) }

// InjectMeta is Inject with offload metadata for ReadBatchMeta.
func (l *Link) InjectMeta(frame []byte, m dataplane.Meta) {
	f := Frame{Data: append(l.buffer(), frame...), Meta: m}
	select {
	case l.in <- f:
	case <-l.closed:
	}
}

// Sent drains and returns the frames written so far. The caller owns them.
// On an end of a Pair it steals them from the peer.
func (l *Link) Sent() [][]byte {
	var out [][]byte
	for _, f := range l.SentFrames() {
		out = append(out, f.Data)
	}
	return out
}

// SentFrames is Sent with each frame's Meta.
func (l *Link) SentFrames() []Frame {
	var out []Frame
	for {
		select {
		case f := <-l.out:
			out = append(out, f)
		default:
			return out
		}
	}
}

// Outbound is the queue WriteBatch writes to, for tests that wait for output
// with a select and a timeout. Frames received from it belong to the caller.
func (l *Link) Outbound() <-chan Frame { return l.out }

// Dropped counts frames WriteBatch discarded because the queue was full.
func (l *Link) Dropped() uint64 { return l.dropped.Load() }

// ReadBatch implements dataplane.Link.
func (l *Link) ReadBatch(frames [][]byte) (int, error) {
	return l.read(frames, nil)
}

// ReadBatchMeta implements dataplane.MetaLink.
func (l *Link) ReadBatchMeta(frames [][]byte, meta []dataplane.Meta) (int, error) {
	return l.read(frames, meta[:len(frames)])
}

func (l *Link) read(frames [][]byte, meta []dataplane.Meta) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recycle()
	if len(frames) == 0 {
		return 0, nil
	}
	if l.isClosed() {
		return 0, net.ErrClosed
	}
	var f Frame
	select {
	case f = <-l.in:
	case <-l.closed:
		return 0, net.ErrClosed
	}
	n := 0
	for {
		frames[n] = f.Data
		if meta != nil {
			meta[n] = f.Meta
		}
		l.held = append(l.held, f.Data)
		n++
		if n == len(frames) {
			return n, nil
		}
		select {
		case f = <-l.in:
		default:
			return n, nil
		}
	}
}

// recycle poisons the frames of the previous batch and returns their buffers.
func (l *Link) recycle() {
	for i, b := range l.held {
		for j := range b {
			b[j] = Poison
		}
		select {
		case l.free <- b[:0]:
		default:
		}
		l.held[i] = nil
	}
	l.held = l.held[:0]
}

// WriteBatch implements dataplane.Link.
func (l *Link) WriteBatch(frames [][]byte) (int, error) {
	return l.write(frames, nil)
}

// WriteBatchMeta implements dataplane.MetaLink.
func (l *Link) WriteBatchMeta(frames [][]byte, meta []dataplane.Meta) (int, error) {
	return l.write(frames, meta[:len(frames)])
}

func (l *Link) write(frames [][]byte, meta []dataplane.Meta) (int, error) {
	if l.isClosed() {
		return 0, net.ErrClosed
	}
	for i, b := range frames {
		f := Frame{Data: append(l.buffer(), b...)}
		if meta != nil {
			f.Meta = meta[i]
		}
		select {
		case l.out <- f:
		default:
			l.dropped.Add(1)
			select {
			case l.free <- f.Data[:0]:
			default:
			}
		}
	}
	return len(frames), nil
}

// buffer returns an empty recycled buffer, or nil (append allocates).
func (l *Link) buffer() []byte {
	select {
	case b := <-l.free:
		return b
	default:
		return nil
	}
}

// BatchSize implements dataplane.Link.
func (l *Link) BatchSize() int { return l.batch }

// Close implements dataplane.Link. Queued frames are discarded; a blocked
// ReadBatch or Inject returns at once.
func (l *Link) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *Link) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}
