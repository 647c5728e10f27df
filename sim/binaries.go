package sim

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Bins are the real binaries a site runs. LVSD and LVSAdm are empty when
// their main package does not exist yet; Notes says why.
type Bins struct {
	Dir    string
	LVSSim string // runs the responder inside namespaces
	LVSD   string
	LVSAdm string
	Notes  []string
}

// moduleRoot finds the directory of the lvs module's go.mod, from dir up.
func moduleRoot(dir string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module lvs\n")) {
			return d, true
		}
		if d == filepath.Dir(d) {
			return "", false
		}
	}
}

// BuildBinaries builds cmd/lvssim, cmd/lvsd and cmd/lvsadm into dir with
// `go build`, each on its own so a command without a main package yet only
// leaves its path empty. Outside the module it uses the running lvssim and
// whatever lvsd/lvsadm are next to it or on PATH.
func BuildBinaries(dir string) (*Bins, error) {
	b := &Bins{Dir: dir}
	wd, _ := os.Getwd()
	root, ok := moduleRoot(wd)
	if !ok {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding lvssim: %w", err)
		}
		b.LVSSim = self
		for _, name := range []string{"lvsd", "lvsadm"} {
			p := filepath.Join(filepath.Dir(self), name)
			if _, err := os.Stat(p); err != nil {
				p, _ = exec.LookPath(name)
			}
			b.set(name, p)
		}
		b.Notes = append(b.Notes, "not inside the lvs module: using installed binaries")
		return b, nil
	}
	for _, name := range []string{"lvssim", "lvsd", "lvsadm"} {
		out := filepath.Join(dir, name)
		cmd := exec.Command(goTool(), "build", "-o", out, "./cmd/"+name)
		cmd.Dir = root
		msg, err := cmd.CombinedOutput()
		if err != nil {
			if name == "lvssim" {
				return nil, fmt.Errorf("go build ./cmd/lvssim: %w: %s", err, msg)
			}
			b.Notes = append(b.Notes, fmt.Sprintf("%s not built (go build ./cmd/%s): %s", name, name, buildError(string(msg))))
			continue
		}
		b.set(name, out)
	}
	return b, nil
}

// goTool finds the go command: on PATH, or in the toolchain that built
// lvssim (sudo often drops /usr/local/go/bin from PATH).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	for _, p := range []string{filepath.Join(runtime.GOROOT(), "bin", "go"), "/usr/local/go/bin/go"} {
		if fileExists(p) {
			return p
		}
	}
	return "go"
}

func (b *Bins) set(name, path string) {
	switch name {
	case "lvssim":
		b.LVSSim = path
	case "lvsd":
		b.LVSD = path
	case "lvsadm":
		b.LVSAdm = path
	}
}

// buildError shortens go build output to its package line and first error.
func buildError(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	if len(lines) > 1 && strings.HasPrefix(lines[0], "# ") {
		return strings.TrimPrefix(lines[0], "# ") + ": " + lines[1]
	}
	return lines[0]
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

var (
	testBinsOnce sync.Once
	testBins     *Bins
	testBinsErr  error
)

// Binaries builds the real binaries once per test process (like
// Tailscale's GetBinaries) and returns them; it fails tb when lvssim does
// not build. Every test of the process shares them; call
// RemoveTestBinaries from TestMain after m.Run to delete them.
func Binaries(tb testing.TB) *Bins {
	tb.Helper()
	testBinsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lvssim-bin-")
		if err != nil {
			testBinsErr = err
			return
		}
		testBins, testBinsErr = BuildBinaries(dir)
	})
	if testBinsErr != nil {
		tb.Fatalf("building binaries: %v", testBinsErr)
	}
	return testBins
}

// RemoveTestBinaries deletes what Binaries built, if anything.
func RemoveTestBinaries() {
	if testBins != nil {
		os.RemoveAll(testBins.Dir)
	}
}
