package keepalived

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLvsdConfigTest runs the real lvsd -t, as an administrator would after
// converting, on each golden lvs.cf: it must be usable (exit 0).
func TestLvsdConfigTest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lvsd")
	}
	lvsd := filepath.Join(t.TempDir(), "lvsd")
	build := exec.Command("go", "build", "-o", lvsd, "lvs/cmd/lvsd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build lvs/cmd/lvsd: %v\n%s", err, out)
	}
	empty := filepath.Join(t.TempDir(), "iptables")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range goldenCases {
		t.Run(tt.name, func(t *testing.T) {
			golden := filepath.Join("testdata", tt.name+".cf.golden")
			out, err := exec.Command(lvsd, "-t", "-f", golden, "--iptables", empty).CombinedOutput()
			if err != nil {
				t.Fatalf("lvsd -t -f %s: %v\n%s", golden, err, out)
			}
			if !strings.Contains(string(out), "configuration OK") {
				t.Errorf("lvsd -t -f %s printed no verdict:\n%s", golden, out)
			}
			t.Logf("lvsd -t -f %s:\n%s", golden, out)
		})
	}
}
