package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// console writes log lines and, on a terminal, keeps one progress line at
// the bottom ("[ 42s] rep 2/3 · klb · UDP saturation"), redrawn after each
// log line. Elsewhere the log lines alone say what happens.
type console struct {
	mu   sync.Mutex // guards w, line
	w    io.Writer
	tty  bool
	t0   time.Time
	line string
}

func newConsole(w io.Writer) *console {
	c := &console{w: w, t0: time.Now()}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		c.tty = err == nil
	}
	return c
}

// logf writes one log line above the progress line.
func (c *console) logf(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.line != "" {
		fmt.Fprint(c.w, "\r\033[K")
	}
	fmt.Fprintf(c.w, "[%4.0fs] "+format+"\n", append([]any{time.Since(c.t0).Seconds()}, a...)...)
	if c.tty && c.line != "" {
		fmt.Fprint(c.w, c.line)
	}
}

// status replaces the progress line ("" clears it); a no-op off a terminal.
func (c *console) status(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tty {
		return
	}
	c.line = ""
	if format != "" {
		c.line = fmt.Sprintf("[%4.0fs] ", time.Since(c.t0).Seconds()) + fmt.Sprintf(format, a...)
	}
	fmt.Fprint(c.w, "\r\033[K"+c.line)
}
