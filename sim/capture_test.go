package sim

import (
	"testing"
	"time"

	"lvs/internal/testutil"
)

// TestCaptureReadyNeverBlocks runs a capture whose ready signal nobody
// takes, as when captureReals stopped waiting for it after 5 s: run must
// still return once stop is closed, or the hostile step's wait for its
// goroutines never ends. It captures on the test's own loopback and sends
// nothing; a bad interface takes the error path, which must signal too.
func TestCaptureReadyNeverBlocks(t *testing.T) {
	testutil.RequireRoot(t) // a packet socket needs CAP_NET_RAW
	for _, tt := range []struct {
		name    string
		iface   string
		wantErr bool
	}{
		{"bound", "lo", false},
		{"no such interface", "lvssim-none0", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			close(stop)
			done := make(chan error, 1)
			go func() { done <- (&capture{}).run(tt.iface, nil, stop, ready) }()
			// The bound only turns a hang into a failure; a run that
			// returns passes however long it took.
			select {
			case err := <-done:
				if (err != nil) != tt.wantErr {
					t.Errorf("run(%s) = %v, want error %v", tt.iface, err, tt.wantErr)
				}
			case <-time.After(time.Minute):
				t.Fatalf("run(%s) did not return after stop: blocked on its ready signal", tt.iface)
			}
			select {
			case <-ready:
			default:
				t.Errorf("run(%s) returned without signalling ready", tt.iface)
			}
		})
	}
}
