// Package nstest builds the network namespaces and veth pairs that the
// integration tests of the dataplane Links run in. It is test support only.
//
// Every namespace it creates is named Prefix-<pid>-<random>-<tag> and is
// deleted in t.Cleanup, also when the test fails; namespaces left by a
// process that no longer runs (a crashed test) are swept on first use.
// Veths are created inside those namespaces, never in the caller's, and all
// traffic of the tests stays inside them.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netns"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "lvsdp"

// NS is a network namespace created for one test.
type NS struct {
	Name string
	h    netns.NsHandle
}

var sweepOnce sync.Once

// New creates a namespace with lo up and IPv6 off (no neighbour-discovery
// noise on the test links), and deletes it when the test ends.
func New(t testing.TB, tag string) *NS {
	t.Helper()
	sweepOnce.Do(func() { sweep(t) })
	name := fmt.Sprintf("%s-%d-%s-%s", Prefix, os.Getpid(), Unique(), tag)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("deleting netns %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("opening netns %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	ns := &NS{Name: name, h: h}
	ns.Exec(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// Unique returns 4 random hex digits for names.
func Unique() string {
	var b [2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sweep deletes namespaces with Prefix whose creating process is gone.
func sweep(t testing.TB) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), Prefix+"-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its test is still running
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			t.Logf("sweeping stale netns %s: %v: %s", e.Name(), err, out)
		}
	}
}

// IP runs `ip -n <ns> args...` and fails t on error.
func (ns *NS) IP(t testing.TB, args ...string) {
	t.Helper()
	run(t, "ip", append([]string{"-n", ns.Name}, args...)...)
}

// Exec runs a program inside the namespace (ip netns exec) and fails t on error.
func (ns *NS) Exec(t testing.TB, args ...string) {
	t.Helper()
	run(t, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Do runs f on an OS thread switched into the namespace. Sockets and devices
// f creates belong to the namespace for their whole life, whichever thread
// uses them later.
func (ns *NS) Do(f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("getting current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns.h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering netns %s: %w", ns.Name, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime ends it with the goroutine
		// rather than reuse a thread in the wrong namespace.
		return fmt.Errorf("leaving netns %s: %w", ns.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Veth creates a veth pair inside a with one end (aName) moved to b (bName),
// both up. Names must fit IFNAMSIZ (15 bytes).
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	a.IP(t, "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.IP(t, "link", "set", aName, "up")
	b.IP(t, "link", "set", bName, "up")
}
