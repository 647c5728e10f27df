package sim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"lvs/internal/netlab"
	"lvs/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveTestBinaries()
	os.Exit(code)
}

// siteForTest builds a shipped topology with the site lock held, and
// registers teardown plus the check that nothing with the prefix remains.
func siteForTest(t *testing.T, name, router string) *Site {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "nft", "ip")
	unlock, err := LockSites()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	topo, err := LoadTopology(name)
	if err != nil {
		t.Fatal(err)
	}
	bins := Binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := NewSite(ctx, topo, SiteOptions{Dir: t.TempDir(), Bins: bins, Router: router, Log: testLog{t}})
	if err != nil {
		t.Fatalf("NewSite(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertNothingLeft(t, s.Prefix, s.linkPrefix)
	})
	return s
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// assertNothingLeft checks that no namespace, state file or link (in the
// host namespace) with the site's prefix remains.
func assertNothingLeft(t *testing.T, prefix, linkPrefix string) {
	t.Helper()
	if left := Leftovers(prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("listing host links: %v", err)
	}
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, linkPrefix) || strings.HasPrefix(n, NamePrefix) {
			t.Errorf("host link left behind: %s", n)
		}
	}
	if _, err := os.Stat(filepath.Join(StateDir, strings.TrimSuffix(strings.TrimPrefix(prefix, NamePrefix), "-")+".json")); err == nil {
		t.Errorf("state file left behind for %s", prefix)
	}
}

// TestDefaultSite brings up the default site (figure 1.1), checks that
// every node reaches every other node on each of its segments, runs the
// default scenario with the router chosen by auto, and tears down.
func TestDefaultSite(t *testing.T) {
	s := siteForTest(t, DefaultTopology, "")
	checkReachability(t, s)
	r := s.RunScenario(context.Background())
	t.Logf("router: %s\n%s", r.RouterLabel, Summary(r, ""))
	if s.Router.Name() == "kernel" && r.RouterLabel != StandinLabel {
		t.Errorf("RouterLabel = %q, want the stand-in label", r.RouterLabel)
	}
	for _, a := range r.Asserts {
		if a.Skipped == "" && !a.Passed {
			t.Errorf("assert %s of %s failed: %s %v", a.Kind, a.Of, a.Summary, a.Details)
		}
	}
	if p, _, _ := r.Counts(); p == 0 {
		t.Errorf("no assertion passed: %s", r.Verdict())
	}
}

// checkReachability pings, from every node, every address of every other
// node on each segment they share.
func checkReachability(t *testing.T, s *Site) {
	t.Helper()
	for _, a := range s.Topo.Nodes {
		for _, ai := range a.Interfaces {
			for _, b := range s.Topo.Nodes {
				if a == b {
					continue
				}
				for _, bi := range b.Interfaces {
					if bi.Segment != ai.Segment {
						continue
					}
					for _, addr := range bi.Addresses {
						if err := s.ping(a.Name, addr.Addr()); err != nil {
							t.Errorf("%s (%s) cannot reach %s %v on segment %s: %v", a.Name, ai.Name, b.Name, addr.Addr(), ai.Segment, err)
						}
					}
				}
			}
		}
	}
}

func TestSweepRemovesCrashedSite(t *testing.T) {
	testutil.RequireRoot(t)
	unlock, err := LockSites()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// A state whose owner is dead, with one namespace, as a crash leaves it.
	id := netlab.NewID()
	st := &State{ID: id, Owner: deadPID(t), Started: time.Now(), Namespaces: []string{NamePrefix + id + "-x"}}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // NewNamed switches this thread; it dies with the goroutine
		_, err := netns.NewNamed(st.Namespaces[0])
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(StateDir, id+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := Sweep()
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !containsStr(removed, id) {
		t.Errorf("Sweep() = %v, want it to include %s", removed, id)
	}
	assertNothingLeft(t, NamePrefix+id+"-", "lv"+id)
	if _, err := netns.GetFromName(st.Namespaces[0]); err == nil {
		t.Errorf("namespace %s still exists", st.Namespaces[0])
	}
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	return p.Pid
}

// TestShippedSites runs every other shipped topology end to end with the
// router auto chooses; assertions must pass or be skipped with a reason.
func TestShippedSites(t *testing.T) {
	needs := map[string][]string{"ftp": {"vsftpd", "lftp"}, "ftp-helper": {"vsftpd", "lftp"}, "ftp-helper6": {"vsftpd", "lftp"}, "three-tier": {"nginx"}, "http-https": {"curl"}}
	for _, name := range ShippedTopologies() {
		if name == DefaultTopology {
			continue // TestDefaultSite
		}
		t.Run(name, func(t *testing.T) {
			testutil.RequireCommand(t, needs[name]...)
			s := siteForTest(t, name, "")
			s.Topo.Shorten() // attack steps last seconds, not minutes
			r := s.RunScenario(context.Background())
			t.Logf("\n%s", Summary(r, ""))
			for _, st := range r.Steps {
				if st.Skipped == "" && st.Error != "" {
					t.Errorf("step %s failed: %s", st.Name, st.Error)
				}
			}
			for _, a := range r.Asserts {
				if a.Skipped == "" && !a.Passed {
					t.Errorf("assert %s of %s failed: %s %v", a.Kind, a.Of, a.Summary, a.Details)
				}
				if a.Skipped != "" && !strings.Contains(a.Skipped, "issue") && !strings.Contains(a.Skipped, "install") {
					t.Errorf("assert %s of %s skipped without saying what is missing: %q", a.Kind, a.Of, a.Skipped)
				}
			}
		})
	}
}

// TestRunInterrupted cancels a run mid-scenario, as Ctrl-C does, and checks
// that everything was removed.
func TestRunInterrupted(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "nft", "ip")
	bins := Binaries(t)
	unlock, err := LockSites()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	before := Leftovers(NamePrefix)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel)
	_, err = Run(ctx, Options{BinDir: bins.Dir, Out: t.TempDir(), Router: "kernel"})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("Run cancelled after 2s: err = %v, want interrupted", err)
	}
	if after := Leftovers(NamePrefix); len(after) > len(before) {
		t.Errorf("namespaces left after an interrupted run: %v (before: %v)", after, before)
	}
}
