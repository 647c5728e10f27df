package daemon

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"lvs/conntrack"
	"lvs/dataplane/fastpath"
)

// Dataplane modes (--dataplane).
const (
	// DataplaneAuto uses the eBPF fast path when the kernel allows it and
	// the link backend can carry it, and the Go workers alone otherwise.
	DataplaneAuto = "auto"
	// DataplaneTCX requires the eBPF fast path: established flows are
	// forwarded by a tcx program in the kernel, everything else by the Go
	// workers on AF_PACKET. On a kernel without tcx (before 6.6) the
	// program goes on the tc hook instead (DataplaneTC).
	DataplaneTCX = "tcx"
	// DataplaneTC is DataplaneTCX with the program on the legacy tc hook
	// (a cls_bpf filter on the clsact qdisc), even where the kernel has
	// tcx.
	DataplaneTC = "tc"
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
	modeTC  = "tc+afpacket"
)

// openFastPath loads the eBPF fast path when the options ask for it (or
// allow it) and records the dataplane mode. With DataplaneAuto a kernel
// that refuses it is logged and lvsd goes on with its Go workers. The tcx
// program is attached by attachFastPath. It needs the receive links' packet
// sockets bound per protocol, which the afpacket backend's are: the kernel
// delivers them only the frames the program passes on.
func (d *lvsd) openFastPath(backend string) error {
	mode := d.opts.Dataplane
	if mode == "" {
		mode = DataplaneAuto
	}
	d.mode = backend
	switch mode {
	case DataplaneAFPacket:
		return nil
	case DataplaneAuto, DataplaneTCX, DataplaneTC:
	default:
		return fmt.Errorf("unknown dataplane %q (want %s, %s, %s or %s)", mode, DataplaneAuto, DataplaneTCX, DataplaneTC, DataplaneAFPacket)
	}
	if backend != "afpacket" {
		if mode != DataplaneAuto {
			return fmt.Errorf("--dataplane %s needs the afpacket link backend, not %s", mode, backend)
		}
		return nil
	}
	fp, flows, err := d.openFlowMap()
	if err != nil {
		if mode == DataplaneAuto && errors.Is(err, fastpath.ErrUnsupported) {
			d.log.Warn("eBPF fast path unavailable; forwarding every frame in the Go workers", "err", err)
			return nil
		}
		return err
	}
	d.fast = fp
	d.fastStats.Store(fp)
	c := d.flowMapConfig(flows)
	d.log.Info("eBPF fast path loaded", "flow_map_connections", flows, "flow_map6_connections", c.MaxFlows6/2,
		"flow_maps_kernel_mib", (c.MaxFlows*flowMapEntryBytes+c.MaxFlows6*flowMapEntryBytes*3/2)>>20)
	return nil
}

// openFlowMap opens the fast path with --flow-map's flow map, or the
// default one; a default the kernel refuses for want of memory (a memory
// cgroup smaller than the machine: the map is charged to lvsd's) is halved
// down to minFlowMap before lvsd gives up on the fast path.
func (d *lvsd) openFlowMap() (*fastpath.FastPath, int, error) {
	flows := d.opts.FlowMap
	if flows > 0 {
		fp, err := fastpath.Open(d.flowMapConfig(flows))
		return fp, flows, err
	}
	for flows = DefaultFlowMap(); ; flows /= 2 {
		fp, err := fastpath.Open(d.flowMapConfig(flows))
		if err == nil || !errors.Is(err, unix.ENOMEM) || flows/2 < minFlowMap {
			return fp, flows, err
		}
		d.log.Warn("eBPF flow map refused for want of memory; trying half", "connections", flows, "err", err)
	}
}

// flowMapConfig sizes both flow maps for flows connections: the IPv4 map
// holds them all, the IPv6 map an eighth of them (an IPv6 direction costs
// about 1.5 times an IPv4 one) but never fewer than fastpath's default.
// The hook is --dataplane's: tcx (falling back to tc on a kernel without
// it) unless tc or tcx is asked for.
func (d *lvsd) flowMapConfig(flows int) fastpath.Config {
	c := fastpath.Config{MaxFlows: 2 * flows, MaxFlows6: max(2*flows/8, fastpath.DefaultMaxFlows6)}
	switch d.opts.Dataplane {
	case DataplaneTCX:
		c.Hook = fastpath.HookTCX
	case DataplaneTC:
		c.Hook = fastpath.HookTC
	}
	return c
}

// minFlowMap is the smallest default flow map (connections): the map's
// size before it followed the machine's memory.
const minFlowMap = 1 << 17

// flowMapEntryBytes is about what one direction of a flow costs in the
// kernel's LRU map (key, value and the map's own element header), which
// allocates every entry when lvsd creates it.
const flowMapEntryBytes = 128

// DefaultFlowMap is the fast path's flow map size when --flow-map does
// not give one: one connection in sixteen of the connection table's
// default size (conntrack.DefaultMaxEntries, itself sized from the
// machine's memory), between 128k and 2M connections: about 1/80 of the
// memory (1.2M connections, 300 MiB, on 24 GiB; the 2M ceiling, 512 MiB,
// from 40 GiB), allocated when lvsd starts (about a second for 1M). A
// connection the map has no room for is still forwarded, by the Go
// workers, so the size trades kernel memory for speed, never correctness.
func DefaultFlowMap() int {
	return min(max(conntrack.DefaultMaxEntries()/16, minFlowMap), 1<<21)
}

// attachFastPath puts the program on every port (tcx, or the tc hook:
// fastpath.Hook) and hands the fast path to the dataplane.
func (d *lvsd) attachFastPath() error {
	if d.fast == nil {
		return nil
	}
	for _, p := range d.site.ports {
		if err := d.fast.Attach(p.Ifindex); err != nil {
			d.fast.Close()
			d.fast = nil
			if d.opts.Dataplane == DataplaneTCX || d.opts.Dataplane == DataplaneTC {
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
	if d.fast.Hook() == fastpath.HookTC {
		d.mode = modeTC
	}
	return nil
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
	a, r := d.dp.AdoptNewFlows(d.dp.Tick(now))
	d.adopted.FastInstalls.Add(uint64(a))
	d.adopted.FastErrors.Add(uint64(r))
	d.logWithdrawFailures(now)
}

// logWithdrawFailures warns, at most once a minute, when the fast path
// failed to withdraw flows since the last warning: those stay in its
// map, forwarding to the real server lvsd scheduled, until the LRU
// evicts them (lvs_fastpath_withdraw_errors_total counts them all).
func (d *lvsd) logWithdrawFailures(now time.Time) {
	n := d.fast.WithdrawFailures()
	if n == d.withdrawLogged || now.Sub(d.withdrawLoggedAt) < time.Minute {
		return
	}
	d.log.Warn("the eBPF fast path failed to withdraw flows; they stay in its map until evicted",
		"flows", n-d.withdrawLogged, "since_start", n)
	d.withdrawLogged, d.withdrawLoggedAt = n, now
}
