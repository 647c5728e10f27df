package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"lvs/internal/procstat"
)

// Options configure one run of a Store.
type Options struct {
	ID    string // "" picks NewID()
	Kept  bool   // the run outlives its owner; its processes get no Pdeathsig
	Label string // recorded in the state file
	Dir   string // the run's directory, recorded in the state file
}

// Lab is one run: its state file, the namespaces it created and the
// processes it started in them. Its methods may be called from several
// goroutines.
type Lab struct {
	store Store
	st    *State

	mu    sync.Mutex // guards nss, procs
	nss   []*NS
	procs []*Proc
}

// NewID returns 6 random hex digits: a run's ID.
func NewID() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// New sweeps what dead runs of the store left, then starts a run: it writes
// the run's state file before anything else exists.
func (s Store) New(o Options) (*Lab, error) {
	if _, err := s.Sweep(); err != nil {
		return nil, fmt.Errorf("sweeping leftovers of crashed runs: %w", err)
	}
	if o.ID == "" {
		o.ID = NewID()
	}
	_, start, _ := procstat.Stat(os.Getpid())
	l := &Lab{store: s, st: &State{ID: o.ID, Owner: os.Getpid(), OwnerStart: start, Kept: o.Kept,
		Label: o.Label, Dir: o.Dir, Started: time.Now()}}
	if err := s.save(l.st); err != nil {
		return nil, err
	}
	return l, nil
}

// ID returns the run's ID.
func (l *Lab) ID() string { return l.st.ID }

// Prefix returns the name prefix of the run's namespaces: Store.Prefix+ID+"-".
func (l *Lab) Prefix() string { return l.store.prefix(l.st.ID) }

// Namespace returns the full name of node's namespace.
func (l *Lab) Namespace(node string) string { return l.Prefix() + node }

// NS records, then creates, the namespace Prefix()+node with lo up, and
// opens a netlink handle into it.
func (l *Lab) NS(node string) (*NS, error) {
	name := l.Namespace(node)
	l.st.mu.Lock()
	l.st.Namespaces = append(l.st.Namespaces, name)
	l.st.mu.Unlock()
	if err := l.store.save(l.st); err != nil {
		return nil, err
	}
	n, err := openNS(name)
	if err != nil {
		netns.DeleteNamed(name)
		return nil, err
	}
	l.mu.Lock()
	l.nss = append(l.nss, n)
	l.mu.Unlock()
	return n, nil
}

// Get returns the namespace the lab created for node.
func (l *Lab) Get(node string) (*NS, error) {
	name := l.Namespace(node)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.nss {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no namespace %s in run %s", name, l.st.ID)
}

// addPID records a started process in the state file.
func (l *Lab) addPID(pid int) error {
	l.st.mu.Lock()
	l.st.PIDs = append(l.st.PIDs, pid)
	l.st.mu.Unlock()
	return l.store.save(l.st)
}

// Close kills every process the run started (newest first), deletes its
// namespaces (links inside them go with them) and its state file. The run's
// directory stays. It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	procs, nss := l.procs, l.nss
	l.procs, l.nss = nil, nil
	l.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Kill()
	}
	for _, n := range nss {
		n.close()
	}
	l.st.mu.Lock()
	st := &State{ID: l.st.ID, PIDs: l.st.PIDs, Namespaces: l.st.Namespaces}
	l.st.mu.Unlock()
	return l.store.Remove(st) // Dir is not set: the directory stays
}
