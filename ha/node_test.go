package ha

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	pubP  = netip.MustParseAddr("10.0.0.1")
	pubB  = netip.MustParseAddr("10.0.0.2")
	privP = netip.MustParseAddr("192.168.100.1")
	privB = netip.MustParseAddr("192.168.100.2")
	t0    = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

// testSettings: keepalive 1 s, deadtime 3 s, as the drills.
func testSettings() Settings {
	return Settings{
		Primary: pubP, PrimaryPrivate: privP, Backup: pubB, BackupPrivate: privB,
		Keepalive: time.Second, Deadtime: 3 * time.Second, Serial: 7, Key: testKey,
		Failback: true, FailbackDelay: 2 * time.Second, HandoverTimeout: 3 * time.Second,
		MonitorLinks: true, HardShutdown: true, SyncDaemon: true,
		ActiveCmd: "/usr/local/bin/became-active", InactiveCmd: "/usr/local/bin/became-inactive",
	}
}

// machine drives one Node with a fake clock and plays the peer by hand.
type machine struct {
	t    *testing.T
	n    *Node
	now  time.Time
	set  Settings
	boot uint64 // the fake peer's boot id
	seq  uint64
	last Actions
}

func newMachine(t *testing.T, r Role, mod func(*Settings)) *machine {
	t.Helper()
	s := testSettings()
	if mod != nil {
		mod(&s)
	}
	n, err := NewNode(s, r)
	if err != nil {
		t.Fatalf("NewNode: %v", err)
	}
	m := &machine{t: t, n: n, now: t0, set: s, boot: uint64(t0.Add(-time.Hour).UnixNano())}
	m.step(Start{})
	return m
}

func (m *machine) step(ev Event) Actions {
	_, m.last = m.n.Step(m.now, ev)
	return m.last
}

// advance moves the clock by d in ticks at Node.Next, as the runner does,
// and returns every action emitted on the way.
func (m *machine) advance(d time.Duration) Actions {
	end := m.now.Add(d)
	var all Actions
	for {
		next := m.n.Next()
		if next.IsZero() {
			m.now = end
			return all
		}
		if !next.After(m.now) {
			m.t.Fatalf("Next() = %v, not after the latest step %v", next, m.now)
		}
		if next.After(end) {
			m.now = end
			return append(all, m.step(Tick{})...)
		}
		m.now = next
		all = append(all, m.step(Tick{})...)
	}
}

// peerMsg builds the fake peer's next heartbeat. With FlagPeerAlive it
// echoes the node's newest heartbeat, as a peer that hears it does.
func (m *machine) peerMsg(st State, fl Flags) Message {
	m.seq++
	r := m.n.Role().Other()
	msg := Message{Role: r, State: st, Flags: fl, Serial: m.set.Serial, Node: m.set.Addr(r, ChannelPublic),
		Boot: m.boot, Seq: m.seq, Time: m.now.UnixNano()}
	if fl&FlagPeerAlive != 0 { // the fake peer hears us: echo our newest heartbeat
		msg.EchoBoot, msg.EchoSeq = m.n.boot, m.n.seq
	}
	return msg
}

// hear delivers a valid peer heartbeat on ch.
func (m *machine) hear(ch Channel, st State, fl Flags) Actions {
	msg := m.peerMsg(st, fl)
	return m.step(HeartbeatReceived{Channel: ch, From: m.set.Addr(msg.Role, ch), Data: msg.Encode(nil, m.set.Key)})
}

// keepHearing delivers a peer heartbeat on ch every keepalive for d.
func (m *machine) keepHearing(d time.Duration, ch Channel, st State, fl Flags) Actions {
	var all Actions
	for end := m.now.Add(d); m.now.Before(end); {
		all = append(all, m.hear(ch, st, fl)...)
		all = append(all, m.advance(m.set.Keepalive)...)
	}
	return all
}

func (m *machine) wantState(want State) {
	m.t.Helper()
	if got := m.n.Status(m.now).State; got != want {
		m.t.Fatalf("at +%v: state = %v, want %v (reason %q)", m.now.Sub(t0), got, want, m.n.Status(m.now).Reason)
	}
}

// kinds renders actions compactly: Claim, Release, GARP1, HB(active,SD),
// Cmd(active), Sync(master), StopSync; Log lines are left out.
func kinds(acts Actions) []string {
	var out []string
	for _, a := range acts {
		switch a := a.(type) {
		case ClaimAddresses:
			out = append(out, "Claim")
		case ReleaseAddresses:
			out = append(out, "Release")
		case SendGARP:
			out = append(out, fmt.Sprintf("GARP%d", a.N))
		case SendHeartbeat:
			if a.Channel == ChannelPublic { // both channels carry the same state
				out = append(out, "HB("+a.Msg.State.String()+flagString(a.Msg.Flags)+")")
			}
		case RunCommand:
			out = append(out, "Cmd("+strings.TrimPrefix(a.Cmd, "/usr/local/bin/became-")+")")
		case StartSync:
			out = append(out, "Sync("+a.Mode.String()+")")
		case StopSync:
			out = append(out, "StopSync")
		}
	}
	return out
}

func flagString(f Flags) string {
	s := ""
	for _, x := range []struct {
		f Flags
		n string
	}{{FlagStandDown, "SD"}, {FlagHeld, "H"}, {FlagFault, "F"}} {
		if f&x.f != 0 {
			s += "," + x.n
		}
	}
	return s
}

func logs(acts Actions) []string {
	var out []string
	for _, a := range acts {
		if l, ok := a.(Log); ok {
			out = append(out, l.Msg)
		}
	}
	return out
}

func hasLog(acts Actions, sub string) bool {
	for _, l := range logs(acts) {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func wantKinds(t *testing.T, what string, acts Actions, want ...string) {
	t.Helper()
	if got := kinds(acts); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: actions = %v, want %v\nlogs: %q", what, got, want, logs(acts))
	}
}

func TestFindRole(t *testing.T) {
	other := netip.MustParseAddr("10.9.9.9")
	tests := []struct {
		name    string
		own     []netip.Addr
		want    Role
		wantErr error
	}{
		{"primary", []netip.Addr{other, pubP}, RolePrimary, nil},
		{"backup", []netip.Addr{pubB}, RoleBackup, nil},
		{"v4-mapped", []netip.Addr{netip.AddrFrom16(pubB.As16())}, RoleBackup, nil},
		{"neither", []netip.Addr{other}, RoleNone, ErrNoRole},
		{"none at all", nil, RoleNone, ErrNoRole},
		{"both", []netip.Addr{pubP, pubB}, RoleNone, ErrBothRoles},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindRole(pubP, pubB, tt.own)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("FindRole(%v) = %v, %v, want %v, %v", tt.own, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Settings)
		ok   bool
	}{
		{"good", func(*Settings) {}, true},
		{"no backup", func(s *Settings) { s.Backup = netip.Addr{} }, false},
		{"same", func(s *Settings) { s.Backup = s.Primary }, false},
		{"deadtime <= keepalive", func(s *Settings) { s.Deadtime = s.Keepalive }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings()
			tt.mod(&s)
			if err := s.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := NewNode(testSettings(), RoleNone); err == nil {
		t.Error("NewNode(RoleNone) succeeded")
	}
}

func TestStartAlone(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	wantKinds(t, "start", m.last, "Sync(backup)", "HB(standby)")
	if acts := m.step(Tick{}); len(acts) != 0 {
		t.Errorf("second Tick at the same time: %v", kinds(acts))
	}
	m.advance(m.set.Deadtime - time.Millisecond)
	m.wantState(StateStandby)
	acts := m.advance(time.Millisecond)
	m.wantState(StateActive)
	// The order: claim, GARP now, tell the old active to stand down, active_cmd.
	wantKinds(t, "takeover", acts, "Sync(master)", "Claim", "GARP1", "HB(active,SD)", "Cmd(active)")
	if !hasLog(acts, "partner dead") {
		t.Errorf("takeover logs %q, want partner dead", logs(acts))
	}
	// send_arp: 4 more, 1 s apart; the 5th is followed by the guide's line.
	var garps []string
	for i := 0; i < 6; i++ {
		acts = m.advance(time.Second)
		for _, k := range kinds(acts) {
			if strings.HasPrefix(k, "GARP") {
				garps = append(garps, k)
			}
		}
		if i == 3 && !hasLog(acts, "gratuitous lvs arps finished") {
			t.Errorf("5th GARP: logs %q, want gratuitous lvs arps finished", logs(acts))
		}
	}
	if want := []string{"GARP2", "GARP3", "GARP4", "GARP5"}; !reflect.DeepEqual(garps, want) {
		t.Errorf("GARPs after takeover = %v, want %v", garps, want)
	}
	st := m.n.Status(m.now)
	if st.Takeovers != 1 || st.Reason != "partner dead" {
		t.Errorf("Status = %+v", st)
	}
}

func TestHeartbeatsEveryKeepalive(t *testing.T) {
	m := newMachine(t, RoleBackup, nil)
	var beats []time.Duration
	for i := 0; i < 5; i++ {
		for _, a := range m.hear(ChannelPublic, StateActive, FlagPeerAlive) {
			if hb, ok := a.(SendHeartbeat); ok && hb.Channel == ChannelPublic {
				beats = append(beats, m.now.Sub(t0))
			}
		}
		for _, a := range m.advance(time.Second) {
			if hb, ok := a.(SendHeartbeat); ok && hb.Channel == ChannelPublic {
				beats = append(beats, m.now.Sub(t0))
			}
		}
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}
	if !reflect.DeepEqual(beats, want) {
		t.Errorf("heartbeats at %v, want %v", beats, want)
	}
	m.wantState(StateStandby)
}

func TestPeerDead(t *testing.T) {
	m := newMachine(t, RoleBackup, nil)
	m.keepHearing(10*time.Second, ChannelPublic, StateActive, FlagPeerAlive)
	m.wantState(StateStandby)
	lastHeard := m.now.Add(-m.set.Keepalive)
	acts := m.advance(lastHeard.Add(m.set.Deadtime).Sub(m.now) - time.Millisecond)
	m.wantState(StateStandby)
	acts = m.advance(time.Millisecond)
	m.wantState(StateActive)
	wantKinds(t, "takeover", acts, "Sync(master)", "Claim", "GARP1", "HB(active,SD)", "Cmd(active)")
	if !hasLog(acts, "partner dead") {
		t.Errorf("logs %q", logs(acts))
	}
}

func TestOneChannelLostNoTakeover(t *testing.T) {
	m := newMachine(t, RoleBackup, nil)
	for i := 0; i < 3; i++ {
		m.hear(ChannelPublic, StateActive, FlagPeerAlive)
		m.hear(ChannelPrivate, StateActive, FlagPeerAlive)
		m.advance(time.Second)
	}
	// The public channel goes silent; the private one carries on.
	m.keepHearing(20*time.Second, ChannelPrivate, StateActive, FlagPeerAlive)
	m.wantState(StateStandby)
	st := m.n.Status(m.now)
	if len(st.Channels) != 2 || st.Channels[0].Age < 20*time.Second || st.Channels[1].Age > time.Second || !st.Peer.Alive {
		t.Errorf("Status channels = %+v, peer %+v", st.Channels, st.Peer)
	}
	// Then the private one too: takeover a deadtime after its last heartbeat.
	m.advance(m.set.Deadtime - m.set.Keepalive - time.Millisecond)
	m.wantState(StateStandby)
	m.advance(time.Millisecond)
	m.wantState(StateActive)
}

func TestBothActive(t *testing.T) {
	t.Run("backup stands down at once", func(t *testing.T) {
		m := newMachine(t, RoleBackup, nil)
		m.advance(m.set.Deadtime)
		m.wantState(StateActive)
		acts := m.hear(ChannelPublic, StateActive, 0) // a healed partition: the primary did not hear us
		m.wantState(StateStandby)
		wantKinds(t, "yield", acts, "Release", "Sync(backup)", "Cmd(inactive)", "HB(standby)")
	})
	t.Run("primary keeps and rearps", func(t *testing.T) {
		m := newMachine(t, RolePrimary, nil)
		m.advance(m.set.Deadtime + 10*time.Second)
		m.wantState(StateActive)
		acts := m.hear(ChannelPublic, StateActive, FlagPeerAlive|FlagStandDown)
		m.wantState(StateActive)
		wantKinds(t, "both active", acts, "GARP1", "HB(active,SD)")
		acts = m.advance(time.Second)
		acts = append(acts, m.hear(ChannelPublic, StateStandby, FlagPeerAlive)...)
		m.wantState(StateActive)
		if k := kinds(acts); !reflect.DeepEqual(k, []string{"GARP2", "HB(active,SD)", "GARP1"}) {
			t.Errorf("after backup stood down: %v", k)
		}
	})
	t.Run("primary yields to a deaf backup", func(t *testing.T) {
		m := newMachine(t, RolePrimary, nil)
		m.advance(m.set.Deadtime)
		m.wantState(StateActive)
		m.keepHearing(m.set.Deadtime-time.Second, ChannelPublic, StateActive, FlagStandDown)
		m.wantState(StateActive)
		acts := m.keepHearing(time.Second, ChannelPublic, StateActive, FlagStandDown)
		m.wantState(StateStandby)
		if !hasLog(acts, "cannot hear us") {
			t.Errorf("logs %q", logs(acts))
		}
		// Standby again, it asks for failback but never claims from a deaf backup.
		acts = m.keepHearing(20*time.Second, ChannelPublic, StateActive, 0)
		m.wantState(StateStandby)
		if !hasLog(acts, "does not hear us") {
			t.Errorf("logs %q", logs(acts))
		}
	})
}

func TestStartupBothStandby(t *testing.T) {
	p := newMachine(t, RolePrimary, nil)
	// A backup that has not heard us yet (or a datagram from before our
	// start): answer, but do not claim on it.
	acts := p.hear(ChannelPublic, StateStandby, 0)
	p.wantState(StateStandby)
	wantKinds(t, "first heartbeat", acts, "HB(standby)")
	acts = p.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	p.wantState(StateActive)
	if !hasLog(acts, "backup inactive") {
		t.Errorf("primary logs %q", logs(acts))
	}
	b := newMachine(t, RoleBackup, nil)
	b.keepHearing(10*time.Second, ChannelPublic, StateStandby, FlagPeerAlive)
	b.wantState(StateStandby) // waits for the ready primary
	acts = b.hear(ChannelPublic, StateStandby, FlagPeerAlive|FlagHeld)
	b.wantState(StateActive)
	if !hasLog(acts, "primary inactive") {
		t.Errorf("backup logs %q", logs(acts))
	}
}

func TestConfigChangedUpdatesSerialAndBeatsAtOnce(t *testing.T) {
	m := newMachine(t, RolePrimary, nil)
	m.keepHearing(4*time.Second, ChannelPublic, StateStandby, FlagPeerAlive)
	if st := m.n.Status(m.now); st.Peer.SerialMismatch {
		t.Fatalf("same serial reported as a mismatch: %+v", st.Peer)
	}
	acts := m.step(ConfigChanged{Serial: 8})
	var beat *SendHeartbeat
	for _, a := range acts {
		if hb, ok := a.(SendHeartbeat); ok {
			beat = &hb
		}
	}
	if beat == nil || beat.Msg.Serial != 8 {
		t.Fatalf("ConfigChanged sent %v; want a heartbeat with serial 8 at once", kinds(acts))
	}
	if st := m.n.Status(m.now); !st.Peer.SerialMismatch {
		t.Error("the partner still on serial 7 is not reported as a mismatch")
	}
	m.set.Serial = 8 // the partner applies the same file
	m.hear(ChannelPublic, StateStandby, FlagPeerAlive)
	if st := m.n.Status(m.now); st.Peer.SerialMismatch || st.Peer.Serial != 8 {
		t.Errorf("after the partner reached serial 8: %+v", st.Peer)
	}
	if acts := m.step(ConfigChanged{Serial: 8}); len(acts) != 0 {
		t.Errorf("an unchanged serial produced %v", kinds(acts))
	}
}
