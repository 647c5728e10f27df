package netlab

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Console writes log lines; on a terminal it also keeps one progress line
// at the bottom, redrawn after every log line. Its methods may be called
// from several goroutines.
type Console struct {
	mu   sync.Mutex // guards w and line
	w    io.Writer
	tty  bool
	line string
}

// NewConsole returns a console writing to w; a progress line is drawn only
// when w is a terminal.
func NewConsole(w io.Writer) *Console {
	c := &Console{w: w}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		c.tty = err == nil
	}
	return c
}

// IsTerminal reports whether the console draws a progress line.
func (c *Console) IsTerminal() bool { return c.tty }

// Write writes log lines above the progress line.
func (c *Console) Write(p []byte) (int, error) {
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

// Status replaces the progress line ("" clears it); a no-op off a terminal.
func (c *Console) Status(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tty {
		return
	}
	c.line = s
	fmt.Fprint(c.w, "\r\033[K"+s)
}
