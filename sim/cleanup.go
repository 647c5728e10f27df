package sim

import (
	"path/filepath"

	"lvs/internal/netlab"
)

// StateDir holds one state file per live site and the site-test lock.
const StateDir = "/run/lvssim"

// NamePrefix starts the name of every namespace lvssim creates.
const NamePrefix = "lvssim-"

// sites is lvssim's store of runs: /run/lvssim/ID.json per site, namespaces
// lvssim-ID-NODE, and run directories of its own (lvssim-run-*, lvssim-up-*)
// removed with a crashed or downed site. Namespaces no state file claims are
// left alone (List names them).
var sites = netlab.Store{Dir: StateDir, Prefix: NamePrefix, OwnedDirs: []string{"lvssim-run-", "lvssim-up-"}}

// State is what a site records so that a later run can remove it if the
// process that built it dies: /run/lvssim/ID.json. Label is the topology
// file; Kept marks a site of `lvssim up`, which outlives its owner until
// `lvssim down`.
type State = netlab.State

// LoadStates reads every state file.
func LoadStates() ([]*State, error) { return sites.Load() }

// Sweep removes sites whose owner process is dead and that were not kept
// with `lvssim up`: it kills their recorded processes and deletes their
// namespaces. It returns the IDs it removed.
func Sweep() ([]string, error) { return sites.Sweep() }

// Leftovers lists namespaces whose name starts with prefix that exist now.
func Leftovers(prefix string) []string { return netlab.Leftovers(prefix) }

// LockSites takes an exclusive flock on /run/lvssim/lock so site tests of
// different packages (and lvsbench) never run at the same time. It blocks
// until the lock is free; the returned func releases it.
func LockSites() (func(), error) { return netlab.Lock(filepath.Join(StateDir, "lock")) }
