// Package deptest enforces the import direction of STYLE.md: imports point
// down, and nothing imports upward.
package deptest

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "lvs"

// imports returns, for every package of the module, its direct imports.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}}`, mod+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

// under reports whether pkg is pattern itself or below it ("x/..." form).
func under(pkg, pattern string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == p || strings.HasPrefix(pkg, p+"/")
	}
	return pkg == pattern
}

// forbid fails when any package matching from imports any of the listed packages.
func forbid(t *testing.T, all map[string][]string, from string, banned ...string) {
	t.Helper()
	for pkg, imps := range all {
		if !under(pkg, mod+"/"+from) && !under(pkg, from) {
			continue
		}
		for _, imp := range imps {
			for _, b := range banned {
				if under(imp, b) {
					t.Errorf("%s imports %s: forbidden by STYLE.md (imports point down)", pkg, imp)
				}
			}
		}
	}
}

func TestLayering(t *testing.T) {
	all := imports(t)
	if len(all) == 0 {
		t.Fatal("go list returned no packages")
	}
	upper := []string{mod + "/daemon/...", mod + "/admin/...", mod + "/ha/...", mod + "/health/...",
		mod + "/dataplane/...", mod + "/sim/...", mod + "/bench/...", mod + "/cmd/..."}
	// Leaves.
	forbid(t, all, "config/...", append(upper, mod+"/ipvs/...", mod+"/sched/...", mod+"/conntrack/...",
		mod+"/frame/...", mod+"/nat/...", mod+"/neigh/...", "net")...)
	// The keepalived.conf importer (lvsadm import-keepalived) is a leaf like
	// config, beside it: config does not depend on it, and it uses no network.
	forbid(t, all, "config/keepalived/...", append(upper, mod+"/ipvs/...", mod+"/sched/...", mod+"/conntrack/...",
		mod+"/frame/...", mod+"/nat/...", mod+"/neigh/...", "net", "net/http")...)
	forbid(t, all, "config", mod+"/config/keepalived")
	forbid(t, all, "ipvs/...", append(upper, mod+"/sched/...", mod+"/conntrack/...", mod+"/frame/...",
		mod+"/nat/...", mod+"/neigh/...", mod+"/config/...", "net")...)
	forbid(t, all, "frame/...", append(upper, mod+"/ipvs/...", mod+"/sched/...", mod+"/conntrack/...",
		mod+"/nat/...", mod+"/neigh/...", mod+"/config/...")...)
	// sched: pure, no sockets.
	forbid(t, all, "sched/...", append(upper, mod+"/conntrack/...", mod+"/frame/...", mod+"/nat/...", mod+"/neigh/...", "net")...)
	forbid(t, all, "conntrack/...", append(upper, mod+"/frame/...", mod+"/nat/...", mod+"/neigh/...", "net")...)
	forbid(t, all, "nat/...", append(upper, mod+"/neigh/...")...)
	forbid(t, all, "neigh/...", append(upper, mod+"/nat/...", mod+"/conntrack/...")...)
	forbid(t, all, "dataplane/...", mod+"/daemon/...", mod+"/admin/...", mod+"/ha/...", mod+"/health/...",
		mod+"/sim/...", mod+"/bench/...", mod+"/cmd/...")
	forbid(t, all, "health/...", mod+"/daemon/...", mod+"/admin/...", mod+"/ha/...", mod+"/dataplane/...",
		mod+"/sim/...", mod+"/bench/...", mod+"/cmd/...")
	forbid(t, all, "ha/...", mod+"/daemon/...", mod+"/admin/...", mod+"/health/...", mod+"/dataplane/...",
		mod+"/sim/...", mod+"/bench/...", mod+"/cmd/...")
	forbid(t, all, "admin/...", mod+"/daemon/...", mod+"/dataplane/...", mod+"/sim/...", mod+"/bench/...", mod+"/cmd/...")
	// admin, split along its seams: the report model (admin) at the bottom;
	// the ipvsadm command language and formats (ipvsadm) and the Prometheus
	// exposition (metrics) on it; the control API (api) carries ipvsadm
	// commands; the client speaks the API; the CLI (lvsadm) drives the
	// client. The fixtures (admintest, api/apitest) are for tests only.
	const (
		adm       = mod + "/admin"
		ipvsadm   = adm + "/ipvsadm"
		api       = adm + "/api"
		client    = adm + "/client"
		admintest = adm + "/admintest"
		apitest   = adm + "/api/apitest"
	)
	allow(t, all, "admin", mod+"/ipvs", mod+"/sched")
	allow(t, all, "admin/admintest", adm, mod+"/ipvs")
	allow(t, all, "admin/ipvsadm/...", adm, mod+"/ipvs", mod+"/sched", admintest)
	allow(t, all, "admin/metrics/...", adm, admintest)
	allow(t, all, "admin/api", adm, ipvsadm, mod+"/ipvs", admintest)
	allow(t, all, "admin/api/apitest", adm, api, ipvsadm, mod+"/ipvs", mod+"/sched")
	allow(t, all, "admin/client/...", adm, api, ipvsadm, mod+"/ipvs", apitest)
	allow(t, all, "admin/cli/...", adm, api, client, ipvsadm, mod+"/ipvs", mod+"/sched", admintest, apitest)
	for _, user := range []string{"admin/web/...", "daemon/...", "cmd/...", "sim/...", "bench/..."} {
		forbid(t, all, user, admintest, apitest)
	}
	forbid(t, all, "daemon/...", mod+"/sim/...", mod+"/bench/...", mod+"/cmd/...")
	// sim runs the real binaries.
	forbid(t, all, "sim/...", mod+"/daemon/...", mod+"/dataplane/...", mod+"/cmd/...")
	forbid(t, all, "bench/...", mod+"/daemon/...", mod+"/dataplane/...", mod+"/cmd/...")
	// netlab, the namespace lab of sim, bench and the root tests, is a leaf.
	allow(t, all, "internal/netlab/...", mod+"/internal/procstat", mod+"/internal/testutil")
	// bgp, the ECMP mode's announcer (embedded GoBGP), is driven by the
	// daemon alone and leans on no other package of the module.
	allow(t, all, "bgp/...", mod+"/internal/netlab", mod+"/internal/testutil")
	for _, below := range []string{"config/...", "ipvs/...", "sched/...", "conntrack/...", "frame/...", "nat/...",
		"neigh/...", "dataplane/...", "health/...", "ha/...", "admin/...", "sim/...", "bench/..."} {
		forbid(t, all, below, mod+"/bgp/...")
	}
}

// allow fails when any package matching from imports a package of the
// module other than the listed ones.
func allow(t *testing.T, all map[string][]string, from string, allowed ...string) {
	t.Helper()
	for pkg, imps := range all {
		if !under(pkg, mod+"/"+from) {
			continue
		}
		for _, imp := range imps {
			if (imp == mod || strings.HasPrefix(imp, mod+"/")) && !under(imp, pkg) && !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s: forbidden by STYLE.md (a leaf imports none of the module's packages but %v)", pkg, imp, allowed)
			}
		}
	}
}

func TestUnder(t *testing.T) {
	tests := []struct {
		name, pkg, pattern string
		want               bool
	}{
		{"exact", "lvs/sched", "lvs/sched/...", true},
		{"child", "lvs/dataplane/afpacket", "lvs/dataplane/...", true},
		{"sibling prefix", "lvs/schedx", "lvs/sched/...", false},
		{"plain", "net", "net", true},
		{"plain child not matched", "net/netip", "net", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := under(tt.pkg, tt.pattern); got != tt.want {
				t.Errorf("under(%q, %q) = %v, want %v", tt.pkg, tt.pattern, got, tt.want)
			}
		})
	}
}
