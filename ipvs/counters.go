package ipvs

import "sync/atomic"

// Counters is the live, mutable state of one destination (or one service):
// connection counts, traffic counters, and the few settings the packet path
// must see without loading a snapshot (weight, thresholds, availability).
// It lives in a Registry, outside every Table snapshot, so edits never reset
// it. All fields are atomics: workers update them without locks.
//
// Active and Inactive are the true counts (what ipvsadm -L shows). The
// scheduler reads the "sched" counts, which equal the true counts except after
// ResetSched: the guide's quiesce_server resets the least-connection counts of
// a service when a real server comes back (§1.3.2, §4.6.1), so connections
// bound before the reset no longer weigh on scheduling while they still count
// for ipvsadm. A connection remembers the epoch it was bound in and passes it
// back on every change.
type Counters struct {
	// Read by schedulers on every pick: kept together, on their own cache
	// line, away from the traffic counters every packet writes.
	schedActive   atomic.Int32
	schedInactive atomic.Int32
	epoch         atomic.Uint32
	weight        atomic.Int32
	flags         atomic.Uint32
	uThreshold    atomic.Uint32
	lThreshold    atomic.Uint32

	Active   atomic.Int32 // connections in an active state (ESTABLISHED and pre-established)
	Inactive atomic.Int32 // connections in any other state
	Persist  atomic.Int32 // persistence templates pointing here
	_        [24]byte     // pad to 64 bytes

	Conns    atomic.Uint64 // connections ever scheduled here
	InPkts   atomic.Uint64
	OutPkts  atomic.Uint64
	InBytes  atomic.Uint64
	OutBytes atomic.Uint64
	_        [24]byte // keep the next Counters' scheduling fields off this line
}

const (
	flagAvailable uint32 = 1 << iota // in a service of the current table (IP_VS_DEST_F_AVAILABLE)
	flagOverload                     // IP_VS_DEST_F_OVERLOAD
)

// Epoch returns the scheduling epoch a new connection should remember.
func (c *Counters) Epoch() uint32 { return c.epoch.Load() }

// Weight returns the destination's current weight (0 when quiesced).
func (c *Counters) Weight() int32 { return c.weight.Load() }

// Available reports whether the destination is still part of its service in
// the current table (the kernel's IP_VS_DEST_F_AVAILABLE).
func (c *Counters) Available() bool { return c.flags.Load()&flagAvailable != 0 }

// Overloaded reports whether the upper connection threshold was reached and
// the lower one not yet passed again (IP_VS_DEST_F_OVERLOAD).
func (c *Counters) Overloaded() bool { return c.flags.Load()&flagOverload != 0 }

// SchedOverhead returns the kernel's ip_vs_dest_conn_overhead,
// activeconns<<8 + inactconns, from the scheduling counts.
func (c *Counters) SchedOverhead() int64 {
	return int64(c.schedActive.Load())<<8 + int64(c.schedInactive.Load())
}

// SchedActive returns the active count the scheduler sees (sed, nq, ovf, lblc).
func (c *Counters) SchedActive() int32 { return c.schedActive.Load() }

// SchedInactive returns the inactive count the scheduler sees.
func (c *Counters) SchedInactive() int32 { return c.schedInactive.Load() }

// Bind counts a new connection bound to this destination in the given
// activity state, as ip_vs_bind_dest, and sets the overload flag when the
// upper threshold is reached. epoch is the value of Epoch the connection
// remembered when it was created.
func (c *Counters) Bind(active bool, epoch uint32) {
	c.Conns.Add(1)
	c.add(active, 1, epoch)
	if u := c.uThreshold.Load(); u != 0 && c.total() >= int64(u) {
		c.setFlag(flagOverload, true)
	}
}

// Unbind uncounts a connection, as ip_vs_unbind_dest, and clears the overload
// flag by the kernel's rule: below the lower threshold, or, without one, below
// three quarters of the upper threshold.
func (c *Counters) Unbind(active bool, epoch uint32) {
	c.add(active, -1, epoch)
	total := c.total()
	switch l, u := c.lThreshold.Load(), c.uThreshold.Load(); {
	case l != 0:
		if total < int64(l) {
			c.setFlag(flagOverload, false)
		}
	case u != 0:
		if total*4 < int64(u)*3 {
			c.setFlag(flagOverload, false)
		}
	default:
		c.setFlag(flagOverload, false)
	}
}

// Move moves one connection between the active and inactive counts after a
// state change.
func (c *Counters) Move(toActive bool, epoch uint32) {
	c.add(!toActive, -1, epoch)
	c.add(toActive, 1, epoch)
}

// ResetSched starts a new scheduling epoch: connections bound before it stop
// counting for the scheduler (they still count in Active and Inactive).
func (c *Counters) ResetSched() {
	c.epoch.Add(1)
	c.schedActive.Store(0)
	c.schedInactive.Store(0)
}

func (c *Counters) add(active bool, n int32, epoch uint32) {
	same := epoch == c.epoch.Load()
	if active {
		c.Active.Add(n)
		if same {
			c.schedActive.Add(n)
		}
		return
	}
	c.Inactive.Add(n)
	if same {
		c.schedInactive.Add(n)
	}
}

func (c *Counters) total() int64 { return int64(c.Active.Load()) + int64(c.Inactive.Load()) }

func (c *Counters) setFlag(f uint32, on bool) {
	for {
		old := c.flags.Load()
		nw := old &^ f
		if on {
			nw = old | f
		}
		if old == nw || c.flags.CompareAndSwap(old, nw) {
			return
		}
	}
}

// setConfig publishes the settings of a destination in a new snapshot.
func (c *Counters) setConfig(weight int32, u, l uint32, available bool) {
	c.weight.Store(weight)
	c.uThreshold.Store(u)
	c.lThreshold.Store(l)
	c.setFlag(flagAvailable, available)
	if u == 0 {
		c.setFlag(flagOverload, false)
	}
}

// ZeroStats clears the traffic counters (ipvsadm -Z); connection counts,
// which describe live connections, stay.
func (c *Counters) ZeroStats() {
	c.Conns.Store(0)
	c.InPkts.Store(0)
	c.OutPkts.Store(0)
	c.InBytes.Store(0)
	c.OutBytes.Store(0)
}
