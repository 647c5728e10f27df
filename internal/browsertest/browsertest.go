// Package browsertest drives Debian's headless Chromium for the web
// tool's browser tests (admin/web against a fake backend, daemon against
// the real lvsd): it starts the browser with a fresh profile and the flags
// this machine's closed network needs, and gives the tests retrying reads,
// fatal steps and screenshots kept as artifacts.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is the browser the tests drive (scripts/install-deps.sh
// installs it).
const Chromium = "/usr/bin/chromium"

// Browser is one headless Chromium driven by a test.
type Browser struct {
	t   *testing.T
	Ctx context.Context
	Dir string // where Shot writes: $LVS_ARTIFACTS/<test> when set, else a temporary directory
}

// New starts Chromium for t, or skips t when it is not installed. wrap,
// when set, changes the browser's command line (to run it inside a network
// namespace). The browser and its profile go away when t ends.
func New(t *testing.T, timeout time.Duration, wrap func(*exec.Cmd)) *Browser {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Skipf("browser test skipped: %s is not installed (apt-get install chromium, or scripts/install-deps.sh)", Chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Without these Chromium reaches for Google's hosts at every start.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
	}
	if wrap != nil {
		opts = append(opts, chromedp.ModifyCmdFunc(wrap))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", Chromium, err)
	}
	b := &Browser{t: t, Ctx: ctx, Dir: t.TempDir()}
	if a := os.Getenv("LVS_ARTIFACTS"); a != "" {
		b.Dir = filepath.Join(a, t.Name())
		if err := os.MkdirAll(b.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// Do runs steps, failing the test with what on error.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Text reads an element's text; live updates may replace the element while
// it is read, so a failed read is retried for about two seconds.
func (b *Browser) Text(sel chromedp.CSS) string {
	b.t.Helper()
	var err error
	for range 20 {
		var s string
		if s, err = chromedp.Run(b.Ctx, chromedp.Text(sel)); err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("reading %s: %v", sel, err)
	return ""
}

// Shot keeps a screenshot of the whole page as Dir/name.png.
func (b *Browser) Shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
