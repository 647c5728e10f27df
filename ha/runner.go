package ha

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"lvs/internal/clock"
)

// Clock is the runner's time source; tests pass a fake.
type Clock = clock.Clock

// Timer is a one-shot timer of a Clock.
type Timer = clock.Timer

// SystemClock is the real clock.
func SystemClock() Clock { return clock.System() }

// Batch is the output of one Step for the daemon, heartbeats removed (the
// runner sends those). The daemon executes Actions in order and then calls
// Done. A heartbeat that follows ClaimAddresses or ReleaseAddresses in the
// same Step is sent only after Done, so the peer never hears "released"
// before the addresses are gone. A daemon that never calls Done therefore
// stops our heartbeats and the peer takes over, which is what should happen
// to a router whose dataplane is wedged.
type Batch struct {
	Actions Actions
	done    *batchDone
}

type batchDone struct {
	once sync.Once
	ch   chan struct{}
}

// Done reports that every action of the batch was executed. Calling it more
// than once is harmless.
func (b Batch) Done() {
	if b.done != nil {
		b.done.once.Do(func() { close(b.done.ch) })
	}
}

// Runner is the thin goroutine around a Node: it reads heartbeats from the
// Transport (one reader goroutine per channel), wakes at Node.Next, feeds
// events in, sends heartbeats, and hands every other action to the daemon
// on Actions(). Run owns every goroutine it starts and waits for them.
type Runner struct {
	node   *Node
	tr     Transport
	clk    Clock
	log    *slog.Logger
	out    chan Batch
	events chan Event
	status atomic.Pointer[Status]

	sendErr [numChannels]string // last send error logged per channel (Run goroutine only)
}

// NewRunner returns a runner for n over t. Run takes ownership of t and
// closes it on return.
func NewRunner(n *Node, t Transport, clk Clock, log *slog.Logger) *Runner {
	if clk == nil {
		clk = SystemClock()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{node: n, tr: t, clk: clk, log: log, out: make(chan Batch), events: make(chan Event)}
	st := n.Status(clk.Now())
	r.status.Store(&st)
	return r
}

// Actions is where the daemon receives batches to execute.
func (r *Runner) Actions() <-chan Batch { return r.out }

// Send delivers an event (admin command, local failure or recovery) to the
// machine. It blocks until Run takes it or ctx is done.
func (r *Runner) Send(ctx context.Context, ev Event) error {
	select {
	case r.events <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns the machine's status as of its latest step, with channel
// ages brought up to now.
func (r *Runner) Status() Status {
	s := *r.status.Load()
	now := r.clk.Now()
	s.Channels = append([]ChannelStatus(nil), s.Channels...)
	for i := range s.Channels {
		if !s.Channels[i].LastHeard.IsZero() {
			s.Channels[i].Age = now.Sub(s.Channels[i].LastHeard)
		}
	}
	return s
}

// Run starts the machine and runs it until ctx is done; then it steps
// Shutdown, sends the "stopping" heartbeat, offers the final batch without
// blocking (the daemon releases the addresses on its own exit too), closes
// the transport and waits for its readers.
func (r *Runner) Run(ctx context.Context) error {
	recv := make(chan HeartbeatReceived, 16)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		r.tr.Close()
		wg.Wait()
	}()
	for _, ch := range r.tr.Channels() {
		wg.Go(func() { r.read(rctx, ch, recv) })
	}
	r.step(ctx, Start{})
	for {
		d := time.Hour // Next is zero only before Start and after Shutdown
		if next := r.node.Next(); !next.IsZero() {
			d = max(next.Sub(r.clk.Now()), 0)
		}
		t := r.clk.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			r.step(ctx, Shutdown{})
			return nil
		case e := <-recv:
			r.step(ctx, e)
		case e := <-r.events:
			r.step(ctx, e)
		case <-t.C():
			r.step(ctx, Tick{})
		}
		t.Stop()
	}
}

// read forwards datagrams from one channel until the transport is closed.
func (r *Runner) read(ctx context.Context, ch Channel, recv chan<- HeartbeatReceived) {
	buf := make([]byte, MaxDatagram)
	for {
		n, from, err := r.tr.Recv(ch, buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				r.log.Warn("heartbeat receive failed", "channel", ch, "err", err)
				continue
			}
			return
		}
		ev := HeartbeatReceived{Channel: ch, From: from, Data: append([]byte(nil), buf[:n]...)}
		select {
		case recv <- ev:
		case <-ctx.Done():
			return
		}
	}
}

// step runs one event through the machine and executes the result.
func (r *Runner) step(ctx context.Context, ev Event) {
	now := r.clk.Now()
	_, acts := r.node.Step(now, ev)
	st := r.node.Status(now)
	r.status.Store(&st)
	var pending Actions
	moved := false // pending holds a Claim or Release
	for _, a := range acts {
		switch a := a.(type) {
		case SendHeartbeat:
			if moved {
				if !r.deliver(ctx, pending, true) {
					r.send(a) // shutting down: say "stopping" anyway
					continue
				}
				pending, moved = nil, false
			}
			r.send(a)
		case ClaimAddresses, ReleaseAddresses:
			moved = true
			pending = append(pending, a)
		default:
			pending = append(pending, a)
		}
	}
	if len(pending) > 0 {
		r.deliver(ctx, pending, false)
	}
}

// deliver hands a batch to the daemon and, with wait, waits for Done. Once
// ctx is done it only offers the batch. It reports whether the batch was
// delivered (and executed, with wait).
func (r *Runner) deliver(ctx context.Context, acts Actions, wait bool) bool {
	b := Batch{Actions: acts, done: &batchDone{ch: make(chan struct{})}}
	if ctx.Err() != nil {
		select {
		case r.out <- b:
		default:
		}
		return false
	}
	select {
	case r.out <- b:
	case <-ctx.Done():
		return false
	}
	if !wait {
		return true
	}
	select {
	case <-b.done.ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// send transmits one heartbeat; a failing channel is logged when its error
// changes, not every keepalive.
func (r *Runner) send(a SendHeartbeat) {
	err := r.tr.Send(a.Channel, a.Data)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if ch := a.Channel % numChannels; msg != r.sendErr[ch] {
		r.sendErr[ch] = msg
		if err != nil {
			r.log.Warn("heartbeat send failed", "channel", a.Channel, "err", err)
		} else {
			r.log.Info("heartbeat send recovered", "channel", a.Channel)
		}
	}
}
