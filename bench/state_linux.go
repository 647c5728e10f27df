//go:build linux

package bench

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

	"github.com/vishvananda/netns"

	"lvs/internal/procstat"
)

// StateDir holds one state file per live benchmark run.
const StateDir = "/run/lvsbench"

// NamePrefix starts the name of every namespace the harness creates:
// lvsbench-ID-NODE, ID six random hex digits per run.
const NamePrefix = "lvsbench-"

// runState is what a run records before it creates anything, so that a
// later run can remove what it left if it died: /run/lvsbench/ID.json. It
// mirrors sim's state file (sim.State's writer is unexported there).
type runState struct {
	mu         sync.Mutex // guards the fields below
	ID         string     `json:"id"`
	Owner      int        `json:"owner_pid"`
	OwnerStart uint64     `json:"owner_start"` // /proc/PID/stat start time, against PID reuse
	Namespaces []string   `json:"namespaces"`
	PIDs       []int      `json:"pids"`
}

func newRunState() *runState {
	var b [3]byte
	rand.Read(b[:])
	_, start, _ := procstat.Stat(os.Getpid())
	return &runState{ID: hex.EncodeToString(b[:]), Owner: os.Getpid(), OwnerStart: start}
}

func (st *runState) path() string { return filepath.Join(StateDir, st.ID+".json") }

func (st *runState) prefix() string { return NamePrefix + st.ID + "-" }

// save writes the state file atomically.
func (st *runState) save() error {
	st.mu.Lock()
	b, err := json.MarshalIndent(st, "", "  ")
	st.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", StateDir, err)
	}
	tmp := st.path() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing run state: %w", err)
	}
	return os.Rename(tmp, st.path())
}

func (st *runState) addNamespace(name string) error {
	st.mu.Lock()
	st.Namespaces = append(st.Namespaces, name)
	st.mu.Unlock()
	return st.save()
}

func (st *runState) addPID(pid int) error {
	st.mu.Lock()
	st.PIDs = append(st.PIDs, pid)
	st.mu.Unlock()
	return st.save()
}

// remove kills what the run started, deletes its namespaces and its file.
func (st *runState) remove() error {
	killInNamespaces(st.PIDs, st.Namespaces)
	var errs []error
	for _, name := range st.Namespaces {
		if !strings.HasPrefix(name, st.prefix()) {
			continue // only names this run owns
		}
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", name, err))
		}
	}
	if err := os.Remove(st.path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Sweep removes what dead runs left behind: runs whose owner process is
// gone (their recorded processes are killed, namespaces deleted), and
// lvsbench-* namespaces that no live run lists. It returns the namespaces
// it deleted.
func Sweep() ([]string, error) {
	paths, _ := filepath.Glob(filepath.Join(StateDir, "*.json"))
	live := map[string]bool{}
	var removed []string
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		st := &runState{}
		if err != nil || json.Unmarshal(b, st) != nil || st.ID == "" {
			continue
		}
		if procstat.Alive(st.Owner, st.OwnerStart) {
			for _, n := range st.Namespaces {
				live[n] = true
			}
			continue
		}
		removed = append(removed, st.Namespaces...)
		if err := st.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range Leftovers() {
		if live[n] || slices.Contains(removed, n) {
			continue
		}
		if err := netns.DeleteNamed(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting stale namespace %s: %w", n, err))
			continue
		}
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}

// Leftovers lists the lvsbench-* namespaces that exist now.
func Leftovers() []string {
	ents, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), NamePrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// killInNamespaces SIGKILLs the recorded processes (and their groups) that
// still run inside one of the named namespaces, so a reused PID of someone
// else's process is never hit.
func killInNamespaces(pids []int, namespaces []string) {
	inodes := map[uint64]bool{}
	for _, name := range namespaces {
		var s syscall.Stat_t
		if syscall.Stat(filepath.Join("/run/netns", name), &s) == nil {
			inodes[s.Ino] = true
		}
	}
	for _, pid := range pids {
		var s syscall.Stat_t
		if syscall.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &s) != nil || !inodes[s.Ino] {
			continue
		}
		syscall.Kill(-pid, syscall.SIGKILL) // its own process group (Setpgid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
