package netlab

import (
	"bytes"
	"testing"
)

// TestConsoleOffTerminal checks that off a terminal log lines pass through
// unchanged and the progress line is never drawn.
func TestConsoleOffTerminal(t *testing.T) {
	var b bytes.Buffer
	c := NewConsole(&b)
	if c.IsTerminal() {
		t.Fatal("IsTerminal() = true for a buffer")
	}
	c.Status("[ 1s] running")
	c.Write([]byte("line one\n"))
	c.Status("")
	c.Write([]byte("line two\n"))
	if got, want := b.String(), "line one\nline two\n"; got != want {
		t.Errorf("console wrote %q, want %q", got, want)
	}
}
