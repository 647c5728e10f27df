package health

import (
	"context"
	"testing"
	"time"
)

func TestTCPConnect(t *testing.T) {
	srv := listenTCP(t, nil)
	tests := []struct {
		name   string
		spec   Spec
		ok     bool
		reason string
	}{
		{"listening", Spec{Addr: srv.addr, VPort: 8080}, true, ""},
		{"refused", Spec{Addr: closedTCP(t), VPort: 8080}, false, "connection failure (connection refused)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewChecker(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.(*tcpChecker); !ok {
				t.Fatalf("NewChecker(%+v) = %T, want the plain connect test", tt.spec, c)
			}
			wantResult(t, tt.name, runCheck(t, tt.spec, 2*time.Second), tt.ok, tt.reason)
		})
	}
	eventually(t, "the accept", func() bool { return srv.accepts.Load() == 1 })
}

// TestTCPConnectTimeout checks that a check whose time is up fails as a
// timeout of the connect stage (no address other than 127.0.0.1 is used, so
// the deadline is already past).
func TestTCPConnectTimeout(t *testing.T) {
	srv := listenTCP(t, nil)
	c, err := NewChecker(Spec{Addr: srv.addr, VPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	wantResult(t, "expired", c.Check(ctx), false, "timeout (connect)")
}
