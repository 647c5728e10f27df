package netlab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"lvs/internal/procstat"
)

// netnsDir is where named namespaces live (ip netns, netns.NewNamed).
const netnsDir = "/run/netns"

// State is what a run records so that a later run can remove what it left
// if its owner dies: Store.Dir/ID.json, written atomically.
type State struct {
	mu         sync.Mutex // guards the fields below while the run lives
	ID         string     `json:"id"`
	Owner      int        `json:"owner_pid"`   // the process that built the run
	OwnerStart uint64     `json:"owner_start"` // its start time (/proc/PID/stat), against PID reuse
	Kept       bool       `json:"kept"`        // outlives its owner until removed on purpose
	Label      string     `json:"label"`       // what the run is (a topology file, a test)
	Dir        string     `json:"dir"`         // the run's own directory, removed with it if Store.OwnsDir
	Started    time.Time  `json:"started"`
	Namespaces []string   `json:"namespaces"`
	PIDs       []int      `json:"pids"` // processes started in the namespaces
}

// A Store is the state directory of one kind of run (the simulator's sites,
// the benchmark's runs, one kind of test lab) and the name prefix its
// namespaces share.
type Store struct {
	Dir    string // one state file per run: Dir/ID.json
	Prefix string // every namespace of a run is Prefix+ID+"-"+node
	// OwnedDirs lists base-name prefixes of run directories (State.Dir)
	// that a removal may delete with the run; other directories stay.
	OwnedDirs []string
	// Orphans makes Sweep also delete Prefix namespaces that no state file
	// claims (a removal that could not delete them, or a run from before
	// state files).
	Orphans bool
	// PIDNames says a run's ID starts with its owner's PID ("4711-3"), so
	// Sweep leaves an unclaimed namespace alone while that process runs.
	PIDNames bool
}

func (s Store) path(id string) string { return filepath.Join(s.Dir, id+".json") }

// prefix is the name prefix of run id's namespaces.
func (s Store) prefix(id string) string { return s.Prefix + id + "-" }

// save writes st atomically into the store.
func (s Store) save(st *State) error {
	st.mu.Lock()
	b, err := json.MarshalIndent(st, "", "  ")
	st.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", s.Dir, err)
	}
	tmp := s.path(st.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return os.Rename(tmp, s.path(st.ID))
}

// Load reads every state file of the store, oldest run first. Files it
// cannot read or parse are skipped.
func (s Store) Load() ([]*State, error) {
	paths, err := filepath.Glob(filepath.Join(s.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*State
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		st := &State{}
		if json.Unmarshal(b, st) == nil && st.ID != "" {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b *State) int { return a.Started.Compare(b.Started) })
	return out, nil
}

// Alive reports whether the run's owner still runs (or the run is kept).
func (st *State) Alive() bool { return st.Kept || procstat.Alive(st.Owner, st.OwnerStart) }

// Sweep removes what dead runs of this store left: runs whose owner is
// gone and that were not kept have their recorded processes killed, their
// namespaces deleted and their state file removed. With Orphans it also
// deletes unclaimed Prefix namespaces. It returns the IDs of the runs it
// removed followed by the orphan namespaces it deleted.
func (s Store) Sweep() ([]string, error) {
	sts, err := s.Load()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, st := range sts {
		if st.Alive() {
			continue
		}
		if err := s.Remove(st); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, st.ID)
	}
	if s.Orphans {
		for _, name := range s.Leftovers() {
			if s.claimed(name) {
				continue
			}
			if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("deleting stale namespace %s: %w", name, err))
				continue
			}
			removed = append(removed, name)
		}
	}
	return removed, errors.Join(errs...)
}

// claimed reports whether a namespace of the store may belong to a run that
// is not dead: a state file (read now, so a run that started since Load
// counts) claims it, or, with PIDNames, the PID its name starts with runs.
func (s Store) claimed(name string) bool {
	sts, _ := s.Load()
	for _, st := range sts {
		if strings.HasPrefix(name, s.prefix(st.ID)) {
			return true
		}
	}
	if s.PIDNames {
		pid, _, _ := strings.Cut(strings.TrimPrefix(name, s.Prefix), "-")
		if n, err := strconv.Atoi(pid); err != nil || n == os.Getpid() || procstat.Alive(n, 0) {
			return true
		}
	}
	return false
}

// Remove kills what a dead or finished run left and deletes its namespaces
// (only names under its own prefix), its directory when the store owns it,
// and its state file.
func (s Store) Remove(st *State) error {
	killRecorded(st.PIDs, st.Namespaces)
	var errs []error
	for _, name := range st.Namespaces {
		if !strings.HasPrefix(name, s.prefix(st.ID)) {
			continue // only names this run owns
		}
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", name, err))
		}
	}
	if st.Dir != "" && s.ownsDir(st.Dir) {
		os.RemoveAll(st.Dir)
	}
	if err := os.Remove(s.path(st.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s Store) ownsDir(dir string) bool {
	b := filepath.Base(dir)
	return slices.ContainsFunc(s.OwnedDirs, func(p string) bool { return strings.HasPrefix(b, p) })
}

// Leftovers lists the namespaces under the store's prefix that exist now.
func (s Store) Leftovers() []string { return Leftovers(s.Prefix) }

// Leftovers lists the namespaces whose name starts with prefix.
func Leftovers(prefix string) []string {
	ents, _ := os.ReadDir(netnsDir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// killRecorded SIGKILLs the recorded processes (and their process groups)
// that still run inside one of the named namespaces, so a reused PID of
// someone else's process is never hit.
func killRecorded(pids []int, namespaces []string) {
	inodes := map[uint64]bool{}
	for _, name := range namespaces {
		var s syscall.Stat_t
		if syscall.Stat(filepath.Join(netnsDir, name), &s) == nil {
			inodes[s.Ino] = true
		}
	}
	for _, pid := range pids {
		var s syscall.Stat_t
		if pid <= 0 || syscall.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &s) != nil || !inodes[s.Ino] {
			continue
		}
		syscall.Kill(-pid, syscall.SIGKILL) // its own process group (Setpgid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
