package sim

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// console writes log lines; on a terminal it also keeps one progress line
// at the bottom, redrawn after every log line.
type console struct {
	mu   sync.Mutex // guards w and line
	w    io.Writer
	tty  bool
	line string
}

// NewConsole returns a writer for progress output to w; a progress line is
// drawn only when w is a terminal.
func NewConsole(w io.Writer) io.Writer {
	c := &console{w: w}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		c.tty = err == nil
	}
	return c
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.line != "" {
		fmt.Fprint(c.w, "\r\033[K")
	}
	n, err := c.w.Write(p)
	if c.tty && c.line != "" {
		fmt.Fprint(c.w, c.line)
	}
	return n, err
}

func (c *console) status(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tty {
		return
	}
	c.line = s
	fmt.Fprint(c.w, "\r\033[K"+s)
	if s == "" {
		fmt.Fprint(c.w, "\r\033[K")
	}
}

// progress redraws "[ 12.3s] 2 traffic step(s) running, …" every 250 ms on a
// terminal; elsewhere it is silent (the log lines say enough).
type progress struct {
	c       *console
	mu      sync.Mutex // guards running
	running int
	quit    chan struct{}
	wg      sync.WaitGroup
}

func newProgress(w io.Writer, t0 time.Time, answered, failed *atomic.Int64) *progress {
	p := &progress{quit: make(chan struct{})}
	c, ok := w.(*console)
	if !ok || !c.tty {
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
				c.status("")
				return
			case <-tick.C:
				p.mu.Lock()
				n := p.running
				p.mu.Unlock()
				c.status(fmt.Sprintf("[%5.1fs] %d traffic step(s) running, %d requests answered, %d failed",
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
