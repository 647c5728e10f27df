// Package nstest is test support for the integration tests of the dataplane
// Links: namespaces and veth pairs from the module's namespace lab
// (internal/netlab), a userspace two-port bridge and a TCP stream check.
//
// Every namespace is named Prefix-<pid>-<n>-<tag> and is deleted in
// t.Cleanup, also when the test fails; what a crashed test left is swept by
// the next one. Veths are created inside those namespaces, never in the
// caller's, and all traffic of the tests stays inside them.
package nstest

import (
	"net/netip"
	"testing"

	"lvs/internal/netlab"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "lvsdp"

// NS is a network namespace created for one test.
type NS = netlab.NS

// New creates a namespace with lo up and IPv6 off (no neighbour-discovery
// noise on the test links), and deletes it when the test ends. It skips the
// test unless it runs as root. Each call is a lab of its own (its own
// PID-N), so one test may ask for the same tag twice.
func New(t testing.TB, tag string) *NS {
	t.Helper()
	l := netlab.NewT(t, Prefix+"-")
	name := l.NS(tag)
	l.Sysctl(name, "net.ipv6.conf.all.disable_ipv6", "1")
	l.Sysctl(name, "net.ipv6.conf.default.disable_ipv6", "1")
	return l.Get(name)
}

// Unique returns 4 random hex digits for names.
func Unique() string { return netlab.NewID()[:4] }

// Veth creates a veth pair inside a with one end (aName) moved to b (bName),
// both up. Names must fit IFNAMSIZ (15 bytes).
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	check(t, a.Veth(aName, b, bName))
	check(t, a.Up(aName))
	check(t, b.Up(bName))
}

// Addr adds address prefix ("192.0.2.1/24") to ifname in ns and sets
// ifname up.
func Addr(t testing.TB, ns *NS, ifname, prefix string) {
	t.Helper()
	p, err := netip.ParsePrefix(prefix)
	check(t, err)
	check(t, ns.AddAddr(ifname, p))
	check(t, ns.Up(ifname))
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
