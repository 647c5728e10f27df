package daemon

import (
	"context"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"lvs/ha"
	"lvs/health"
	"lvs/internal/sdnotify"
)

// The management goroutine (control): the single writer of lvsd's state.
// It does the periodic work (housekeep) and runs, one at a time, reloads,
// role actions, API requests, synced connections and health events.

// Announcements is how many gratuitous ARPs lvsd sends for each address it
// takes, one a second, as Piranha's send_arp runs did.
const Announcements = 5

// control is the management goroutine: announcements, neighbour
// resolution, connection expiry and reloads.
func (d *lvsd) control(ctx context.Context) error {
	hup, usr1, usr2 := make(chan os.Signal, 1), make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(usr1, syscall.SIGUSR1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(hup)
	defer signal.Stop(usr1)
	defer signal.Stop(usr2)
	// Ready once the workers run and this loop answers: an active router
	// owns its addresses from here on, a pair's roles settle in the next
	// heartbeats.
	d.notify(sdnotify.Ready)
	defer d.notify(sdnotify.Stopping)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	st := &mgmtState{announced: garpCount(d.cfg), nextGARP: time.Now(), lastFold: time.Now(), buf: make([]byte, 128)}
	for {
		d.housekeep(time.Now(), st)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hup:
			d.notify(sdnotify.Reloading)
			d.recovered(func() { d.reload() }) // a bug in one reload must not stop the router
			d.notify(sdnotify.Ready)
		case <-usr1:
			d.dumpState()
		case <-usr2:
			d.dumpStats()
		case b := <-d.haActions():
			d.recovered(func() { d.execute(ctx, b.Actions, st.buf) })
			b.Done()
			d.roleLine()
		case f := <-d.reqs:
			f()
		case b := <-d.sync.batches():
			t := d.dp.Tick(time.Now())
			for _, r := range b.Records {
				// A record for a service or server this router does not
				// have (configs out of step) is skipped.
				_ = d.ct.Import(r, d.table, t)
			}
			d.sync.imported(time.Now())
		case b := <-d.mesh.batches():
			d.importMesh(b)
		case ev, ok := <-d.health.Events():
			d.recovered(func() { d.healthEvents(ev, ok) })
		case <-d.site.wake: // a neighbour to probe, or a MAC that held frames wait for
		case <-tick.C:
		}
	}
}

// mgmtState is what the management loop carries from one turn to the next.
type mgmtState struct {
	announced int          // gratuitous ARP rounds sent (Announcements in all)
	nextGARP  time.Time    // when the next round is due
	lastFold  time.Time    // when the fast path's counters were last folded into the table
	due       []netip.Addr // the neighbours to probe (reused)
	buf       []byte       // an ARP frame, or a neighbour solicitation or advertisement (frame.NDFrameLen)
}

// housekeep is the management loop's periodic work, done at every turn
// (at least 5 a second): announcements, neighbour probes, held frames,
// link and ECMP checks, connection expiry, the fast path's flows and
// counters, connection sync.
func (d *lvsd) housekeep(now time.Time, st *mgmtState) {
	if d.ha == nil && st.announced < Announcements && !now.Before(st.nextGARP) {
		d.announce(st.buf)
		st.announced++
		st.nextGARP = now.Add(time.Second)
		if st.announced == Announcements {
			d.log.Info("gratuitous lvs arps finished")
		}
	}
	for _, p := range d.site.ports {
		st.due = p.Neigh.Due(st.due[:0], now)
		for _, ip := range st.due {
			if n := putProbe(st.buf, p, ip, d.ownedOn(p.Index, ip)); n > 0 { // ARP or NS (neighbours6.go)
				d.ctl[p.Index].WriteBatch([][]byte{st.buf[:n]})
			}
		}
	}
	d.dp.SendHeld(now, d.ctl) // frames that waited for a neighbour's MAC
	d.checkLinks(now)
	d.tickECMP(now)
	// A budget that goes round the whole table about once a second at
	// the loop's 5 turns a second (conntrack.Table.Expire): a fixed
	// one left a flood's millions of entries minutes past their
	// timeouts.
	d.ct.Expire(d.dp.Tick(now), d.ct.Len()/5+4096)
	d.followMoves()
	d.syncNewFlows(now)
	d.growFlowMaps()
	d.dp.NAT.Tidy(d.dp.Tick(now)) // expired masqueraded and FTP data flows leave their server's counts
	if now.Sub(st.lastFold) >= time.Second {
		d.dp.FastCounters(d.table) // what the fast path forwarded, into the ipvs counters
		st.lastFold = now
	}
	if d.sync != nil {
		d.sync.tick(now, d.ct, d.dp.Tick(now), d.ha != nil && d.ha.Status().Peer.Alive)
	}
}

// healthEvents applies a health event and every other one already
// waiting (a thousand real servers come up within one check interval at
// start), then rebuilds the table once.
func (d *lvsd) healthEvents(ev health.Event, ok bool) {
	changed := false
	for ok {
		if d.hv.apply(ev) {
			d.eventLine(ev)
			changed = true
		}
		select {
		case ev, ok = <-d.health.Events():
		default:
			ok = false
		}
	}
	if changed {
		d.rebuild()
	}
}

// haActions is the role machine's action stream, or nil (never ready)
// for a router without a backup.
func (d *lvsd) haActions() <-chan ha.Batch {
	if d.ha == nil {
		return nil
	}
	return d.ha.Actions()
}

// ownedOn returns an owned address on port i of target's family (the
// source of ARP probes and neighbour solicitations when the port has no
// address of its own).
func (d *lvsd) ownedOn(i int, target netip.Addr) netip.Addr {
	for a, p := range d.site.owned {
		if p == i && a.Is4() == target.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// announce sends one gratuitous ARP for every owned IPv4 address on its
// port, and one unsolicited neighbour advertisement for every IPv6 one.
func (d *lvsd) announce(buf []byte) {
	for a, i := range d.site.owned {
		n := putAnnouncement(buf, d.site.ports[i], a) // neighbours6.go
		if _, err := d.ctl[i].WriteBatch([][]byte{buf[:n]}); err != nil {
			d.log.Warn("sending gratuitous ARP", "addr", a, "interface", d.site.ports[i].Name, "err", err)
		}
	}
}
