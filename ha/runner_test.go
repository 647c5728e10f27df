package ha

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// journal records what the fake daemons executed, in order, across both.
type journal struct {
	mu    sync.Mutex
	lines []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.lines = append(j.lines, s)
	j.mu.Unlock()
}

func (j *journal) index(s string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Index(j.lines, s)
}

func (j *journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.lines, "\n")
}

// runNode starts a Runner and a fake daemon executing its batches; the
// release of the addresses takes releaseDelay, like a slow dataplane.
func runNode(t *testing.T, ctx context.Context, wg *sync.WaitGroup, j *journal, n *Node, tr Transport,
	releaseDelay time.Duration) (*Runner, <-chan error) {
	r := NewRunner(n, tr, nil, nil)
	name := n.Role().String()
	errc := make(chan error, 1)
	wg.Go(func() { errc <- r.Run(ctx) })
	wg.Go(func() {
		for {
			select {
			case b := <-r.Actions():
				for _, a := range b.Actions {
					switch a := a.(type) {
					case ClaimAddresses:
						j.add(name + " claimed")
					case ReleaseAddresses:
						time.Sleep(releaseDelay)
						j.add(name + " released")
					case Log:
						j.add(name + ": " + a.Msg)
					}
				}
				b.Done()
			case <-ctx.Done():
				return
			}
		}
	})
	return r, errc
}

func eventually(t *testing.T, j *journal, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s\n%s", what, j)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRunner runs two Runners over a Pipe on the real clock with
// millisecond timers: takeover, failback ordered by Batch.Done, an admin
// command, and shutdown, with every goroutine waited for.
func TestRunner(t *testing.T) {
	s := testSettings()
	s.Keepalive, s.Deadtime = 20*time.Millisecond, 300*time.Millisecond
	s.FailbackDelay, s.HandoverTimeout = 40*time.Millisecond, 2*time.Second
	s.GARPInterval = 5 * time.Millisecond
	pipe := NewPipeFor(s)
	var j journal
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	nb, _ := NewNode(s, RoleBackup)
	bctx, bstop := context.WithCancel(ctx)
	rb, berr := runNode(t, bctx, &wg, &j, nb, pipe.B, 40*time.Millisecond)
	eventually(t, &j, "backup takes over", func() bool { return rb.Status().State == StateActive })
	eventually(t, &j, "backup GARPs", func() bool { return j.index("backup: gratuitous lvs arps finished") >= 0 })

	np, _ := NewNode(s, RolePrimary)
	rp, perr := runNode(t, ctx, &wg, &j, np, pipe.A, 0)
	eventually(t, &j, "failback", func() bool { return j.index("primary claimed") >= 0 })
	if r, c := j.index("backup released"), j.index("primary claimed"); r < 0 || r > c {
		t.Fatalf("primary claimed before the backup's release finished:\n%s", &j)
	}
	st := rp.Status()
	if st.State != StateActive || st.Reason != "partner released the addresses" || len(st.Channels) != 2 ||
		st.Channels[0].Age < 0 || !st.Peer.Alive {
		t.Errorf("primary Status = %+v", st)
	}

	if err := rp.Send(ctx, AdminStandDown{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, &j, "backup active after stand down", func() bool { return rb.Status().State == StateActive })
	eventually(t, &j, "primary standby", func() bool { return rp.Status().State == StateStandby })

	// Stopping the backup: its last heartbeat says so and the primary takes
	// over at once, well before deadtime.
	bstop()
	if err := <-berr; err != nil {
		t.Errorf("backup Run = %v", err)
	}
	eventually(t, &j, "primary takes over from a stopping backup", func() bool { return rp.Status().State == StateActive })
	if r := rp.Status().Reason; r != "partner stopping" {
		t.Errorf("primary became active because %q, want partner stopping\n%s", r, &j)
	}

	cancel()
	if err := <-perr; err != nil {
		t.Errorf("primary Run = %v", err)
	}
}

func TestRunnerSendCancelled(t *testing.T) {
	n, _ := NewNode(testSettings(), RolePrimary)
	r := NewRunner(n, NewPipeFor(testSettings()).A, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Send(ctx, AdminTakeover{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v", err)
	}
}

// fakeClock is a Clock whose time moves only in Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	added  chan struct{} // a timer was created
}

type fakeTimer struct {
	c    chan time.Time
	at   time.Time
	fc   *fakeClock
	done bool
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t, added: make(chan struct{}, 100)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d), fc: c}
	c.timers = append(c.timers, ft)
	c.fire()
	c.added <- struct{}{}
	return ft
}

// Advance moves time on and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fire()
}

func (c *fakeClock) fire() {
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			t.c <- c.now
		}
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.fc.mu.Lock()
	defer t.fc.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// TestRunnerClock: the runner wakes on the injected clock, not the wall
// clock: heartbeats carry the fake time and come every keepalive of it.
func TestRunnerClock(t *testing.T) {
	s := testSettings()
	s.PrimaryPrivate, s.BackupPrivate = netip.Addr{}, netip.Addr{}
	pipe := NewPipeFor(s)
	fc := newFakeClock(t0)
	n, _ := NewNode(s, RolePrimary)
	r := NewRunner(n, pipe.A, fc, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { r.Run(ctx) })
	wg.Go(func() {
		for {
			select {
			case b := <-r.Actions():
				b.Done()
			case <-ctx.Done():
				return
			}
		}
	})
	buf := make([]byte, MaxDatagram)
	for i := range 3 {
		k, _, err := pipe.B.Recv(ChannelPublic, buf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(buf[:k], s.Key)
		if want := t0.Add(time.Duration(i) * s.Keepalive); err != nil || m.Time != want.UnixNano() || m.Seq != uint64(i+1) {
			t.Fatalf("heartbeat %d = %+v, %v; want time %v", i, m, err, want)
		}
		select {
		case <-fc.added: // the runner is waiting on its next timer
		case <-time.After(10 * time.Second):
			t.Fatal("runner never set a timer")
		}
		fc.Advance(s.Keepalive)
	}
}
