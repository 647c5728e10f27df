package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/bgp"
	"lvs/config"
	"lvs/ha"
	"lvs/ipvs"
)

// announcer is lvsd's side of BGP (lvs.cf's bgp block): the decision of
// package bgp, fed from the management goroutine with what lvsd knows, and
// the speaker that carries it out. In the ECMP mode every director runs one
// and owns the VIPs; in a pair the active router announces.
type announcer struct {
	dec      *bgp.Decider
	sp       *bgp.Speaker
	draining bool // lvsadm drained this director (management goroutine)
	shutting bool // SIGTERM: withdraw, drain, stop (management goroutine)
	stopped  bool // the speaker was stopped

	mu     sync.Mutex // guards status, drained (read by API goroutines)
	status []bgp.VIPStatus
}

// startRoles is startHA unless lvs.cf asks for the ECMP mode, where every
// director is active and there are no heartbeat roles.
func startRoles(c *config.Config, all []netip.Prefix, log *slog.Logger) (*ha.Runner, error) {
	if c.Redundancy == config.RedundancyECMP {
		log.Info("redundancy = ecmp: every director is active; no heartbeat roles")
		return nil, nil
	}
	return startHA(c, all, log)
}

// pairOnly is c for the pair's connection and config sync: in the ECMP
// mode backup_active is ignored (lvs.cf(5)), so neither runs (the sync mesh
// takes the connections' part, and its ports would collide with the pair's).
func pairOnly(c *config.Config) *config.Config {
	if c.Redundancy != config.RedundancyECMP || !c.BackupActive {
		return c
	}
	cp := *c
	cp.BackupActive = false
	return &cp
}

// garpCount is where the control loop's count of gratuitous ARPs starts: in
// the ECMP mode none are sent (the router reaches each director through
// its BGP next hop, and every director has the VIPs: no ARP war).
func garpCount(c *config.Config) int {
	if c.Redundancy == config.RedundancyECMP {
		return Announcements
	}
	return 0
}

// ownAddr is this director's own address among lvs.cf's director
// addresses (directors, primary, backup): the default router id.
func ownAddr(c *config.Config, all []netip.Prefix) (netip.Addr, bool) {
	cands := slices.Concat(c.ECMPDirectors(), []netip.Addr{c.Primary, c.Backup})
	for _, a := range cands {
		for _, p := range all {
			if a.IsValid() && p.Addr() == a {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// startBGP starts the speaker of lvs.cf's bgp block, or returns nil
// without one. Session changes go to the log and the event stream.
func startBGP(c *config.Config, all []netip.Prefix, log *slog.Logger, events *api.EventLog) (*announcer, error) {
	b := c.BGP
	if b == nil {
		return nil, nil
	}
	id := b.RouterID
	if !id.IsValid() {
		var ok bool
		if id, ok = ownAddr(c, all); !ok {
			return nil, fmt.Errorf("bgp: router_id is not set and none of primary, backup and directors is an address of this host")
		}
	}
	cfg := bgp.Config{LocalAS: b.LocalAS, RouterID: id, Peers: peersOf(b)}
	sp, err := bgp.NewSpeaker(cfg, log, func(s bgp.Session) {
		events.Publish(fmt.Sprintf("BGP peer %s (%v) %s", s.Name, s.Address, s.State))
	})
	if err != nil {
		return nil, err
	}
	log.Info("bgp speaker running", "local_as", b.LocalAS, "router_id", id, "peers", len(b.Peers), "drain_time", b.DrainTime)
	return &announcer{dec: bgp.NewDecider(b.DrainTime), sp: sp}, nil
}

// canServe tells, for every VIP of an active virtual server, whether its
// services can serve: each has a destination with a weight above 0 in the
// table (a real server up, or the sorry server the health checks put in).
// A VIP carrying several services is announced only while all of them can
// serve, so that a director that lost one service's servers hands the
// whole VIP to the directors that have them.
func canServe(c *config.Config, t *ipvs.Table) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	for _, v := range c.ActiveVirtuals() {
		if !v.Address.IsValid() {
			continue
		}
		ok := false
		if s := t.Service(serviceSpec(v).Key); s != nil {
			for _, d := range s.Dests {
				ok = ok || d.Weight > 0
			}
		}
		if prev, seen := out[v.Address]; seen {
			ok = ok && prev
		}
		out[v.Address] = ok
	}
	return out
}

// route is the host route of vip with the attributes of its virtual
// servers (communities of all of them, the first MED set).
func route(c *config.Config, vip netip.Addr) bgp.Route {
	r := bgp.Route{VIP: vip}
	for _, v := range c.ActiveVirtuals() {
		if v.Address != vip {
			continue
		}
		for _, cm := range v.BGPCommunities {
			if !slices.Contains(r.Communities, uint32(cm)) {
				r.Communities = append(r.Communities, uint32(cm))
			}
		}
		if r.MED == 0 {
			r.MED = v.BGPMED
		}
	}
	return r
}

// stepBGP feeds the decision with what lvsd knows now and carries out
// what it asks: announcements, withdrawals, and the speaker's stop after
// the drain. It runs on the management goroutine.
func (d *lvsd) stepBGP(now time.Time) {
	a := d.bgp
	if a == nil || a.stopped {
		return
	}
	st := a.dec.Step(now, bgp.Input{CanServe: canServe(d.cfg, d.table), Forwarding: d.active,
		Draining: a.draining, ShuttingDown: a.shutting})
	for _, ch := range st.Changes {
		verb, err := "announce", error(nil)
		if ch.Announce {
			err = a.sp.Announce(route(d.cfg, ch.VIP))
		} else {
			verb, err = "withdraw", a.sp.Withdraw(ch.VIP)
			if ch.Reason == bgp.ReasonRemoved {
				a.sp.Forget(ch.VIP)
			}
		}
		if err != nil {
			d.log.Error("bgp "+verb, "vip", ch.VIP, "err", err)
			continue
		}
		d.log.Info("bgp "+verb, "vip", ch.VIP, "reason", ch.Reason.String())
		d.events.Publish(fmt.Sprintf("BGP %s %v (%s)", verb, ch.VIP, ch.Reason))
	}
	if st.Stop {
		a.sp.Stop()
		a.stopped = true
		d.log.Info("bgp speaker stopped")
	}
	status := a.dec.Status()
	a.mu.Lock()
	a.status = status
	a.mu.Unlock()
}

// withDrain returns the context lvsd runs under and the function that ends
// it. With a BGP speaker, the end of ctx (SIGTERM) does not stop lvsd at
// once: the VIPs are withdrawn first, lvsd keeps forwarding for drain_time
// while the routers move the flows to the other directors, then the
// speaker closes its sessions and lvsd stops. Without one, it is ctx.
func (d *lvsd) withDrain(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.bgp == nil {
		return context.WithCancel(ctx)
	}
	inner, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		select {
		case <-inner.Done():
			return
		case <-ctx.Done():
		}
		var stopAt time.Time
		if err := d.do(inner, func() {
			d.bgp.shutting = true
			d.stepBGP(time.Now())
			stopAt, _ = d.bgp.dec.StopAt()
		}); err != nil {
			return
		}
		if wait := time.Until(stopAt); wait > 0 {
			d.log.Info("VIPs withdrawn; forwarding for the drain time before stopping", "drain", wait.Round(time.Millisecond))
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-inner.Done():
				t.Stop()
			}
		}
		_ = d.do(inner, func() { d.stepBGP(time.Now()) })
	}()
	return inner, func() {
		cancel()
		<-done
		d.bgp.sp.Stop()
	}
}

// Drain withdraws every VIP of this director (on) while lvsd keeps
// running, or announces them again (off): lvsadm's drain of a director.
func (d *lvsd) Drain(ctx context.Context, on bool) error {
	if d.bgp == nil {
		return fmt.Errorf("drain: lvs.cf has no bgp block: nothing announces this director's VIPs")
	}
	return d.do(ctx, func() {
		d.bgp.draining = on
		d.stepBGP(time.Now())
		d.log.Info("bgp drain", "on", on)
	})
}

// BGPStatus returns the sessions and the announced and withdrawn VIPs with
// their reasons, for lvsadm -L --daemon; nil without a bgp block.
func (d *lvsd) BGPStatus() *admin.BGPStatus {
	a := d.bgp
	if a == nil {
		return nil
	}
	st := &admin.BGPStatus{}
	st.LocalAS, st.RouterID = a.sp.Global()
	for _, s := range a.sp.Sessions() {
		st.Peers = append(st.Peers, admin.BGPPeerStatus{Name: s.Name, Address: s.Address, State: s.State, Up: s.Up, Since: s.Since, Reason: s.Reason})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range a.status {
		st.VIPs = append(st.VIPs, admin.BGPVIPStatus{VIP: v.VIP, Announced: v.Announced, Reason: v.Reason.String(), Since: v.Since})
		st.Draining = st.Draining || v.Reason == bgp.ReasonDrained
	}
	return st
}

// startECMP starts the BGP speaker and the connection sync mesh that
// lvs.cf asks for.
func (d *lvsd) startECMP(c *config.Config, all []netip.Prefix) error {
	var err error
	if d.bgp, err = startBGP(c, all, d.log, d.events); err != nil {
		return err
	}
	if d.mesh, err = startMesh(c, all, d.log); err != nil {
		if d.bgp != nil {
			d.bgp.sp.Stop()
		}
		return err
	}
	if d.mesh != nil {
		d.ct.LogChanges(true) // every director sends its changes
	}
	return nil
}

// tickECMP is the control loop's turn for the ECMP mode: the BGP decision
// and the changes to send to the other directors.
func (d *lvsd) tickECMP(now time.Time) {
	d.stepBGP(now)
	d.mesh.tick(d.ct, d.dp.Tick(now))
}

// registerBGP adds the speaker's metrics to the daemon's registry.
func (d *lvsd) registerBGP() {
	if d.bgp != nil {
		d.metrics.MustRegister(d.bgp.sp.Collector())
	}
}

// peersOf is the speaker's form of the bgp block's peers.
func peersOf(b *config.BGP) []bgp.Peer {
	var out []bgp.Peer
	for _, p := range b.Peers {
		out = append(out, bgp.Peer{Name: p.Name, Address: p.Address, RemoteAS: p.RemoteAS,
			HoldTime: p.HoldTime, Password: p.Password, Multihop: p.Multihop})
	}
	return out
}

// reloadBGP applies a reloaded lvs.cf (cfg; old was running) to the BGP
// speaker while it runs: peers added, removed or changed take effect at
// once (bgp.Speaker.SetPeers; the other sessions stay up), and so do
// drain_time and the announced VIPs' communities and MED (announced again
// with the new attributes). What the speaker cannot change live — a bgp
// block added or removed, local_as or router_id, and redundancy — is
// logged to take effect when lvsd restarts. It runs on the management goroutine.
func (d *lvsd) reloadBGP(old, cfg *config.Config) {
	if old.Redundancy != cfg.Redundancy {
		d.log.Warn("redundancy changed: that takes effect when lvsd restarts")
	}
	a := d.bgp
	switch {
	case old.BGP == nil && cfg.BGP == nil:
		return
	case a == nil || a.stopped || cfg.BGP == nil:
		d.log.Warn("the bgp block was added or removed: that takes effect when lvsd restarts")
		return
	}
	if old.BGP.LocalAS != cfg.BGP.LocalAS || old.BGP.RouterID != cfg.BGP.RouterID {
		d.log.Warn("bgp local_as or router_id changed: that takes effect when lvsd restarts")
	}
	ch, err := a.sp.SetPeers(peersOf(cfg.BGP))
	if err != nil {
		d.log.Error("bgp peers", "err", err)
	}
	if !ch.Empty() {
		d.log.Info("bgp peers changed", "added", ch.Added, "removed", ch.Removed, "reset", ch.Reset, "renamed", ch.Renamed)
		d.events.Publish(fmt.Sprintf("BGP peers changed by reload: added %v, removed %v, reset %v, renamed %v", ch.Added, ch.Removed, ch.Reset, ch.Renamed))
	}
	a.dec.SetDrain(cfg.BGP.DrainTime)
	for _, vip := range a.sp.Announced() {
		if r := route(cfg, vip); !sameRoute(r, route(old, vip)) {
			if err := a.sp.Announce(r); err != nil {
				d.log.Error("bgp announce", "vip", vip, "err", err)
				continue
			}
			d.log.Info("bgp announce", "vip", vip, "reason", "attributes changed by reload")
		}
	}
}

// sameRoute reports whether a and b carry the same attributes.
func sameRoute(a, b bgp.Route) bool {
	return a.VIP == b.VIP && a.MED == b.MED && slices.Equal(a.Communities, b.Communities)
}
