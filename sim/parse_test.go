package sim

import (
	"os/exec"
	"strings"
	"testing"
)

func TestShippedTopologiesParse(t *testing.T) {
	want := []string{"direct", "direct6", "ecmp", "failover", "flood", "ftp-helper", "ftp-helper6", "ftp", "http-https", "nat", "nat6", "three-tier", "tunnel"}
	if got := ShippedTopologies(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ShippedTopologies() = %v, want %v", got, want)
	}
	for _, name := range ShippedTopologies() {
		t.Run(name, func(t *testing.T) {
			topo, err := LoadTopology(name)
			if err != nil {
				t.Fatalf("LoadTopology(%q): %v", name, err)
			}
			if topo.Site == nil || len(topo.Site.Config.ActiveVirtuals()) == 0 {
				t.Fatalf("LoadTopology(%q): no active virtual server in lvs.cf", name)
			}
			if len(topo.Scenario) == 0 {
				t.Errorf("LoadTopology(%q): empty scenario", name)
			}
		})
	}
}

// base is a valid topology the error cases below break one line at a time.
const base = `name: t
segments:
  - {name: lan, subnet: 10.0.0.0/24}
lvs_cf: |
  primary = 10.0.0.9
  service = lvs
  network = nat
  nat_router = 10.0.0.10 eth0:1
  virtual www {
       active = 1
       address = 10.0.0.100 eth0:1
       port = 80
       scheduler = rr
       server rs1 {
           address = 10.0.0.1
           active = 1
       }
  }
nodes:
  - name: c
    role: client
    interfaces: [{name: eth0, segment: lan, address: 10.0.0.50/24}]
  - name: lvs
    role: router
    interfaces: [{name: eth0, segment: lan, address: 10.0.0.9/24}]
  - name: rs1
    role: real
    interfaces: [{name: eth0, segment: lan, address: 10.0.0.1/24}]
    services: [{kind: responder, http: 80}]
scenario:
  - name: web
    traffic: {kind: http, from: c, to: 10.0.0.100:80, count: 10}
  - assert: {kind: failures, of: web, max: 0}
`

func TestParseTopologyErrors(t *testing.T) {
	if _, err := ParseTopology("t.yaml", []byte(base)); err != nil {
		t.Fatalf("ParseTopology(base): %v", err)
	}
	tests := []struct {
		name, old, new string
		want           []string // substrings of the error, each FILE:LINE: message
	}{
		{"unknown key", "  - name: c\n", "  - name: c\n    colour: red\n",
			[]string{`t.yaml:21: unknown key "colour" in a node, expected one of: name, role`}},
		{"bad role", "role: client", "role: clinet",
			[]string{`t.yaml:21: expected role to be one of client, gateway, router, real, shared, got "clinet"`}},
		{"unknown segment", "{name: eth0, segment: lan, address: 10.0.0.50/24}", "{name: eth0, segment: wan, address: 10.0.0.50/24}",
			[]string{`t.yaml:22: interface eth0 of node c: unknown segment "wan" (segments: lan)`}},
		{"address outside segment", "address: 10.0.0.50/24", "address: 10.9.0.50/24",
			[]string{`t.yaml:22: address 10.9.0.50/24 of c/eth0 is outside segment lan (10.0.0.0/24)`}},
		{"bad prefix", "address: 10.0.0.50/24", "address: 10.0.0.500/24",
			[]string{`t.yaml:22: expected address as an IPv4 address with prefix length like 10.11.12.1/24, got "10.0.0.500/24"`}},
		{"bad count", "count: 10}", "count: lots}",
			[]string{`t.yaml:32: expected count as a whole number from 1 to 100000, got "lots"`}},
		{"traffic from a router", "from: c,", "from: lvs,",
			[]string{`t.yaml:31: traffic from "lvs": expected the name of a client node (or a real server, for its own outbound traffic)`}},
		{"assert of unknown step", "of: web,", "of: webb,",
			[]string{`t.yaml:33: assert of "webb": expected the name of a traffic step`}},
		{"two kinds in a step", "  - assert: {kind: failures, of: web, max: 0}\n",
			"  - assert: {kind: failures, of: web, max: 0}\n    fault: {kind: kill, target: lvs}\n",
			[]string{`t.yaml:33: expected a step with exactly one of traffic, fault or assert, got 2`}},
		{"bad duration", "count: 10}", "count: 10, duration: 10 minutes}",
			[]string{`t.yaml:32: expected duration as a duration like 500ms or 10s (at most 5m0s), got "10 minutes"`}},
		{"unknown feature", "  - name: web\n", "  - name: web\n    requires: [teleport]\n",
			[]string{`t.yaml:31: requires: unknown feature "teleport", expected some of: nat, direct-routing`}},
		{"lvs.cf error", "       port = 80\n", "       port = eighty\n",
			[]string{`t.yaml:12: lvs_cf: port: expected a port number`}},
		{"missing nodes", "nodes:", "nodez:",
			[]string{`t.yaml:19: unknown key "nodez" in the topology`, `t.yaml:1: the topology: missing "nodes"`}},
		{"every error at once", "role: client", "role: clinet\n    forward: maybe",
			[]string{`t.yaml:21: expected role to be one of`, `t.yaml:22: expected forward as true or false, got "maybe"`}},
		{"not yaml", "name: t", "name: [t", []string{`t.yaml: not valid YAML`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(base, tc.old, tc.new, 1)
			if src == base {
				t.Fatalf("test case does not change the topology: %q not found", tc.old)
			}
			_, err := ParseTopology("t.yaml", []byte(src))
			if err == nil {
				t.Fatalf("ParseTopology = nil error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseTopology error =\n%v\nwant it to contain\n%s", err, w)
				}
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	topo, err := ParseTopology("t.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	tr := topo.Scenario[0].Traffic
	if tr.Concurrency != 1 || tr.Path != "/" || tr.Client != "builtin" || tr.Duration == 0 || tr.Timeout == 0 {
		t.Errorf("traffic defaults = %+v, want concurrency 1, path /, builtin client, bounded duration and timeout", tr)
	}
	if topo.Router.Impl != "auto" {
		t.Errorf("router impl = %q, want auto", topo.Router.Impl)
	}
}

// TestSimDoesNotImportDaemon enforces, over all transitive dependencies,
// that the simulator runs lvsd as a binary instead of linking it.
func TestSimDoesNotImportDaemon(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "lvs/sim", "lvs/cmd/lvssim").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "lvs/daemon" || p == "lvs/dataplane" || strings.HasPrefix(p, "lvs/dataplane/") {
			t.Errorf("sim depends on %s: it must run the lvsd binary instead (STYLE.md)", p)
		}
	}
}
