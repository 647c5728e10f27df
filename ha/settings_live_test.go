package ha

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// beatsOver returns when the node sent its public-channel heartbeats during
// d (offsets from the start of the window), hearing nothing.
func (m *machine) beatsOver(d time.Duration, acts Actions) []time.Duration {
	start := m.now
	var at []time.Duration
	add := func(acts Actions, now time.Time) {
		for _, a := range acts {
			if hb, ok := a.(SendHeartbeat); ok && hb.Channel == ChannelPublic {
				at = append(at, now.Sub(start))
			}
		}
	}
	add(acts, m.now)
	end := m.now.Add(d)
	for m.n.Next().Before(end) || m.n.Next().Equal(end) {
		m.now = m.n.Next()
		add(m.step(Tick{}), m.now)
	}
	m.now = end
	return at
}

func TestSettingsChangedKeepaliveLive(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	m.keepHearing(3*time.Second, ChannelPublic, StateStandby, FlagPeerAlive)
	s := m.n.Settings()
	s.Keepalive, s.Deadtime = 3*time.Second, 10*time.Second
	acts := m.step(SettingsChanged{Settings: s})
	// One at once, then every 3 s (the peer is still heard inside deadtime).
	if got, want := m.beatsOver(7*time.Second, acts), []time.Duration{0, 3 * time.Second, 6 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("heartbeats at %v after keepalive 1s → 3s, want %v", got, want)
	}
	if got := m.n.Settings().Keepalive; got != 3*time.Second {
		t.Errorf("Settings().Keepalive = %v", got)
	}
}

func TestSettingsChangedDeadtimeLive(t *testing.T) {
	m := newMachine(t, RoleBackup, nil)
	m.keepHearing(5*time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	m.keepHearing(5*time.Second, ChannelPrivate, StateActive, FlagPeerAlive)
	s := m.n.Settings()
	s.Deadtime = 8 * time.Second
	m.step(SettingsChanged{Settings: s})
	last := m.now.Add(-m.set.Keepalive) // the peer's last heartbeat
	// The old deadtime (3 s) passes: still standby.
	m.advance(last.Add(8*time.Second - time.Millisecond).Sub(m.now))
	m.wantState(StateStandby)
	m.advance(time.Millisecond)
	m.wantState(StateActive)
}

func TestSettingsChangedSyncDaemonLive(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	m.advance(m.set.Deadtime) // alone: active
	m.wantState(StateActive)
	s := m.n.Settings()
	tests := []struct {
		sync bool
		want []string
	}{
		{false, []string{"StopSync", "HB(active,SD)"}},
		{false, nil}, // unchanged: nothing
		{true, []string{"Sync(master)", "HB(active,SD)"}},
	}
	for _, tt := range tests {
		s.SyncDaemon = tt.sync
		wantKinds(t, "syncdaemon", m.step(SettingsChanged{Settings: s}), tt.want...)
	}
}

func TestSettingsChangedKeepsAddressesAndRefusesInvalid(t *testing.T) {
	m := newMachine(t, RoleBackup, nil)
	old := m.n.Settings()
	s := old
	s.BackupPrivate = netip.MustParseAddr("192.168.100.22")
	s.Port = 1539
	if !AddrsChanged(old, s) {
		t.Error("AddrsChanged: a new private address and port not reported")
	}
	if AddrsChanged(old, m.n.Settings()) {
		t.Error("AddrsChanged: same settings reported as moved")
	}
	s.Failback = false
	m.step(SettingsChanged{Settings: s})
	got := m.n.Settings()
	if got.BackupPrivate != old.BackupPrivate || got.Port != old.Port || got.Failback {
		t.Errorf("after SettingsChanged: private %v port %d failback %v; want the transport's %v %d and failback off",
			got.BackupPrivate, got.Port, got.Failback, old.BackupPrivate, old.Port)
	}
	bad := got
	bad.Deadtime = bad.Keepalive
	acts := m.step(SettingsChanged{Settings: bad})
	if m.n.Settings().Deadtime != got.Deadtime || !hasLog(acts, "not applied") {
		t.Errorf("invalid settings: deadtime now %v, logs %q", m.n.Settings().Deadtime, logs(acts))
	}
}

func TestSettingsChangedSameSettingsDoNothing(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	m.advance(500 * time.Millisecond)
	if acts := m.step(SettingsChanged{Settings: m.n.Settings()}); len(acts) != 0 {
		t.Errorf("unchanged settings produced %v", kinds(acts))
	}
}
