package bgp

import (
	"net/netip"
	"slices"
	"time"
)

// Reason says why a VIP is announced or withdrawn.
type Reason uint8

const (
	// ReasonServing: announced, the virtual service can serve.
	ReasonServing Reason = iota
	// ReasonNoServer: withdrawn, no real server is up and there is no sorry server.
	ReasonNoServer
	// ReasonNotForwarding: withdrawn, lvsd does not forward (starting, or
	// the standby of a pair).
	ReasonNotForwarding
	// ReasonDrained: withdrawn, the director was drained (lvsadm).
	ReasonDrained
	// ReasonShutdown: withdrawn, lvsd is stopping.
	ReasonShutdown
	// ReasonRemoved: withdrawn, the VIP is no longer in lvs.cf.
	ReasonRemoved
)

var reasonNames = [...]string{"serving", "no real server up", "not forwarding", "drained", "shutting down", "removed"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Input is what the daemon knows at one moment.
type Input struct {
	// CanServe holds every VIP lvsd serves: true when its virtual services
	// can serve (at least one real server up, or a sorry server).
	CanServe     map[netip.Addr]bool
	Forwarding   bool // lvsd forwards: the dataplane runs and, in a pair, this router is active
	Draining     bool // the director is drained (lvsadm): withdraw everything, keep running
	ShuttingDown bool // lvsd is stopping (SIGTERM): withdraw, wait the drain time, stop
}

// Change is one announcement or withdrawal the speaker must carry out.
type Change struct {
	VIP      netip.Addr
	Announce bool // false: withdraw
	Reason   Reason
}

// Step is what one call of Decider.Step asks for.
type Step struct {
	Changes []Change // in VIP order
	// Stop is true once, when the drain time after the shutdown's
	// withdrawal has passed (at once when nothing was announced): stop the
	// speaker, then lvsd may exit.
	Stop bool
}

// VIPStatus is the decision for one VIP, for lvsadm, the web tool and the
// event stream.
type VIPStatus struct {
	VIP       netip.Addr
	Announced bool
	Reason    Reason
	Since     time.Time // when Announced last changed
}

// Decider is the announce/withdraw decision of one director: a step
// function of Input and time with no I/O. It is not safe for concurrent
// use; the daemon calls it from its management goroutine.
type Decider struct {
	drain   time.Duration
	vips    map[netip.Addr]*VIPStatus
	stopAt  time.Time // set when shutting down
	stopped bool
}

// NewDecider returns a decider that waits drain between withdrawing on
// shutdown and stopping.
func NewDecider(drain time.Duration) *Decider {
	return &Decider{drain: drain, vips: map[netip.Addr]*VIPStatus{}}
}

// want is the decision for one VIP.
func want(in Input, canServe bool) (bool, Reason) {
	switch {
	case in.ShuttingDown:
		return false, ReasonShutdown
	case in.Draining:
		return false, ReasonDrained
	case !in.Forwarding:
		return false, ReasonNotForwarding
	case !canServe:
		return false, ReasonNoServer
	}
	return true, ReasonServing
}

// Step advances the decision to now with input in. It withdraws a VIP at
// once when it cannot serve, and announces it as soon as it can again.
func (d *Decider) Step(now time.Time, in Input) Step {
	var st Step
	if d.stopped {
		return st
	}
	for vip, can := range in.CanServe {
		ann, why := want(in, can)
		s, ok := d.vips[vip]
		if !ok {
			s = &VIPStatus{VIP: vip, Reason: why, Since: now}
			d.vips[vip] = s
		}
		if s.Announced != ann {
			s.Announced, s.Since = ann, now
			st.Changes = append(st.Changes, Change{VIP: vip, Announce: ann, Reason: why})
		}
		s.Reason = why
	}
	for vip, s := range d.vips {
		if _, ok := in.CanServe[vip]; ok {
			continue
		}
		if s.Announced {
			st.Changes = append(st.Changes, Change{VIP: vip, Reason: ReasonRemoved})
		}
		delete(d.vips, vip)
	}
	slices.SortFunc(st.Changes, func(a, b Change) int { return a.VIP.Compare(b.VIP) })
	if in.ShuttingDown {
		if d.stopAt.IsZero() {
			d.stopAt = now
			if len(st.Changes) > 0 {
				d.stopAt = now.Add(d.drain)
			}
		}
		if !now.Before(d.stopAt) {
			d.stopped, st.Stop = true, true
		}
	}
	return st
}

// SetDrain changes the drain time of a shutdown that has not started.
func (d *Decider) SetDrain(drain time.Duration) { d.drain = drain }

// StopAt returns when Step will say Stop, once shutting down.
func (d *Decider) StopAt() (time.Time, bool) {
	return d.stopAt, !d.stopAt.IsZero() && !d.stopped
}

// Status returns the decision for every VIP, in VIP order.
func (d *Decider) Status() []VIPStatus {
	out := make([]VIPStatus, 0, len(d.vips))
	for _, s := range d.vips {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b VIPStatus) int { return a.VIP.Compare(b.VIP) })
	return out
}
