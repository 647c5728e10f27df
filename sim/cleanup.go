package sim

import (
	"crypto/rand"
	"encoding/hex"
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

// StateDir holds one state file per live site and the site-test lock.
const StateDir = "/run/lvssim"

// NamePrefix starts the name of every namespace lvssim creates.
const NamePrefix = "lvssim-"

// State is what a site records so that a later run can remove it if the
// process that built it dies: /run/lvssim/ID.json.
type State struct {
	mu         sync.Mutex // guards the fields below while the site runs
	ID         string     `json:"id"`
	Owner      int        `json:"owner_pid"`   // the lvssim process that built the site
	OwnerStart uint64     `json:"owner_start"` // its start time (/proc/PID/stat), against PID reuse
	Kept       bool       `json:"kept"`        // `lvssim up`: outlives its owner until `lvssim down`
	Topology   string     `json:"topology"`
	Dir        string     `json:"dir"`
	Started    time.Time  `json:"started"`
	Namespaces []string   `json:"namespaces"`
	PIDs       []int      `json:"pids"` // processes started in the namespaces
}

func (st *State) addNamespace(name string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.Namespaces = append(st.Namespaces, name)
}

func (st *State) addPID(pid int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.PIDs = append(st.PIDs, pid)
}

// newID returns 6 random hex digits.
func newID() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func statePath(id string) string { return filepath.Join(StateDir, id+".json") }

// save writes the state atomically.
func (st *State) save() error {
	st.mu.Lock()
	b, err := json.MarshalIndent(st, "", "  ")
	st.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", StateDir, err)
	}
	tmp := statePath(st.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return os.Rename(tmp, statePath(st.ID))
}

// LoadStates reads every state file.
func LoadStates() ([]*State, error) {
	paths, err := filepath.Glob(filepath.Join(StateDir, "*.json"))
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

// Sweep removes sites whose owner process is dead and that were not kept
// with `lvssim up`: it kills their recorded processes and deletes their
// namespaces. It returns the IDs it removed.
func Sweep() ([]string, error) {
	sts, err := LoadStates()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, st := range sts {
		if st.Kept || procstat.Alive(st.Owner, st.OwnerStart) {
			continue
		}
		if err := removeState(st); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, st.ID)
	}
	return removed, errors.Join(errs...)
}

// removeState kills what a dead or finished site left and deletes its
// namespaces and state file.
func removeState(st *State) error {
	killRecorded(st)
	var errs []error
	for _, name := range st.Namespaces {
		if !strings.HasPrefix(name, NamePrefix+st.ID+"-") {
			continue // only names this site owns
		}
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", name, err))
		}
	}
	if b := filepath.Base(st.Dir); strings.HasPrefix(b, "lvssim-run-") || strings.HasPrefix(b, "lvssim-up-") {
		os.RemoveAll(st.Dir) // the site's own run dir: configs, logs, binaries
	}
	if err := os.Remove(statePath(st.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killRecorded SIGKILLs the recorded processes (and their process groups)
// that still run inside one of the site's namespaces, so a reused PID of
// someone else's process is never hit.
func killRecorded(st *State) {
	inodes := map[uint64]bool{}
	for _, name := range st.Namespaces {
		var s syscall.Stat_t
		if syscall.Stat(filepath.Join("/run/netns", name), &s) == nil {
			inodes[s.Ino] = true
		}
	}
	for _, pid := range st.PIDs {
		var s syscall.Stat_t
		if syscall.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &s) != nil || !inodes[s.Ino] {
			continue
		}
		syscall.Kill(-pid, syscall.SIGKILL) // its own process group (Setpgid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Leftovers lists namespaces named lvssim-* that exist now.
func Leftovers(prefix string) []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// lockSites takes an exclusive flock on /run/lvssim/lock so site tests of
// different packages never run at the same time. It blocks until the lock
// is free; the returned func releases it.
func lockSites() (func(), error) {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(StateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening site lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("taking site lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// LockSites is lockSites for tests of other packages that build sites.
func LockSites() (func(), error) { return lockSites() }
