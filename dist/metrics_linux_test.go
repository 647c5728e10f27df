package dist

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"lvs/internal/testutil"
	"lvs/sim"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sim.RemoveTestBinaries()
	os.Exit(code)
}

// TestMetricsExported builds the simulator's NAT site (two routers running
// the real lvsd in network namespaces, with connection sync, three real
// servers) and scrapes both routers' /metrics from inside their
// namespaces: every metric the dashboard and the alert rules query must be
// among what lvsd exports. It waits, up to a bound, for the routers to
// settle (roles, health checks, sync), scraping again while names are
// missing.
func TestMetricsExported(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs a site")
	}
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "nft", "ip", "curl")
	used := usedMetrics(t)
	unlock, err := sim.LockSites()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	topo, err := sim.LoadTopology("nat")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := sim.NewSite(ctx, topo, sim.SiteOptions{Dir: t.TempDir(), Bins: sim.Binaries(t), Router: "lvsd"})
	if err != nil {
		t.Fatalf("NewSite(nat): %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing the site: %v", err)
		}
	})
	// lvs_heartbeats_refused_total has a series per reason seen, so one
	// malformed heartbeat datagram is sent to the primary each round, from
	// the backup's namespace.
	cfg := topo.Site.Config
	junk := fmt.Sprintf("printf junk > /dev/udp/%s/%d", cfg.Primary, cfg.HeartbeatPort)
	backup := ""
	for _, r := range topo.Routers() {
		if r.Name != topo.Routers()[0].Name {
			backup = r.Name
		}
	}
	var missing []string
	var lastErr error
	for range 45 {
		if backup != "" {
			exec.CommandContext(ctx, "ip", "netns", "exec", s.Prefix+backup, "bash", "-c", junk).Run()
		}
		exported := map[string]bool{}
		for _, r := range topo.Routers() {
			// lvsd's admin listener answers loopback, inside the router's namespace.
			out, err := exec.CommandContext(ctx, "ip", "netns", "exec", s.Prefix+r.Name,
				"curl", "-sS", "-f", "--max-time", "5", "http://127.0.0.1:3636/metrics").CombinedOutput()
			if err != nil {
				lastErr = fmt.Errorf("scraping %s: %v: %s", r.Name, err, out)
				continue // not listening yet
			}
			for n := range exportedNames(string(out)) {
				exported[n] = true
			}
		}
		missing = slices.DeleteFunc(slices.Clone(used), func(m string) bool { return exported[m] })
		if len(missing) == 0 {
			t.Logf("all %d metrics of %s and %s are exported: %s", len(used), dashboardFile, rulesFile, strings.Join(used, " "))
			return
		}
		time.Sleep(2 * time.Second)
	}
	if lastErr != nil {
		t.Log(lastErr)
	}
	t.Errorf("metrics queried by %s or %s that lvsd does not export: %s", dashboardFile, rulesFile, strings.Join(missing, " "))
}
