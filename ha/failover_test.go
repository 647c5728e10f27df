package ha

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// activeBackup returns a backup that took over from a dead primary.
func activeBackup(t *testing.T, mod func(*Settings)) *machine {
	t.Helper()
	m := newMachine(t, RoleBackup, mod)
	m.advance(m.set.Deadtime)
	m.wantState(StateActive)
	return m
}

func TestFailbackBackupSide(t *testing.T) {
	m := activeBackup(t, nil)
	// The primary returns: standby and ready, but not yet asking.
	acts := m.keepHearing(10*time.Second, ChannelPublic, StateStandby, FlagPeerAlive)
	m.wantState(StateActive)
	for _, k := range kinds(acts) {
		if k == "Release" {
			t.Fatalf("released before the primary asked: %v", kinds(acts))
		}
	}
	// A held or faulted primary asking is not ready: ignored.
	m.hear(ChannelPublic, StateStandby, FlagPeerAlive|FlagStandDown|FlagFault)
	m.wantState(StateActive)
	// The primary announces it is ready and asks: release, then say so.
	acts = m.hear(ChannelPublic, StateStandby, FlagPeerAlive|FlagStandDown)
	m.wantState(StateStandby)
	wantKinds(t, "handover", acts, "Release", "Sync(backup)", "Cmd(inactive)", "HB(standby)")
	if st := m.n.Status(m.now); st.Held || st.Releases != 1 || st.Reason != "partner asked to take over" {
		t.Errorf("Status = %+v", st)
	}
	// The primary claims; the backup stays standby and does not ask back.
	acts = m.keepHearing(20*time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	m.wantState(StateStandby)
	for _, a := range acts {
		if hb, ok := a.(SendHeartbeat); ok && hb.Msg.Has(FlagStandDown) {
			t.Fatalf("backup asked to take over: %v", hb)
		}
	}
}

func TestFailbackPrimarySide(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	// The backup is active; the primary listens for FailbackDelay first.
	acts := m.keepHearing(m.set.FailbackDelay-m.set.Keepalive, ChannelPublic, StateActive, FlagPeerAlive)
	acts = append(acts, m.hear(ChannelPublic, StateActive, FlagPeerAlive)...)
	acts = append(acts, m.advance(m.set.Keepalive-time.Millisecond)...)
	m.wantState(StateStandby)
	for _, k := range kinds(acts) {
		if k == "HB(standby,SD)" {
			t.Fatalf("asked before FailbackDelay: %v", kinds(acts))
		}
	}
	acts = m.advance(time.Millisecond) // FailbackDelay after it was first heard active
	wantKinds(t, "ask", acts, "HB(standby,SD)")
	m.wantState(StateStandby)
	// Still active: keep asking, do not claim.
	acts = m.advance(time.Second)
	wantKinds(t, "keep asking", acts, "HB(standby,SD)")
	// The backup released: claim now, in the takeover order.
	acts = m.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	m.wantState(StateActive)
	wantKinds(t, "claim", acts, "Sync(master)", "Claim", "GARP1", "HB(active)", "Cmd(active)")
	if !hasLog(acts, "partner released") {
		t.Errorf("logs %q", logs(acts))
	}
}

func TestHandoverTimeout(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	m.keepHearing(m.set.FailbackDelay+time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	st := m.n.Status(m.now)
	m.wantState(StateStandby)
	// The backup never releases but hears us: claim after HandoverTimeout
	// (it will yield as in a split brain).
	acts := m.keepHearing(m.set.HandoverTimeout, ChannelPublic, StateActive, FlagPeerAlive)
	m.wantState(StateActive)
	if !hasLog(acts, "handover timed out") || m.now.Sub(st.Since) > m.set.FailbackDelay+m.set.HandoverTimeout+2*time.Second {
		t.Errorf("claimed at +%v, logs %q", m.now.Sub(t0), logs(acts))
	}
}

func TestFailbackOff(t *testing.T) {
	m := newMachine(t, RolePrimary, func(s *Settings) { s.Failback = false })
	acts := m.keepHearing(60*time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	m.wantState(StateStandby)
	for _, a := range acts {
		if hb, ok := a.(SendHeartbeat); ok && hb.Msg.Has(FlagStandDown) {
			t.Fatalf("failback = 0 but the primary asked the backup to stand down: %v", hb)
		}
	}
	b := activeBackup(t, func(s *Settings) { s.Failback = false })
	b.keepHearing(60*time.Second, ChannelPublic, StateStandby, FlagPeerAlive)
	b.wantState(StateActive)
}

func TestLinkDown(t *testing.T) {
	p := newMachine(t, RolePrimary, nil)
	p.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	p.wantState(StateActive)
	acts := p.step(LocalFailure{Fault: FaultLink, Detail: "eth0 link down"})
	p.wantState(StateStandby)
	wantKinds(t, "link down", acts, "Release", "Sync(backup)", "Cmd(inactive)", "HB(standby,F)")
	// A faulted node never takes over, even when the peer dies.
	p.advance(30 * time.Second)
	p.wantState(StateStandby)
	p.step(LocalRecovery{Fault: FaultLink})
	p.advance(time.Second)
	p.wantState(StateActive)

	// The backup takes over from a faulted primary at once.
	b := newMachine(t, RoleBackup, nil)
	b.hear(ChannelPublic, StateActive, FlagPeerAlive)
	acts = b.hear(ChannelPublic, StateStandby, FlagPeerAlive|FlagFault)
	b.wantState(StateActive)
	if !hasLog(acts, "partner failed") {
		t.Errorf("logs %q", logs(acts))
	}

	// Without monitor_links a link failure is only logged.
	q := newMachine(t, RolePrimary, func(s *Settings) { s.MonitorLinks = false })
	q.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	acts = q.step(LocalFailure{Fault: FaultLink, Detail: "eth0 link down"})
	q.wantState(StateActive)
	if !hasLog(acts, "monitor_links = 0") {
		t.Errorf("logs %q", logs(acts))
	}
}

func TestCheckerFailure(t *testing.T) {
	tests := []struct {
		name string
		hard bool
		want State
	}{
		{"hard_shutdown=1", true, StateStandby},
		{"hard_shutdown=0", false, StateActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, RolePrimary, func(s *Settings) { s.HardShutdown = tt.hard })
			m.hear(ChannelPublic, StateStandby, FlagPeerAlive)
			m.step(LocalFailure{Fault: FaultChecker, Detail: "checker for 10.1.1.2:80 exited"})
			m.wantState(tt.want)
			m.step(LocalFailure{Fault: FaultDataplane, Detail: "worker exited"})
			m.wantState(StateStandby) // a dataplane failure always counts
		})
	}
}

func TestAdminStandDown(t *testing.T) {
	p := newMachine(t, RolePrimary, nil)
	p.advance(p.set.Deadtime)
	p.wantState(StateActive)
	// Refused while the backup is not heard.
	acts := p.step(AdminStandDown{})
	p.wantState(StateActive)
	if !hasLog(acts, "refused") {
		t.Errorf("logs %q", logs(acts))
	}
	p.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	acts = p.step(AdminStandDown{})
	p.wantState(StateStandby)
	wantKinds(t, "stand down", acts, "Release", "Sync(backup)", "Cmd(inactive)", "HB(standby,H)")
	// Held: no failback while the backup serves.
	acts = p.keepHearing(30*time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	p.wantState(StateStandby)
	for _, a := range acts {
		if hb, ok := a.(SendHeartbeat); ok && hb.Msg.Has(FlagStandDown) {
			t.Fatalf("held primary asked for failback: %v", hb)
		}
	}
	// But it takes over if the backup dies.
	p.advance(p.set.Deadtime)
	p.wantState(StateActive)
	if p.n.Status(p.now).Held {
		t.Error("still held after taking over")
	}
}

func TestAdminTakeover(t *testing.T) {
	// On the backup: ask the primary, claim after it released.
	b := newMachine(t, RoleBackup, nil)
	b.hear(ChannelPublic, StateActive, FlagPeerAlive)
	acts := b.step(AdminTakeover{})
	b.wantState(StateStandby)
	wantKinds(t, "ask", acts, "HB(standby,SD)")
	acts = b.hear(ChannelPublic, StateStandby, FlagPeerAlive|FlagHeld)
	b.wantState(StateActive)
	wantKinds(t, "claim", acts, "Sync(master)", "Claim", "GARP1", "HB(active)", "Cmd(active)")

	// On the primary's side: release, and hold (no failback right back).
	p := newMachine(t, RolePrimary, nil)
	p.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	p.wantState(StateActive)
	acts = p.hear(ChannelPublic, StateStandby, FlagPeerAlive|FlagStandDown)
	p.wantState(StateStandby)
	wantKinds(t, "release", acts, "Release", "Sync(backup)", "Cmd(inactive)", "HB(standby,H)")
	p.keepHearing(30*time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	p.wantState(StateStandby)
	// An admin takeover on the primary undoes the hold.
	acts = p.step(AdminTakeover{})
	wantKinds(t, "takeover", acts, "HB(standby,SD)")

	// A faulted node refuses.
	f := newMachine(t, RoleBackup, nil)
	f.step(LocalFailure{Fault: FaultDataplane, Detail: "x"})
	acts = f.step(AdminTakeover{})
	if !hasLog(acts, "takeover refused") {
		t.Errorf("logs %q", logs(acts))
	}
}

// TestForgedAndReplayed: nothing a stranger sends changes the machine, and a
// replay cannot hold off a takeover.
func TestForgedAndReplayed(t *testing.T) {
	m := newMachine(t, RoleBackup, nil)
	var recorded [][]byte
	for i := 0; i < 5; i++ {
		msg := m.peerMsg(StateActive, FlagPeerAlive)
		b := msg.Encode(nil, m.set.Key)
		recorded = append(recorded, b)
		m.step(HeartbeatReceived{Channel: ChannelPublic, From: pubP, Data: b})
		m.advance(time.Second)
	}
	m.wantState(StateStandby)
	before := m.n.Status(m.now)

	wrongKey := m.peerMsg(StateStopping, 0).Encode(nil, []byte("guessed"))
	unsigned := m.peerMsg(StateStopping, 0).Encode(nil, nil)
	tampered := bytes.Clone(recorded[4])
	tampered[hbState] = byte(StateStopping)
	asBackup := m.peerMsg(StateStopping, 0)
	asBackup.Role, asBackup.Node = RoleBackup, pubB
	stranger := netip.MustParseAddr("10.0.0.66")
	oldBoot := m.peerMsg(StateStopping, 0)
	oldBoot.Boot--
	tests := []struct {
		name   string
		from   netip.Addr
		data   []byte
		reason string
	}{
		{"wrong key", pubP, wrongKey, "auth"},
		{"unsigned", pubP, unsigned, "noauth"},
		{"tampered", pubP, tampered, "auth"},
		{"replayed", pubP, recorded[3], "replay"},
		{"claims our role", pubP, asBackup.Encode(nil, m.set.Key), "wrongpeer"},
		{"stranger source", stranger, m.peerMsg(StateStopping, 0).Encode(nil, m.set.Key), "wrongpeer"},
		{"older boot", pubP, oldBoot.Encode(nil, m.set.Key), "oldboot"},
		{"legacy with key", pubP, EncodeLegacy(StateStandby), "legacy"},
		{"garbage", pubP, []byte("GET / HTTP/1.0\r\n\r\n" + strings.Repeat(".", 80)), "magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts := m.step(HeartbeatReceived{Channel: ChannelPublic, From: tt.from, Data: tt.data})
			for _, a := range acts {
				if _, ok := a.(Log); !ok {
					t.Errorf("refused datagram produced %v", kinds(acts))
				}
			}
			m.wantState(StateStandby)
			if got := m.n.Status(m.now).Refused[tt.reason]; got == 0 {
				t.Errorf("Refused[%q] = 0; refused = %v", tt.reason, m.n.Status(m.now).Refused)
			}
		})
	}
	after := m.n.Status(m.now)
	if after.Peer.State != before.Peer.State || after.Channels[0].LastHeard != before.Channels[0].LastHeard {
		t.Errorf("peer view changed: %+v → %+v", before.Peer, after.Peer)
	}
	// The primary dies; an attacker replays every recording each second:
	// the takeover still happens a deadtime after the last real heartbeat.
	deadline := before.Channels[0].LastHeard.Add(m.set.Deadtime)
	for m.now.Before(deadline) {
		for _, b := range recorded {
			m.step(HeartbeatReceived{Channel: ChannelPublic, From: pubP, Data: b})
		}
		m.advance(500 * time.Millisecond)
	}
	m.wantState(StateActive)
}

func TestShutdown(t *testing.T) {
	p := newMachine(t, RolePrimary, nil)
	p.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	p.wantState(StateActive)
	acts := p.step(Shutdown{})
	p.wantState(StateStopping)
	wantKinds(t, "shutdown", acts, "Release", "Sync(backup)", "Cmd(inactive)", "HB(stopping)", "StopSync")
	if acts := p.advance(10 * time.Second); len(acts) != 0 {
		t.Errorf("after Shutdown: %v", kinds(acts))
	}
	// The peer takes over at once on "stopping", as pulse's backup on STOPPED.
	b := newMachine(t, RoleBackup, nil)
	b.hear(ChannelPublic, StateActive, FlagPeerAlive)
	acts = b.hear(ChannelPublic, StateStopping, FlagPeerAlive)
	b.wantState(StateActive)
	if !hasLog(acts, "partner stopping") {
		t.Errorf("logs %q", logs(acts))
	}
}

func TestLegacyPeer(t *testing.T) {
	noKey := func(s *Settings) { s.Key = nil }
	// A Piranha primary, RUNNING: we never claim while it is heard.
	b := newMachine(t, RoleBackup, noKey)
	var acts Actions
	for i := 0; i < 20; i++ {
		acts = append(acts, b.step(HeartbeatReceived{Channel: ChannelPublic, From: pubP, Data: EncodeLegacy(StateActive)})...)
		acts = append(acts, b.advance(time.Second)...)
	}
	b.wantState(StateStandby)
	if !hasLog(acts, "runs Piranha pulse (RUNNING)") || !b.n.Status(b.now).Peer.Legacy {
		t.Errorf("logs %q", logs(acts))
	}
	// It goes silent: take over after deadtime.
	b.advance(b.set.Deadtime)
	b.wantState(StateActive)
	// It comes back RUNNING (it cannot hear us, so it took over): yield.
	b.step(HeartbeatReceived{Channel: ChannelPublic, From: pubP, Data: EncodeLegacy(StateActive)})
	b.wantState(StateStandby)

	// With heartbeat_key, legacy datagrams are refused and change nothing.
	k := newMachine(t, RoleBackup, nil)
	for i := 0; i < 5; i++ {
		k.step(HeartbeatReceived{Channel: ChannelPublic, From: pubP, Data: EncodeLegacy(StateActive)})
		k.advance(time.Second)
	}
	k.wantState(StateActive)
	if got := k.n.Status(k.now).Refused["legacy"]; got != 5 {
		t.Errorf("Refused[legacy] = %d, want 5", got)
	}
}

func TestStatusSerialMismatch(t *testing.T) {
	m := newMachine(t, RoleBackup, nil)
	m.set.Serial = 8 // the peer runs a newer lvs.cf
	acts := m.hear(ChannelPrivate, StateActive, FlagPeerAlive)
	st := m.n.Status(m.now)
	if !st.Peer.SerialMismatch || st.Peer.Serial != 8 || !hasLog(acts, "serial_no 8 differs") {
		t.Errorf("Status.Peer = %+v, logs %q", st.Peer, logs(acts))
	}
	if want := []ChannelStatus{
		{Channel: ChannelPublic, Local: pubB, Peer: pubP, Age: -1},
		{Channel: ChannelPrivate, Local: privB, Peer: privP, LastHeard: m.now},
	}; !reflect.DeepEqual(st.Channels, want) {
		t.Errorf("Status.Channels = %+v, want %+v", st.Channels, want)
	}
}

func TestNoPrivateChannel(t *testing.T) {
	m := newMachine(t, RolePrimary, func(s *Settings) { s.PrimaryPrivate, s.BackupPrivate = netip.Addr{}, netip.Addr{} })
	n := 0
	for _, a := range m.last {
		if hb, ok := a.(SendHeartbeat); ok {
			n++
			if hb.Channel != ChannelPublic {
				t.Errorf("heartbeat on %v without private addresses", hb.Channel)
			}
		}
	}
	if n != 1 {
		t.Errorf("start sent %d heartbeats, want 1", n)
	}
}

// TestFailbackWaitsForChecks: a returning primary whose health checks owe
// a verdict (its link just came back, its real servers are all out) leaves
// the addresses with the working backup until they have one, then asks at
// once; a dead backup is taken over from whatever the checks say.
func TestFailbackWaitsForChecks(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	m.step(ChecksPending{Pending: true})
	acts := m.keepHearing(m.set.FailbackDelay+10*time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	m.wantState(StateStandby)
	for _, k := range kinds(acts) {
		if k == "HB(standby,SD)" {
			t.Fatalf("asked for failback while the checks owed a verdict: %v", kinds(acts))
		}
	}
	if !hasLog(acts, "failback waits for the health checks") {
		t.Errorf("logs %q", logs(acts))
	}
	acts = m.step(ChecksPending{Pending: false})
	wantKinds(t, "ask once checked", acts, "HB(standby,SD)")
	acts = m.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	m.wantState(StateActive)
	wantKinds(t, "claim", acts, "Sync(master)", "Claim", "GARP1", "HB(active)", "Cmd(active)")

	d := newMachine(t, RolePrimary, nil)
	d.step(ChecksPending{Pending: true})
	d.hear(ChannelPublic, StateActive, FlagPeerAlive)
	d.advance(d.set.Deadtime)
	d.wantState(StateActive) // the backup died: no waiting
}
