// Package testutil holds helpers shared by tests. It is test support only.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireRoot skips the test with a clear reason unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (network namespaces); run `sudo make test` or as root")
	}
}

// RequireCommand skips the test unless every named program is on PATH.
func RequireCommand(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("skipped: %s is not installed (make test installs it on Debian)", n)
		}
	}
}
