package netlab

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitFor retries check every 50 ms until it succeeds. It gives up when p
// (if not nil) exits, saying so with the end of its log, when ctx ends, or
// when d has passed: a generous bound, not an expectation.
func WaitFor(ctx context.Context, d time.Duration, p *Proc, check func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited (%v): %s", p.Name, p.Err(), p.Tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", d, err)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
