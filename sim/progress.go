package sim

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"lvs/internal/netlab"
)

// NewConsole returns a writer for progress output to w; a progress line is
// drawn only when w is a terminal.
func NewConsole(w io.Writer) io.Writer { return netlab.NewConsole(w) }

// progress redraws "[ 12.3s] 2 traffic step(s) running, …" every 250 ms on a
// terminal; elsewhere it is silent (the log lines say enough).
type progress struct {
	c       *netlab.Console
	mu      sync.Mutex // guards running
	running int
	quit    chan struct{}
	wg      sync.WaitGroup
}

func newProgress(w io.Writer, t0 time.Time, answered, failed *atomic.Int64) *progress {
	p := &progress{quit: make(chan struct{})}
	c, ok := w.(*netlab.Console)
	if !ok || !c.IsTerminal() {
		return p
	}
	p.c = c
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.quit:
				c.Status("")
				return
			case <-tick.C:
				p.mu.Lock()
				n := p.running
				p.mu.Unlock()
				c.Status(fmt.Sprintf("[%5.1fs] %d traffic step(s) running, %d requests answered, %d failed",
					time.Since(t0).Seconds(), n, answered.Load(), failed.Load()))
			}
		}
	}()
	return p
}

func (p *progress) add()  { p.mu.Lock(); p.running++; p.mu.Unlock() }
func (p *progress) done() { p.mu.Lock(); p.running--; p.mu.Unlock() }

func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
}
