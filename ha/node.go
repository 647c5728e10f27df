package ha

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"
)

// Node is the role machine of one router (pulse's main loop as a step
// function). It performs no I/O and reads no clock: Step takes the time and
// returns Actions for the caller to execute in order. A Node is not safe for
// concurrent use; the runner owns it.
//
// Rules, after pulse.c ("If both are running, backup stops and master
// rearps. If neither is running, master starts. Otherwise, keep the status
// quo."), with the differences marked:
//   - The peer is alive while a valid heartbeat arrived on any channel within
//     Deadtime; losing one channel alone changes nothing.
//   - Standby, peer dead (or stopping): take over unless faulted.
//   - Standby, peer standby: the primary takes over unless held; the backup
//     only if the primary is held or faulted. (pulse: both activate on
//     STOPPED and the backup then yields; we avoid the double claim.)
//   - Standby primary, peer active, Failback on: after FailbackDelay ask the
//     backup to hand over, claim when it reports standby, or after
//     HandoverTimeout if it still hears us. (pulse: no failback.)
//   - Active, peer active: the backup yields at once; the primary keeps the
//     addresses and re-sends gratuitous ARPs, but yields if the backup has
//     reported for a whole Deadtime that it cannot hear us (it would never
//     yield; a one-way link would otherwise split the brain for good).
//   - Active, peer standby asking to take over and ready: release (failback,
//     or an admin takeover on the peer; a primary then holds itself so it
//     does not fail back at once).
//   - A local failure releases everything and blocks activation until
//     LocalRecovery (pulse: LINKFAIL/CHILDFAIL until a RUNNING heartbeat).
//   - Claims made while the peer is alive, and releases on its request, act
//     only on fresh heartbeats (see fresh): a stale datagram cannot move us.
//   - When both are active we re-send gratuitous ARPs but do not re-run
//     active_cmd as pulse did (a command need not be idempotent).
type Node struct {
	set  Settings
	role Role

	state     State
	last      time.Time // time of the latest Step
	started   bool
	startAt   time.Time
	boot, seq uint64
	nextBeat  time.Time
	beatNow   bool // a heartbeat is due at the end of this Step

	faults     Fault
	held       bool      // not asking for the active role (admin stand down)
	unchecked  bool      // the health checks owe a verdict: no failback (ChecksPending)
	wantActive bool      // AdminTakeover pending
	requesting bool      // standby, asking the active peer to hand over
	reqSince   time.Time // when requesting started
	// timeoutLogged: the handover timed out with a deaf peer (logged once).
	timeoutLogged bool
	waitLogged    bool // failback held by unchecked (logged once per wait)
	tellPeer      bool // active after a takeover: tell the old active to stand down

	peerActiveSince time.Time // standby: since when the peer is seen active
	deafSince       time.Time // active primary: since when the active peer cannot hear us
	bothActive      bool      // a both-active episode was seen (GARPs re-sent once)

	garpSent int
	nextGARP time.Time

	sent [64]sentBeat // recent heartbeats by sequence number, for fresh
	peer peerView
	stat counters
	out  Actions
}

// sentBeat is one heartbeat we sent.
type sentBeat struct {
	seq uint64
	at  time.Time
}

// peerView is what we know of the peer from its valid heartbeats.
type peerView struct {
	heard     [numChannels]time.Time // last valid heartbeat per channel
	msg       Message                // newest valid heartbeat
	known     bool
	legacy    bool // msg was made from a Piranha heartbeat
	guard     replayGuard
	wasAlive  bool
	serialMis bool
}

// counters feed Status.
type counters struct {
	takeovers, releases uint64
	since               time.Time
	reason              string
	refused             map[string]uint64
}

// NewNode returns the machine for the router of role r. Call Step(now,
// Start{}) first.
func NewNode(s Settings, r Role) (*Node, error) {
	if r != RolePrimary && r != RoleBackup {
		return nil, errors.New("ha: role must be primary or backup")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &Node{set: s.Normalize(), role: r, stat: counters{refused: map[string]uint64{}}}, nil
}

// Role returns the node's role (primary or backup).
func (n *Node) Role() Role { return n.role }

// Settings returns the normalized settings.
func (n *Node) Settings() Settings { return n.set }

// Step advances the role machine by one event and returns the new state and
// the actions to execute, in order. (STYLE item 10 names the first result
// Role; here Role is primary/backup, fixed by lvs.cf, so Step returns the
// State that changes.)
func (n *Node) Step(now time.Time, ev Event) (State, Actions) {
	n.out = nil
	if now.After(n.last) {
		n.last = now
	}
	if n.state == StateStopping {
		return n.state, nil
	}
	if _, ok := ev.(Start); !ok && !n.started {
		return n.state, nil
	}
	switch e := ev.(type) {
	case Start:
		n.start(now)
	case HeartbeatReceived:
		n.receive(now, e)
	case Tick:
	case LocalFailure:
		n.failure(e)
	case LocalRecovery:
		if n.faults&e.Fault != 0 {
			n.faults &^= e.Fault
			n.logf(slog.LevelInfo, "local failure cleared: %s (remaining: %s)", e.Fault, n.faults)
			n.beatNow = true
		}
	case ChecksPending:
		if e.Pending != n.unchecked {
			n.unchecked = e.Pending
			if !e.Pending && n.state == StateStandby && n.role == RolePrimary && n.set.Failback {
				n.logf(slog.LevelInfo, "health checks have a verdict for every real server")
			}
		}
	case ConfigChanged:
		n.configChanged(e)
	case SettingsChanged:
		n.settingsChanged(e.Settings)
	case AdminTakeover:
		n.adminTakeover()
	case AdminStandDown:
		n.adminStandDown(now)
	case Shutdown:
		n.shutdown(now)
		return n.state, n.flush()
	}
	n.decide(now)
	n.timers(now)
	return n.state, n.flush()
}

func (n *Node) flush() Actions {
	a := n.out
	n.out = nil
	return a
}

func (n *Node) emit(a Action) { n.out = append(n.out, a) }

func (n *Node) logf(l slog.Level, format string, args ...any) {
	n.emit(Log{Level: l, Msg: fmt.Sprintf(format, args...)})
}

func (n *Node) start(now time.Time) {
	if n.started {
		return
	}
	n.started, n.startAt, n.state = true, now, StateStandby
	n.boot = uint64(now.UnixNano())
	n.stat.since, n.stat.reason = now, "start"
	n.logf(slog.LevelInfo, "starting as %s (%s), keepalive %s, deadtime %s, failback %v",
		n.role, n.set.Addr(n.role, ChannelPublic), n.set.Keepalive, n.set.Deadtime, n.set.Failback)
	if n.set.SyncDaemon {
		n.emit(StartSync{Mode: SyncBackup})
	}
	n.beatNow = true
}

// settingsChanged applies reloaded settings in the state the node is in:
// a new keepalive or key takes effect with a heartbeat sent at once, a new
// deadtime from the next decision; syncdaemon turned on starts connection
// sync in the mode of the current state, turned off stops it. Addresses
// and the port are kept (the transport is bound to them), with a warning
// that a restart is needed for those. Unchanged settings change nothing.
func (n *Node) settingsChanged(s Settings) {
	s = s.Normalize()
	if AddrsChanged(n.set, s) {
		n.logf(slog.LevelWarn, "heartbeat addresses or port changed: they take effect when lvsd restarts")
	}
	s.Primary, s.PrimaryPrivate, s.Backup, s.BackupPrivate, s.Port =
		n.set.Primary, n.set.PrimaryPrivate, n.set.Backup, n.set.BackupPrivate, n.set.Port
	if err := s.Validate(); err != nil {
		n.logf(slog.LevelError, "heartbeat settings not applied: %v", err)
		return
	}
	old := n.set
	if reflect.DeepEqual(old, s) {
		return // a reload that changed something else
	}
	n.set = s
	if n.peer.known && !n.peer.legacy && old.Serial != s.Serial {
		n.checkSerial(n.peer.msg.Serial)
	}
	switch {
	case s.SyncDaemon && !old.SyncDaemon && n.state == StateActive:
		n.emit(StartSync{Mode: SyncMaster})
	case s.SyncDaemon && !old.SyncDaemon:
		n.emit(StartSync{Mode: SyncBackup})
	case !s.SyncDaemon && old.SyncDaemon:
		n.emit(StopSync{})
	}
	if old.Keepalive != s.Keepalive || old.Deadtime != s.Deadtime || old.Failback != s.Failback {
		n.logf(slog.LevelInfo, "heartbeat settings changed: keepalive %s, deadtime %s, failback %v",
			s.Keepalive, s.Deadtime, s.Failback)
	}
	n.beatNow = true
}

// AddrsChanged reports whether b moves the heartbeat to other addresses or
// another port than a: the transport must be opened again (a restart).
func AddrsChanged(a, b Settings) bool {
	return a.Primary != b.Primary || a.PrimaryPrivate != b.PrimaryPrivate || a.Backup != b.Backup ||
		a.BackupPrivate != b.BackupPrivate || a.Normalize().Port != b.Normalize().Port
}

func (n *Node) failure(e LocalFailure) {
	switch {
	case e.Fault == FaultLink && !n.set.MonitorLinks:
		n.logf(slog.LevelWarn, "%s (monitor_links = 0: ignored)", e.Detail)
		return
	case e.Fault == FaultChecker && !n.set.HardShutdown:
		// lvsd.c with hard_shutdown = 0.
		n.logf(slog.LevelWarn, "%s: manual action needed (hard_shutdown = 0)", e.Detail)
		return
	}
	if n.faults&e.Fault == 0 {
		n.logf(slog.LevelWarn, "local failure: %s: %s", e.Fault, e.Detail)
	}
	n.faults |= e.Fault
	n.wantActive, n.requesting = false, false
	n.beatNow = true
}

func (n *Node) adminTakeover() {
	switch {
	case n.faults != 0:
		n.logf(slog.LevelWarn, "takeover refused: local failure (%s)", n.faults)
	case n.state == StateActive:
		n.logf(slog.LevelInfo, "takeover: already active")
	default:
		n.logf(slog.LevelInfo, "takeover requested by administrator")
		n.held, n.wantActive = false, true
		n.beatNow = true
	}
}

func (n *Node) adminStandDown(now time.Time) {
	if n.state != StateActive {
		n.logf(slog.LevelInfo, "stand down: holding standby (no failback until takeover)")
		n.held, n.wantActive, n.requesting = true, false, false
		n.beatNow = true
		return
	}
	if !n.peerAlive(now) || n.peer.msg.Has(FlagFault) || n.peer.legacy {
		n.logf(slog.LevelWarn, "stand down refused: partner cannot take over")
		return
	}
	n.held, n.wantActive = true, false
	n.deactivate(now, "stand down requested by administrator")
}

func (n *Node) shutdown(now time.Time) {
	if n.state == StateActive {
		n.deactivate(now, "shutting down")
	}
	n.state = StateStopping
	n.stat.since, n.stat.reason = now, "shutdown"
	n.beat(now)
	if n.set.SyncDaemon {
		n.emit(StopSync{})
	}
	n.logf(slog.LevelInfo, "stopped")
}

// fresh reports whether m echoes a heartbeat we sent within Deadtime: it
// was sent after that, so it is not a datagram left over from before our
// start or delayed in a queue. Claims made while the peer is alive, and
// releases on the peer's request, act only on fresh messages; yielding to an
// active primary and the dead timer do not need it.
func (n *Node) fresh(now time.Time, m Message) bool {
	if m.EchoBoot != n.boot || m.EchoSeq == 0 {
		return false
	}
	e := n.sent[m.EchoSeq%uint64(len(n.sent))]
	return e.seq == m.EchoSeq && now.Sub(e.at) < n.set.Deadtime
}

// ready reports whether a peer's heartbeat asks for the active role.
func ready(m Message) bool { return m.Flags&(FlagHeld|FlagFault) == 0 }

// lastHeard is the newest valid heartbeat on any channel.
func (n *Node) lastHeard() time.Time {
	var t time.Time
	for _, h := range n.peer.heard {
		if h.After(t) {
			t = h
		}
	}
	return t
}

// peerAlive: a valid heartbeat on any channel within Deadtime, and the peer
// is not stopping.
func (n *Node) peerAlive(now time.Time) bool {
	return n.peer.known && n.peer.msg.State != StateStopping &&
		now.Sub(n.lastHeard()) < n.set.Deadtime
}

// decide applies the rules of Node to the current view.
func (n *Node) decide(now time.Time) {
	alive := n.peerAlive(now)
	if alive != n.peer.wasAlive {
		n.peer.wasAlive = alive
		switch {
		case !alive && n.peer.known && n.peer.msg.State == StateStopping:
			n.logf(slog.LevelWarn, "partner stopping")
		case !alive && n.peer.known:
			n.logf(slog.LevelWarn, "partner dead: no heartbeat for %s", n.set.Deadtime)
		case alive:
			n.logf(slog.LevelInfo, "partner alive: %s", n.peer.msg.State)
			n.beatNow = true // answer at once: our echo proves we hear it
		}
	}
	if n.state == StateActive {
		n.decideActive(now, alive)
	} else {
		n.decideStandby(now, alive)
	}
}

func (n *Node) decideActive(now time.Time, alive bool) {
	if n.faults != 0 {
		n.deactivate(now, "local failure: "+n.faults.String())
		return
	}
	if !alive {
		return
	}
	p := n.peer.msg
	if n.peer.legacy {
		if p.State == StateActive {
			n.deactivate(now, "partner runs Piranha pulse and is active")
		}
		return
	}
	if p.State != StateActive {
		if n.bothActive {
			// The backup stood down after a both-active episode: take the
			// ARP caches back from it.
			n.logf(slog.LevelInfo, "partner stood down: re-sending gratuitous ARPs")
			n.startGARP(now)
		}
		n.bothActive, n.deafSince, n.tellPeer = false, time.Time{}, false
		if p.Has(FlagStandDown) && ready(p) && n.fresh(now, p) {
			if n.role == RolePrimary {
				n.held = true // the backup's admin takeover: no failback
			}
			n.deactivate(now, "partner asked to take over")
		}
		return
	}
	if n.role == RoleBackup {
		n.deactivate(now, "partner active") // pulse: backup stops
		return
	}
	if !n.bothActive {
		n.bothActive = true
		n.logf(slog.LevelWarn, "partner active too: primary keeps the addresses")
		if n.fresh(now, p) {
			n.startGARP(now) // pulse: the master rearps when both are running
		}
	}
	if n.fresh(now, p) {
		n.deafSince = time.Time{}
		return
	}
	// The backup does not hear us, so it will not yield. Give it a Deadtime
	// to hear us (it may just have healed) before yielding ourselves.
	if n.deafSince.IsZero() {
		n.deafSince = now
		n.logf(slog.LevelWarn, "partner active but does not hear us")
	} else if now.Sub(n.deafSince) >= n.set.Deadtime {
		n.deactivate(now, "partner active and cannot hear us")
	}
}

func (n *Node) decideStandby(now time.Time, alive bool) {
	if n.faults != 0 {
		return
	}
	if n.wantActive && !n.requesting {
		n.requesting, n.reqSince, n.beatNow, n.timeoutLogged = true, now, true, false
	}
	if !alive {
		n.peerActiveSince = time.Time{}
		switch {
		case n.peer.known && n.peer.msg.State == StateStopping && n.fresh(now, n.peer.msg):
			n.activate(now, "partner stopping")
		case n.wantActive:
			n.activate(now, "takeover requested by administrator")
		case now.Sub(later(n.startAt, n.lastHeard())) >= n.set.Deadtime:
			n.activate(now, "partner dead")
		}
		return
	}
	p := n.peer.msg
	if n.peer.legacy {
		return // the Piranha router cannot hear us; never fight it
	}
	if p.State == StateActive {
		n.standbyPeerActive(now, p)
		return
	}
	n.peerActiveSince = time.Time{}
	if !n.fresh(now, p) {
		return // possibly a stale datagram; the next one will tell
	}
	switch {
	case n.requesting:
		n.activate(now, "partner released the addresses")
	case p.Has(FlagFault):
		n.activate(now, "partner failed")
	case n.role == RolePrimary && (!n.held || p.Has(FlagHeld)):
		n.activate(now, "backup inactive")
	case n.role == RoleBackup && p.Has(FlagHeld) && !n.held:
		n.activate(now, "primary inactive")
	}
}

// standbyPeerActive: failback and admin handover, claiming only after the
// peer released, or after HandoverTimeout if it still hears us.
func (n *Node) standbyPeerActive(now time.Time, p Message) {
	if n.peerActiveSince.IsZero() {
		n.peerActiveSince = now
	}
	if !n.requesting && n.role == RolePrimary && n.set.Failback && !n.held &&
		now.Sub(n.peerActiveSince) >= n.set.FailbackDelay {
		if n.unchecked {
			if !n.waitLogged {
				n.waitLogged = true
				n.logf(slog.LevelInfo, "failback waits for the health checks' verdict on every real server")
			}
			return
		}
		n.waitLogged = false
		n.requesting, n.reqSince, n.beatNow, n.timeoutLogged = true, now, true, false
		n.logf(slog.LevelInfo, "failback: asking the backup to hand over")
	}
	if n.requesting && now.Sub(n.reqSince) >= n.set.HandoverTimeout {
		if n.fresh(now, p) {
			n.activate(now, "handover timed out")
		} else if !n.timeoutLogged {
			n.timeoutLogged = true
			n.logf(slog.LevelWarn, "handover timed out but the partner does not hear us: staying standby")
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// activate is pulse's activateLvs, in the order: claim, first GARP,
// tell the old active to stand down, active_cmd.
func (n *Node) activate(now time.Time, why string) {
	n.state = StateActive
	n.stat.takeovers++
	n.stat.since, n.stat.reason = now, why
	n.held, n.wantActive, n.requesting = false, false, false
	n.peerActiveSince, n.deafSince, n.bothActive = time.Time{}, time.Time{}, false
	n.tellPeer = !n.peerAlive(now) || n.peer.msg.State == StateActive
	n.logf(slog.LevelWarn, "becoming active: %s", why)
	if n.set.SyncDaemon {
		n.emit(StartSync{Mode: SyncMaster})
	}
	n.emit(ClaimAddresses{})
	n.startGARP(now)
	n.beat(now)
	if n.set.ActiveCmd != "" {
		n.emit(RunCommand{Cmd: n.set.ActiveCmd})
	}
}

// deactivate is pulse's deactivateLvs: release, sync back to backup,
// inactive_cmd, then the heartbeat that tells the peer we released.
func (n *Node) deactivate(now time.Time, why string) {
	n.state = StateStandby
	n.stat.releases++
	n.stat.since, n.stat.reason = now, why
	n.garpSent = n.set.GARPCount // stop announcing
	n.tellPeer, n.bothActive, n.deafSince = false, false, time.Time{}
	n.logf(slog.LevelWarn, "becoming standby: %s", why)
	n.emit(ReleaseAddresses{})
	if n.set.SyncDaemon {
		n.emit(StartSync{Mode: SyncBackup})
	}
	if n.set.InactiveCmd != "" {
		n.emit(RunCommand{Cmd: n.set.InactiveCmd})
	}
	n.beatNow = true
}

func (n *Node) startGARP(now time.Time) {
	n.garpSent = 0
	n.nextGARP = now
	n.garp(now)
}

// garp sends the announcements that are due: send_arp 5 times 1 s apart.
func (n *Node) garp(now time.Time) {
	if n.state != StateActive || n.garpSent >= n.set.GARPCount || now.Before(n.nextGARP) {
		return
	}
	n.garpSent++
	n.emit(SendGARP{N: n.garpSent, Of: n.set.GARPCount})
	n.nextGARP = n.nextGARP.Add(n.set.GARPInterval)
	if n.garpSent == n.set.GARPCount {
		n.logf(slog.LevelInfo, "gratuitous lvs arps finished") // the guide §4.8
	}
}

// timers sends the heartbeat and gratuitous ARP that are due.
func (n *Node) timers(now time.Time) {
	n.garp(now)
	if n.beatNow || !now.Before(n.nextBeat) {
		n.beat(now)
	}
}

// beat sends one heartbeat on each channel, each with its own sequence number.
func (n *Node) beat(now time.Time) {
	n.beatNow = false
	n.nextBeat = now.Add(n.set.Keepalive)
	var fl Flags
	if n.requesting || (n.state == StateActive && n.tellPeer) {
		fl |= FlagStandDown
	}
	if n.held {
		fl |= FlagHeld
	}
	if n.faults != 0 {
		fl |= FlagFault
	}
	if n.peerAlive(now) && !n.peer.legacy {
		fl |= FlagPeerAlive
	}
	for ch := range numChannels {
		if !n.set.Addr(n.role.Other(), ch).IsValid() {
			continue
		}
		n.seq++
		n.sent[n.seq%uint64(len(n.sent))] = sentBeat{n.seq, now}
		m := Message{Role: n.role, State: n.state, Flags: fl, Serial: n.set.Serial,
			Node: n.set.Addr(n.role, ChannelPublic), Boot: n.boot, Seq: n.seq, Time: now.UnixNano()}
		if n.peer.known && !n.peer.legacy {
			m.EchoBoot, m.EchoSeq = n.peer.guard.boot, n.peer.guard.max
		}
		n.emit(SendHeartbeat{Channel: ch, Msg: m, Data: m.Encode(nil, n.set.Key)})
	}
}

// Next returns when the machine next needs a Tick: the next heartbeat, GARP,
// peer deadline, failback or handover step. It is always after the latest
// Step (deadlines already handled are not returned again), or zero before
// Start and after Shutdown.
func (n *Node) Next() time.Time {
	if !n.started || n.state == StateStopping {
		return time.Time{}
	}
	t := n.nextBeat
	min := func(c time.Time) {
		if c.After(n.last) && c.Before(t) {
			t = c
		}
	}
	if n.state == StateActive && n.garpSent < n.set.GARPCount {
		min(n.nextGARP)
	}
	if n.state == StateActive && !n.deafSince.IsZero() {
		min(n.deafSince.Add(n.set.Deadtime))
	}
	if n.state == StateStandby {
		min(later(n.startAt, n.lastHeard()).Add(n.set.Deadtime))
		if !n.peerActiveSince.IsZero() && !n.requesting {
			min(n.peerActiveSince.Add(n.set.FailbackDelay))
		}
		if n.requesting {
			min(n.reqSince.Add(n.set.HandoverTimeout))
		}
	}
	return t
}
