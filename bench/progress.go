package bench

import (
	"fmt"
	"io"
	"time"

	"lvs/internal/netlab"
)

// console writes log lines and, on a terminal, keeps one progress line at
// the bottom ("[ 42s] rep 2/3 · klb · UDP saturation"), redrawn after each
// log line (netlab.Console). Elsewhere the log lines alone say what happens.
type console struct {
	c  *netlab.Console
	t0 time.Time
}

func newConsole(w io.Writer) *console {
	return &console{c: netlab.NewConsole(w), t0: time.Now()}
}

// logf writes one log line above the progress line.
func (c *console) logf(format string, a ...any) {
	fmt.Fprintf(c.c, "[%4.0fs] "+format+"\n", append([]any{time.Since(c.t0).Seconds()}, a...)...)
}

// status replaces the progress line ("" clears it); a no-op off a terminal.
func (c *console) status(format string, a ...any) {
	if format == "" {
		c.c.Status("")
		return
	}
	c.c.Status(fmt.Sprintf("[%4.0fs] ", time.Since(c.t0).Seconds()) + fmt.Sprintf(format, a...))
}
