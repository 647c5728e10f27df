package daemon

import (
	"errors"
	"fmt"
	"time"

	"lvs/dataplane/fastpath"
)

// Dataplane modes (--dataplane).
const (
	// DataplaneAuto uses the eBPF fast path when the kernel allows it and
	// the link backend can carry it, and the Go workers alone otherwise.
	DataplaneAuto = "auto"
	// DataplaneTCX requires the eBPF fast path: established flows are
	// forwarded by a tcx program in the kernel, everything else by the Go
	// workers on AF_PACKET.
	DataplaneTCX = "tcx"
	// DataplaneAFPacket forwards everything in the Go workers on AF_PACKET
	// (or the link backend --link names).
	DataplaneAFPacket = "afpacket"
)

// Options.KernelSchedule values: which new flows the fast path schedules.
const (
	KernelScheduleUDP = "udp" // UDP flows from their first datagram
	KernelScheduleAll = "all" // UDP flows and TCP connections from their SYN (the default)
	KernelScheduleOff = "off" // none: the Go workers schedule every new flow
)

// The mode names lvsd reports (log, /metrics, lvsadm -L --daemon).
const (
	modeTCX = "tcx+afpacket"
)

// openFastPath loads the eBPF fast path when the options ask for it (or
// allow it) and records the dataplane mode. With DataplaneAuto a kernel
// that refuses it is logged and lvsd goes on with its Go workers. The tcx
// program is attached by attachFastPath, once the packet sockets carry
// its socket filter.
func (d *lvsd) openFastPath(backend string) error {
	mode := d.opts.Dataplane
	if mode == "" {
		mode = DataplaneAuto
	}
	d.mode = backend
	switch mode {
	case DataplaneAFPacket:
		return nil
	case DataplaneAuto, DataplaneTCX:
	default:
		return fmt.Errorf("unknown dataplane %q (want %s, %s or %s)", mode, DataplaneAuto, DataplaneTCX, DataplaneAFPacket)
	}
	if backend != "afpacket" {
		if mode == DataplaneTCX {
			return fmt.Errorf("--dataplane tcx needs the afpacket link backend, not %s", backend)
		}
		return nil
	}
	fp, err := fastpath.Open(fastpath.Config{})
	if err != nil {
		if mode == DataplaneAuto && errors.Is(err, fastpath.ErrUnsupported) {
			d.log.Warn("eBPF fast path unavailable; forwarding every frame in the Go workers", "err", err)
			return nil
		}
		return err
	}
	d.fast = fp
	return nil
}

// attachFastPath puts the tcx program on every port and hands the fast
// path to the dataplane.
func (d *lvsd) attachFastPath() error {
	if d.fast == nil {
		return nil
	}
	for _, p := range d.site.ports {
		if err := d.fast.Attach(p.Ifindex); err != nil {
			d.fast.Close()
			d.fast = nil
			if d.opts.Dataplane == DataplaneTCX {
				return err
			}
			d.log.Warn("eBPF fast path unavailable; forwarding every frame in the Go workers", "err", err)
			return nil
		}
	}
	d.dp.SetFastPath(d.fast)
	switch d.opts.KernelSchedule {
	case KernelScheduleOff:
	case KernelScheduleUDP:
		d.dp.ScheduleInKernel(true, false)
	default:
		d.dp.ScheduleInKernel(true, true)
	}
	d.mode = modeTCX
	return nil
}

// filterFD is the socket filter the receive links carry: the fast path's,
// or none.
func (d *lvsd) filterFD() int {
	if d.fast == nil {
		return 0
	}
	return d.fast.SocketFilter()
}

// flushFastPath empties the fast path's flow map when this router stops
// being active. The flows it held stay on the Go path if they come back.
func (d *lvsd) flushFastPath() {
	if d.fast == nil {
		return
	}
	if err := d.fast.Flush(); err != nil {
		d.log.Error("flushing the eBPF fast path", "err", err)
	}
}

// followMoves flushes the fast path when a neighbour's MAC changed since
// the last call: its flow entries carry the MACs of the moment they were
// installed, and the Go path looks each frame's next hop up afresh. The
// flows concerned stay on the Go path.
func (d *lvsd) followMoves() {
	if d.fast == nil {
		return
	}
	var moves uint64
	for _, p := range d.site.ports {
		moves += p.Neigh.Moves()
	}
	if moves != d.neighMoves {
		d.neighMoves = moves
		d.log.Info("a neighbour's MAC changed; the eBPF fast path's flows go through the workers again")
		d.flushFastPath()
	}
}

// syncNewFlows keeps the fast path's own scheduling of new connections in
// step with what Publish cannot see change — next hops resolving, the
// connection table's pressure — and adopts the flows it scheduled while no
// worker ran. A failure is logged when it starts and when it ends.
func (d *lvsd) syncNewFlows(now time.Time) {
	if d.fast == nil {
		return
	}
	err := d.dp.SyncNewFlows()
	switch {
	case err != nil && !d.newFlowsFailing:
		d.log.Error("the eBPF fast path cannot schedule new connections; the workers do", "err", err)
	case err == nil && d.newFlowsFailing:
		d.log.Info("the eBPF fast path schedules new connections again")
	}
	d.newFlowsFailing = err != nil
	d.dp.AdoptNewFlows(d.dp.Tick(now))
}
