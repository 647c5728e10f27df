package fastpath

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The legacy tc hook. Kernels before 6.6 have no tcx, and Debian 12's
// 6.1 is one of them: there the program goes on the interface's clsact
// qdisc as a cls_bpf filter in direct-action mode, which the kernel runs
// at the same place tcx does (sch_handle_ingress, before the netdev
// hook and before any socket bound to one protocol), with the same
// return codes (TC_ACT_UNSPEC, TC_ACT_SHOT and TC_ACT_REDIRECT are
// TCX_NEXT, TCX_DROP and TCX_REDIRECT). The program is the same.
//
// One difference matters: a tcx link belongs to lvsd's file descriptor
// and goes when lvsd does, where a tc filter stays on the interface until
// it is deleted, holding the program and its maps. So the filter has a
// handle and priority of its own (tcHandle, tcPriority): Attach replaces
// a filter a killed lvsd left there instead of adding a second one, and
// Close deletes it, and the clsact qdisc too when Attach created it.

// Hook is where Attach puts the program.
type Hook string

const (
	// HookAuto is tcx where the kernel has it, the tc hook otherwise.
	HookAuto Hook = ""
	// HookTCX is a tcx ingress link (Linux 6.6 and later).
	HookTCX Hook = "tcx"
	// HookTC is a cls_bpf filter on the clsact qdisc's ingress.
	HookTC Hook = "tc"
)

// The tc filter lvsd owns on each interface ("lv", 0x6c76, as its handle
// and priority), so a later lvsd finds and replaces it.
const (
	tcHandle   = 0x6c76
	tcPriority = 0x6c76
)

// tcAttachment is the program's filter on one interface.
type tcAttachment struct {
	ifindex int
	qdisc   bool // Attach created the clsact qdisc
}

// tcFilter is the filter lvsd puts on ifindex's ingress, with prog's fd
// when it is to be added.
func tcFilter(ifindex int, prog *ebpf.Program) *netlink.BpfFilter {
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS,
			Handle: tcHandle, Protocol: unix.ETH_P_ALL, Priority: tcPriority},
		Name: "lvs_fastpath", DirectAction: true, Fd: -1,
	}
	if prog != nil {
		f.Fd = prog.FD()
	}
	return f
}

// attachTC puts prog on ifindex's ingress through the clsact qdisc,
// creating the qdisc when the interface has none, and replacing the
// filter of an earlier lvsd.
func attachTC(ifindex int, prog *ebpf.Program) (tcAttachment, error) {
	a := tcAttachment{ifindex: ifindex}
	qd := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	switch err := netlink.QdiscAdd(qd); {
	case err == nil:
		a.qdisc = true
	case errors.Is(err, unix.EEXIST):
	default:
		return a, fmt.Errorf("adding a clsact qdisc to interface %d: %w", ifindex, err)
	}
	if err := netlink.FilterReplace(tcFilter(ifindex, prog)); err != nil {
		a.detach()
		return a, fmt.Errorf("adding the tc ingress filter to interface %d: %w", ifindex, err)
	}
	return a, nil
}

// detach deletes the filter, and the qdisc if attachTC created it or no
// filter is left on it (a killed lvsd's qdisc). An interface that went
// meanwhile took both with it: not an error.
func (a tcAttachment) detach() error {
	var errs []error
	if err := netlink.FilterDel(tcFilter(a.ifindex, nil)); err != nil && !a.gone(err) {
		errs = append(errs, fmt.Errorf("deleting the tc ingress filter of interface %d: %w", a.ifindex, err))
	}
	if a.qdisc || !hasFilters(a.ifindex) {
		qd := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: a.ifindex,
			Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
		if err := netlink.QdiscDel(qd); err != nil && !a.gone(err) {
			errs = append(errs, fmt.Errorf("deleting the clsact qdisc of interface %d: %w", a.ifindex, err))
		}
	}
	return errors.Join(errs...)
}

// hasFilters reports whether ifindex's clsact qdisc has filters (true
// when it cannot tell: the qdisc stays).
func hasFilters(ifindex int) bool {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return true
	}
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		if fs, err := netlink.FilterList(l, parent); err != nil || len(fs) > 0 {
			return true
		}
	}
	return false
}

// gone reports whether err says the interface, qdisc or filter is no
// longer there. Deleting a filter or the qdisc fails with EINVAL when the
// clsact qdisc is gone (the device's ingress queue then holds a qdisc
// without its handle), but EINVAL says other things too: it counts only
// when hasClsact says the qdisc is gone.
func (a tcAttachment) gone(err error) bool {
	return linkGone(err) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) && !hasClsact(a.ifindex)
}

func linkGone(err error) bool { return errors.Is(err, unix.ENODEV) }

// hasClsact reports whether ifindex has a clsact qdisc (true when it
// cannot tell, so an error is not taken for the qdisc's absence).
func hasClsact(ifindex int) bool {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return !linkGone(err) && !errors.As(err, new(netlink.LinkNotFoundError))
	}
	qs, err := netlink.QdiscList(l)
	if err != nil {
		return true
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			return true
		}
	}
	return false
}
