package daemon

import (
	"context"
	"net"
	"sort"
	"strings"
	"time"

	"lvs/ha"
)

// linkWatch is pulse's monitor_links: lvsd polls the link state of every
// interface it serves, and a link that goes down (administratively or
// losing its carrier) is a local failure for the role machine, which hands
// the active role over when lvs.cf sets monitor_links = 1 (and only logs
// otherwise). The failure clears when every link is up again.
//
// It also tells the role machine whether the health checks owe a verdict
// (ha.ChecksPending), so a returning primary fails back only once they
// have one: from lvsd's start until every real server was checked, and
// when every link is up again, after a Recheck (the failures seen while
// cut off count for nothing and each real server is checked at once),
// until every real server was checked since.
type linkWatch struct {
	down map[string]bool
	next time.Time
	// checking: ChecksPending{true} was told, for the checks since
	// checkSince (zero: since the start).
	checking   bool
	checkSince time.Time
}

// linkPoll is how often links are polled: a failover starts within this
// of the link going down.
const linkPoll = 200 * time.Millisecond

// checkLinks polls the links when due and reports changes (management
// goroutine).
func (d *lvsd) checkLinks(now time.Time) {
	w := &d.linkw
	if d.ha == nil {
		return
	}
	if w.checking && d.health.Settled(w.checkSince) {
		w.checking = false
		d.tellHA(ha.ChecksPending{Pending: false})
	}
	if now.Before(w.next) {
		return
	}
	w.next = now.Add(linkPoll)
	if w.down == nil {
		w.down = map[string]bool{}
		w.checking = true
		d.tellHA(ha.ChecksPending{Pending: true})
	}
	changed := false
	for _, p := range d.site.ports {
		ifi, err := net.InterfaceByName(p.Name)
		down := err != nil || ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagRunning == 0
		if down != w.down[p.Name] {
			changed = true
			if down {
				w.down[p.Name] = true
				d.log.Warn("link down", "interface", p.Name)
			} else {
				delete(w.down, p.Name)
				d.log.Info("link up", "interface", p.Name)
			}
		}
	}
	if !changed {
		return
	}
	if len(w.down) == 0 {
		w.checking, w.checkSince = true, d.health.Recheck()
		d.tellHA(ha.ChecksPending{Pending: true}) // before the recovery: no failback in between
		d.tellHA(ha.LocalRecovery{Fault: ha.FaultLink})
		return
	}
	var names []string
	for n := range w.down {
		names = append(names, n)
	}
	sort.Strings(names)
	d.tellHA(ha.LocalFailure{Fault: ha.FaultLink, Detail: strings.Join(names, ", ") + " link down"})
}

// tellHA queues an event for the role machine (management goroutine; a
// router alone has none). The queue only fills if the machine is stuck,
// and then our heartbeats have stopped and the partner takes over anyway.
func (d *lvsd) tellHA(ev ha.Event) {
	if d.ha == nil {
		return
	}
	select {
	case d.haEv <- ev:
	default:
		d.log.Error("role machine not taking events; dropped one", "event", ev)
	}
}

// forwardHA hands queued events to the role machine, in order. It runs on
// its own goroutine because Runner.Send waits for the machine, which may
// itself be waiting for the management goroutine to take a batch.
func (d *lvsd) forwardHA(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-d.haEv:
			if d.ha.Send(ctx, ev) != nil {
				return nil
			}
		}
	}
}
