//go:build linux

package bench

import "lvs/internal/netlab"

// StateDir holds one state file per live benchmark run.
const StateDir = "/run/lvsbench"

// NamePrefix starts the name of every namespace the harness creates:
// lvsbench-ID-NODE, ID six random hex digits per run.
const NamePrefix = "lvsbench-"

// runs is the harness's store in the namespace lab: /run/lvsbench/ID.json,
// written before anything is created, and lvsbench-* namespaces that no
// state file claims are swept too (the harness holds the site lock while it
// sweeps and builds).
var runs = netlab.Store{Dir: StateDir, Prefix: NamePrefix, Orphans: true}

// runState names a run before its lab exists (the log line that announces
// the topology gives its prefix); buildTestbed starts the lab under that ID.
type runState struct {
	ID  string
	lab *netlab.Lab
}

func newRunState() *runState { return &runState{ID: netlab.NewID()} }

func (st *runState) prefix() string { return NamePrefix + st.ID + "-" }

// Sweep removes what dead runs left behind: runs whose owner process is
// gone (their recorded processes are killed, namespaces deleted), and
// lvsbench-* namespaces that no run claims. It returns the IDs of the runs
// and the names of the namespaces it removed.
func Sweep() ([]string, error) { return runs.Sweep() }

// Leftovers lists the lvsbench-* namespaces that exist now.
func Leftovers() []string { return runs.Leftovers() }
