// Package netnstest builds small throw-away networks of namespaces for
// integration tests. It is test support only.
//
// Every namespace is named "lvst-<pid>-<n>-<tag>", is deleted in t.Cleanup
// (also when the test fails), and namespaces whose creating process is dead
// are swept the next time a Lab starts. Links are created directly inside
// their namespaces, so nothing ever touches the host's own interfaces.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"

	"lvs/internal/testutil"
)

const prefix = "lvst-"

var seq atomic.Uint32

// Lab is a set of namespaces owned by one test.
type Lab struct {
	t   testing.TB
	tag string
}

// New returns a lab for t, skipping the test unless it runs as root with ip.
// It sweeps namespaces left behind by dead test processes first.
func New(t testing.TB) *Lab {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip")
	Sweep()
	return &Lab{t: t, tag: fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), seq.Add(1))}
}

// Sweep deletes lvst- namespaces whose creating process no longer exists.
func Sweep() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// NS creates a namespace with loopback up and returns its name.
func (l *Lab) NS(name string) string {
	l.t.Helper()
	full := l.tag + "-" + name
	l.Must("ip", "netns", "add", full)
	l.t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", full).Run() })
	l.Must("ip", "-n", full, "link", "set", "lo", "up")
	return full
}

// Veth connects namespace a (interface ifA) and b (interface ifB) with a veth
// pair created inside a, and sets both ends up.
func (l *Lab) Veth(a, ifA, b, ifB string) {
	l.t.Helper()
	l.Must("ip", "-n", a, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", b)
	l.Must("ip", "-n", a, "link", "set", ifA, "up")
	l.Must("ip", "-n", b, "link", "set", ifB, "up")
}

// Must runs a command and fails the test with its output when it fails.
func (l *Lab) Must(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// In runs cmd inside namespace ns and returns its combined output and error.
func (l *Lab) In(ns string, cmd ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, cmd...)...).CombinedOutput()
	return string(out), err
}

// MustIn is In that fails the test on error.
func (l *Lab) MustIn(ns string, cmd ...string) string {
	l.t.Helper()
	out, err := l.In(ns, cmd...)
	if err != nil {
		l.t.Fatalf("in %s: %s: %v\n%s", ns, strings.Join(cmd, " "), err, out)
	}
	return out
}

// Do runs f on a locked OS thread switched into namespace ns. Sockets f
// creates stay in ns after Do returns.
func (l *Lab) Do(ns string, f func()) {
	l.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		l.t.Fatalf("getting the current namespace: %v", err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		l.t.Fatalf("opening namespace %s: %v", ns, err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		l.t.Fatalf("entering namespace %s: %v", ns, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("netnstest: cannot return to the original namespace: %v", err))
		}
	}()
	f()
}

// Bridge creates bridge br in namespace ns, attaches the interfaces ifs of
// ns to it and sets it up: one Ethernet segment for several namespaces
// (connect each to ns with Veth first).
func (l *Lab) Bridge(ns, br string, ifs ...string) {
	l.t.Helper()
	l.Must("ip", "-n", ns, "link", "add", br, "type", "bridge")
	for _, ifname := range ifs {
		l.Must("ip", "-n", ns, "link", "set", ifname, "master", br)
	}
	l.Must("ip", "-n", ns, "link", "set", br, "up")
}
