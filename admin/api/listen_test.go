package api_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"lvs/admin/api"
	"lvs/admin/api/apitest"
)

func TestListenSocket(t *testing.T) {
	path := apitest.Serve(t, apitest.NewDaemon(t, nil))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("socket mode = %o, want 600", got)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("socket directory: %v, mode %v; want 0755", err, fi.Mode().Perm())
	}
	if _, err := api.Listen(path); !errors.Is(err, api.ErrSocketInUse) {
		t.Errorf("second api.Listen(%s) = %v, want api.ErrSocketInUse", path, err)
	}
	// A stale socket (nobody listening) is replaced.
	stale := filepath.Join(filepath.Dir(path), "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l2, err := api.Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
}
