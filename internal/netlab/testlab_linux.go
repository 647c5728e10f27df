package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"lvs/internal/testutil"
)

// T is a lab bound to one test, for root integration tests: its methods
// take namespace names (as `ip -n` does) and fail the test instead of
// returning errors, and the lab is removed in t.Cleanup, also when the test
// fails.
type T struct {
	t   testing.TB
	lab *Lab
}

var testSeq atomic.Uint32

// TestStore is the store of the test labs whose namespaces start with
// prefix ("lvst-"): state files in /run/PREFIX, run IDs PID-N, unclaimed
// namespaces of dead test processes swept.
func TestStore(prefix string) Store {
	return Store{Dir: "/run/" + strings.TrimSuffix(prefix, "-"), Prefix: prefix, Orphans: true, PIDNames: true}
}

// NewT returns a lab for t whose namespaces are named PREFIX-PID-N-node,
// skipping the test unless it runs as root with ip. It sweeps what dead
// test processes left first.
func NewT(t testing.TB, prefix string) *T {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip")
	id := fmt.Sprintf("%d-%d", os.Getpid(), testSeq.Add(1))
	lab, err := TestStore(prefix).New(Options{ID: id, Label: t.Name()})
	if err != nil {
		t.Fatalf("starting a namespace lab: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("removing the namespace lab: %v", err)
		}
	})
	return &T{t: t, lab: lab}
}

// Lab returns the lab underneath.
func (l *T) Lab() *Lab { return l.lab }

// NS creates a namespace with loopback up and returns its name.
func (l *T) NS(node string) string {
	l.t.Helper()
	n, err := l.lab.NS(node)
	if err != nil {
		l.t.Fatal(err)
	}
	return n.Name
}

// Get returns the namespace named name, failing the test if the lab did
// not create it.
func (l *T) Get(name string) *NS {
	l.t.Helper()
	node, ok := strings.CutPrefix(name, l.lab.Prefix())
	n, err := l.lab.Get(node)
	if !ok || err != nil {
		l.t.Fatalf("namespace %s is not of this lab", name)
	}
	return n
}

// Veth connects namespace a (interface ifA) and b (interface ifB) with a
// veth pair created inside a, and sets both ends up.
func (l *T) Veth(a, ifA, b, ifB string) {
	l.t.Helper()
	na, nb := l.Get(a), l.Get(b)
	l.check(na.Veth(ifA, nb, ifB))
	l.check(na.Up(ifA))
	l.check(nb.Up(ifB))
}

// Bridge creates bridge br in namespace ns, attaches the interfaces ifs of
// ns to it and sets it up: one Ethernet segment for several namespaces
// (connect each to ns with Veth first).
func (l *T) Bridge(ns, br string, ifs ...string) {
	l.t.Helper()
	l.check(l.Get(ns).Bridge(br, ifs...))
}

// Sysctl writes a sysctl inside namespace ns.
func (l *T) Sysctl(ns, key, val string) {
	l.t.Helper()
	l.check(l.Get(ns).Sysctl(key, val))
}

func (l *T) check(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
}

// Must runs a command on the host (such as `ip -n NS ...`) and fails the
// test with its output when it fails.
func (l *T) Must(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// In runs cmd inside namespace ns (at most 30 s) and returns its combined
// output and error.
func (l *T) In(ns string, cmd ...string) (string, error) {
	return l.Get(ns).Run(context.Background(), "", cmd...)
}

// MustIn is In that fails the test on error.
func (l *T) MustIn(ns string, cmd ...string) string {
	l.t.Helper()
	out, err := l.In(ns, cmd...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// Do runs f on an OS thread switched into namespace ns (see NS.Do). Sockets
// f creates stay in ns after Do returns. f must not call t.Fatal.
func (l *T) Do(ns string, f func()) {
	l.t.Helper()
	l.check(l.Get(ns).Do(func() error { f(); return nil }))
}
