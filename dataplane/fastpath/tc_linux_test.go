package fastpath

import (
	"testing"

	"github.com/vishvananda/netlink"

	"lvs/internal/netlab"
)

// TestTCHook: with the tc hook, Attach puts the program on the
// interface's clsact ingress as a direct-action cls_bpf filter; a second
// fast path (lvsd started again after a kill, the first never closed)
// replaces that filter instead of adding one; Close deletes the filter
// and the qdisc no other filter uses.
func TestTCHook(t *testing.T) {
	lab := netlab.NewT(t, "lvsfptc-") // root, or skipped
	name := lab.NS("tc")
	ns := lab.Get(name)
	a, b := "fp"+netlab.NewID()[:4]+"a", "fp"+netlab.NewID()[:4]+"b"
	lab.Veth(name, a, name, b)
	var ifindex int
	filters := func() []netlink.Filter {
		t.Helper()
		var fs []netlink.Filter
		if err := ns.Do(func() error {
			l, err := netlink.LinkByName(b)
			if err != nil {
				return err
			}
			ifindex = l.Attrs().Index
			fs, err = netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	filters()
	attach := func() *FastPath {
		t.Helper()
		var fp *FastPath
		if err := ns.Do(func() (err error) {
			if fp, err = Open(Config{MaxFlows: 256, MaxFlows6: 256, Slots: 64, Hook: HookTC}); err != nil {
				return err
			}
			return fp.Attach(ifindex)
		}); err != nil {
			t.Skipf("skipped: %v (needs a kernel with BPF and cls_bpf)", err)
		}
		if fp.Hook() != HookTC {
			t.Errorf("Hook() = %q after attaching with the tc hook", fp.Hook())
		}
		return fp
	}
	progID := func(fp *FastPath) int {
		info, err := fp.tcx.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		return int(id)
	}
	check := func(fp *FastPath) {
		t.Helper()
		fs := filters()
		if len(fs) != 1 {
			t.Fatalf("%d ingress filters, want 1: %+v", len(fs), fs)
		}
		f, ok := fs[0].(*netlink.BpfFilter)
		if !ok || !f.DirectAction || f.Id != progID(fp) || f.Attrs().Priority != tcPriority {
			t.Errorf("ingress filter %+v, want cls_bpf direct-action of program %d at priority %#x", fs[0], progID(fp), tcPriority)
		}
	}
	first := attach()
	closedFirst := false
	t.Cleanup(func() { // inside the namespace: its ifindex means another interface outside
		if !closedFirst {
			ns.Do(first.Close)
		}
	})
	check(first)
	second := attach() // the first is not closed: a killed lvsd's filter stays
	check(second)
	if err := ns.Do(second.Close); err != nil {
		t.Errorf("Close: %v", err)
	}
	if fs := filters(); len(fs) != 0 {
		t.Errorf("after Close %d ingress filters are left: %+v", len(fs), fs)
	}
	var qdiscs []netlink.Qdisc
	ns.Do(func() (err error) {
		l, err := netlink.LinkByIndex(ifindex)
		if err == nil {
			qdiscs, err = netlink.QdiscList(l)
		}
		return err
	})
	for _, q := range qdiscs {
		if q.Type() == "clsact" {
			t.Errorf("after Close the clsact qdisc is left on %s", b)
		}
	}
	// The killed lvsd's fast path, closed last, finds its filter and the
	// qdisc gone (the filter's deletion fails with EINVAL then): not an
	// error.
	closedFirst = true
	if err := ns.Do(first.Close); err != nil {
		t.Errorf("Close of the replaced fast path after the qdisc went: %v", err)
	}
}
