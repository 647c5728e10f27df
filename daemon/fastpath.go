package daemon

import (
	"errors"
	"fmt"
	"runtime/debug"
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
	fp, err := d.openFlowMaps()
	if err != nil {
		if mode == DataplaneAuto && errors.Is(err, fastpath.ErrUnsupported) {
			d.log.Warn("eBPF fast path unavailable; forwarding every frame in the Go workers", "err", err)
			return nil
		}
		return err
	}
	d.fast = fp
	d.fastStats.Store(fp)
	return nil
}

// openFlowMaps opens the fast path with flow maps of --flow-map-start's
// connections, or startFlowMap's (fewer if --flow-map says so), and
// reserves the maps growFlowMaps grows them to: --flow-map's, or
// DefaultFlowMap's; a reservation the kernel refuses for want of memory
// (a memory cgroup smaller than the machine: the maps are charged to
// lvsd's) is halved until it is taken or no bigger than the start.
func (d *lvsd) openFlowMaps() (*fastpath.FastPath, error) {
	flows := d.opts.FlowMap
	if flows == 0 {
		flows = DefaultFlowMap()
	}
	start := startFlowMap
	if d.opts.FlowMapStart > 0 {
		start = d.opts.FlowMapStart
	}
	start = min(start, flows)
	c := flowMapConfig(start, d.opts.Dataplane)
	fp, err := fastpath.Open(c)
	if err != nil {
		return nil, err
	}
	for ; flows > start; flows /= 2 {
		err := fp.Reserve(2*flows, max(2*flows/8, c.MaxFlows6))
		if err == nil {
			break
		}
		if !errors.Is(err, unix.ENOMEM) {
			fp.Close()
			return nil, err
		}
		d.log.Warn("the kernel refused the eBPF flow maps for want of memory; trying half", "connections", flows, "err", err)
	}
	flows = max(flows, start)
	d.flowCeil.Store(int64(2 * flows))
	d.flowCeil6.Store(int64(max(2*flows/8, c.MaxFlows6)))
	d.log.Info("eBPF fast path loaded", "flow_map_connections", start, "flow_map6_connections", c.MaxFlows6/2,
		"grows_to_connections", flows, "flow_maps_kernel_mib", flowMapMiB(c.MaxFlows+2*flows, c.MaxFlows6+max(2*flows/8, c.MaxFlows6)))
	return fp, nil
}

// flowMapConfig sizes the flow maps for flows connections: the IPv4 map
// holds them all; the IPv6 map starts at fastpath's default and grows on
// its own. The hook is --dataplane's: tcx (falling back to tc on a
// kernel without it) unless tc or tcx is asked for.
func flowMapConfig(flows int, mode string) fastpath.Config {
	c := fastpath.Config{MaxFlows: 2 * flows, MaxFlows6: fastpath.DefaultMaxFlows6}
	switch mode {
	case DataplaneTCX:
		c.Hook = fastpath.HookTCX
	case DataplaneTC:
		c.Hook = fastpath.HookTC
	}
	return c
}

// flowMapMiB is about what flow maps of n and n6 entries cost the kernel.
func flowMapMiB(n, n6 int) int {
	return (n*flowMapEntryBytes + n6*flowMapEntryBytes*3/2) >> 20
}

// startFlowMap is the flow map's size (connections) when lvsd starts,
// about the kernel's own conntrack table (nf_conntrack_max is 262,144 on
// a machine of 8 GiB or more, in 2 MiB of buckets): the map grows from
// there (growFlowMaps), since a bigger one costs every frame's lookup.
const startFlowMap = 1 << 17

// flowMapEntryBytes is about what one direction of a flow costs in the
// kernel's LRU map (key, value and the map's own element header), which
// allocates every entry when lvsd creates it.
const flowMapEntryBytes = 128

// DefaultFlowMap is how many connections the fast path's flow map grows
// to when --flow-map does not say: one in sixteen of the connection
// table's default size (conntrack.DefaultMaxEntries, itself sized from the
// machine's memory), between 128k and 2M connections: about 1/80 of the
// memory (1.2M connections, 300 MiB, on 24 GiB; the 2M ceiling, 512 MiB,
// from 40 GiB), reserved when lvsd starts (about a second for 1M). A
// connection the map has no room for is still forwarded,
// by the Go workers, so the size trades kernel memory for speed, never
// correctness.
func DefaultFlowMap() int {
	return min(max(conntrack.DefaultMaxEntries()/16, startFlowMap), 1<<21)
}

// growFlowMaps grows a flow map to its ceiling, in the background, once
// the connection table could fill an eighth of it (a NAT connection
// takes two entries): the ceiling's map was reserved when lvsd started
// (openFlowMaps), so growing costs a copy of the flows, a few
// milliseconds for the tens of thousands there are then, and the fast
// path goes on forwarding meanwhile (fastpath.Resize). A flood of new
// flows therefore finds the big map long before the small one fills. The
// IPv6 map counts the IPv6 flows offloaded; either family's growth grows
// both.
func (d *lvsd) growFlowMaps() {
	if d.fast == nil || d.resizing.Load() {
		return
	}
	c4, c6 := d.fast.Capacity()
	n4 := nextFlowMap(d.ct.Len(), c4, int(d.flowCeil.Load()))
	n6 := nextFlowMap(d.dp.Offloaded6(), c6, int(d.flowCeil6.Load()))
	if n4 == 0 && n6 == 0 {
		return
	}
	// Both families at once: their reserved maps and the program using
	// both were made together (fastpath.Reserve).
	n4 = max(n4, int(d.flowCeil.Load()))
	n6 = max(n6, int(d.flowCeil6.Load()))
	d.resizing.Store(true)
	go func() {
		defer d.resizing.Store(false)
		d.resizeFlowMaps(d.fast, c4, c6, n4, n6)
	}()
}

// resizeFlowMaps grows fp's flow maps of c4 and c6 entries to n4 and n6
// (0: kept), and logs what happened. A map the kernel refuses for want
// of memory (one not reserved, a memory cgroup smaller than the machine:
// the map is charged to lvsd's) lowers its ceiling to half of it.
func (d *lvsd) resizeFlowMaps(fp *fastpath.FastPath, c4, c6, n4, n6 int) {
	start := time.Now()
	err := fp.Resize(n4, n6)
	switch {
	case errors.Is(err, unix.ENOMEM):
		if n4 > 0 {
			d.flowCeil.Store(int64(max(n4/2, c4)))
		}
		if n6 > 0 {
			d.flowCeil6.Store(int64(max(n6/2, c6)))
		}
		d.log.Warn("the kernel refused a bigger eBPF flow map for want of memory; its ceiling is halved",
			"entries", n4, "entries6", n6, "err", err)
	case err != nil:
		d.log.Error("growing the eBPF flow maps", "entries", n4, "entries6", n6, "err", err)
	default:
		// The copy's bookkeeping (24 bytes an entry) goes back to the
		// system now rather than staying in lvsd's resident memory.
		debug.FreeOSMemory()
		d.flowResizes.Add(1)
		m4, m6 := fp.Capacity()
		d.log.Info("eBPF flow maps grown", "entries", m4, "entries6", m6, "was", c4, "was6", c6,
			"flow_maps_kernel_mib", flowMapMiB(m4, m6), "took", time.Since(start).Round(time.Millisecond))
	}
}

// nextFlowMap is the size to grow a flow map of size entries holding up to
// 2·flows of them to, 0 to keep it: its ceiling, once the flows could
// fill an eighth of it.
func nextFlowMap(flows, size, ceiling int) int {
	if size >= ceiling || 2*flows <= size/8 {
		return 0
	}
	return ceiling
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
