//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary stand in for lvsbench as the real
// servers' DR echo: the harness starts os.Executable() with
// DREchoCommand (startDREcho), which in TestSmoke is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == DREchoCommand {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := DREcho(ctx, os.Args[2:], os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
