//go:build linux

package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDuringEnds(t *testing.T) {
	const ready = `echo "ready $X"; while :; do sleep 0.01; done`
	tests := []struct {
		name, line string
		wantLog    string
		wantErr    string // "" for none
	}{
		{name: "interrupted", line: `trap 'echo interrupted; exit 0' INT; ` + ready, wantLog: "ready x\ninterrupted\n"},
		{name: "exits non-zero on the interrupt", line: `trap 'exit 3' INT; ` + ready, wantLog: "ready x\n", wantErr: "exit status 3"},
		{name: "ignores the interrupt", line: `trap '' INT; ` + ready, wantLog: "ready x\n", wantErr: "killed"},
		{name: "ended before", line: `echo "ready $X"`, wantLog: "ready x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "during.log")
			h, err := startDuring(tt.line, log, "X=x")
			if err != nil {
				t.Fatalf("startDuring: %v", err)
			}
			h.grace = 200 * time.Millisecond
			// Interrupt only once the command has set its trap and said so.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := waitFor(ctx, 30*time.Second, nil, func() error {
				if b, _ := os.ReadFile(log); !strings.HasPrefix(string(b), "ready") {
					return os.ErrNotExist
				}
				return nil
			}); err != nil {
				t.Fatalf("the command never said ready: %v", err)
			}
			err = h.end()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("end() = %v, want %q", err, tt.wantErr)
			}
			if b, _ := os.ReadFile(log); string(b) != tt.wantLog {
				t.Errorf("log = %q, want %q", b, tt.wantLog)
			}
		})
	}
	var none *duringHook
	if err := none.end(); err != nil {
		t.Errorf("nil hook's end() = %v", err)
	}
}
