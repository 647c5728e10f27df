package ha

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

// receive validates one datagram and updates the peer view. Nothing that
// fails validation changes state other than the refusal counters: not a
// forged message, a replay, a heartbeat from another host, nor one claiming
// our own role.
func (n *Node) receive(now time.Time, e HeartbeatReceived) {
	from := e.From.Unmap()
	if from != n.set.Addr(n.role.Other(), ChannelPublic) && from != n.set.Addr(n.role.Other(), ChannelPrivate) {
		// pulse.c: the source must be the partner's public or private address.
		n.refuse(ErrWrongPeer, from)
		return
	}
	m, err := Decode(e.Data, n.set.Key)
	if errors.Is(err, ErrLegacy) {
		n.legacy(now, e.Channel, from, e.Data)
		return
	}
	if err != nil {
		n.refuse(err, from)
		return
	}
	if m.Role != n.role.Other() || m.Node != n.set.Addr(n.role.Other(), ChannelPublic) {
		n.refuse(ErrWrongPeer, from)
		return
	}
	if err := n.peer.guard.check(m); err != nil {
		n.refuse(err, from)
		return
	}
	n.peer.heard[e.Channel%numChannels] = now
	if !n.peer.known || n.peer.legacy || m.Boot > n.peer.msg.Boot || m.Seq > n.peer.msg.Seq {
		if n.peer.legacy {
			n.logf(slog.LevelInfo, "partner now speaks lvs-go heartbeats")
		}
		n.peer.msg, n.peer.known, n.peer.legacy = m, true, false
	}
	n.checkSerial(n.peer.msg.Serial)
}

// checkSerial notes (and logs once per change) whether the partner's
// serial_no differs from ours.
func (n *Node) checkSerial(peer uint32) {
	if mis := peer != n.set.Serial; mis != n.peer.serialMis {
		n.peer.serialMis = mis
		if mis {
			n.logf(slog.LevelWarn, "partner config serial_no %d differs from ours (%d)", peer, n.set.Serial)
		} else {
			n.logf(slog.LevelInfo, "partner config serial_no matches ours (%d)", peer)
		}
	}
}

// configChanged takes the serial_no of a configuration reloaded (or received
// by config sync) and tells the partner at once.
func (n *Node) configChanged(e ConfigChanged) {
	if e.Serial == n.set.Serial {
		return
	}
	n.set.Serial = e.Serial
	if n.peer.known && !n.peer.legacy {
		n.checkSerial(n.peer.msg.Serial)
	}
	n.beatNow = true
}

// legacy handles a Piranha pulse heartbeat (see DecodeLegacy). With a
// heartbeat_key it is refused: it cannot be authenticated, and accepting it
// would let anyone on the segment hold off a takeover. Without one it is read
// as the peer's state, so that we never fight a Piranha router: it cannot
// read our heartbeats, so it would never yield. Decide then never claims
// while a Piranha peer is heard and yields to an active one.
func (n *Node) legacy(now time.Time, ch Channel, from netip.Addr, b []byte) {
	st, _ := DecodeLegacy(b)
	if len(n.set.Key) > 0 {
		n.refuse(ErrLegacy, from)
		return
	}
	if !n.peer.legacy || n.peer.msg.State != st {
		word := "STOPPED"
		if st == StateActive {
			word = "RUNNING"
		}
		n.logf(slog.LevelWarn, "partner %s runs Piranha pulse (%s): mixed pairs are not supported; "+
			"standing aside while it is heard", from, word)
	}
	var fl Flags
	if st != StateActive {
		fl = FlagHeld
	}
	n.peer.heard[ch%numChannels] = now
	n.peer.msg = Message{Role: n.role.Other(), State: st, Flags: fl, Node: n.set.Addr(n.role.Other(), ChannelPublic)}
	n.peer.known, n.peer.legacy = true, true
}

// refuse counts a refused datagram by reason and logs the 1st, 2nd, 4th,
// 8th… of each reason, so a flood cannot flood the log.
func (n *Node) refuse(err error, from netip.Addr) {
	k := reasonOf(err)
	n.stat.refused[k]++
	if c := n.stat.refused[k]; c&(c-1) == 0 {
		n.logf(slog.LevelWarn, "heartbeat from %s refused: %v (%d so far)", from, err, c)
	}
}

// reasonOf maps a refusal to its counter name.
func reasonOf(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrShort, "short"}, {ErrMagic, "magic"}, {ErrLegacy, "legacy"}, {ErrVersion, "version"},
		{ErrMalformed, "malformed"}, {ErrAuth, "auth"}, {ErrNoAuth, "noauth"}, {ErrAuthNoKey, "authnokey"},
		{ErrReplay, "replay"}, {ErrOldBoot, "oldboot"}, {ErrWrongPeer, "wrongpeer"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

// Status is the machine's state for the API, lvsadm and metrics.
type Status struct {
	Role     Role
	State    State
	Held     bool   // not asking for the active role (admin stand down)
	Faults   Fault  // local failures
	Serial   uint32 // our serial_no, as the heartbeats carry it
	Peer     PeerStatus
	Channels []ChannelStatus // one per configured heartbeat channel
	// Takeovers and Releases count transitions to active and to standby.
	Takeovers, Releases uint64
	Since               time.Time // last transition
	Reason              string    // why ("partner dead", "failback", …)
	Refused             map[string]uint64
}

// PeerStatus is what we know of the partner.
type PeerStatus struct {
	Known          bool
	Alive          bool
	Legacy         bool // speaks Piranha's 4-byte heartbeat
	State          State
	Flags          Flags
	Serial         uint32
	SerialMismatch bool
	Boot           time.Time // partner start time
	ClockOffset    time.Duration
}

// ChannelStatus is one heartbeat channel.
type ChannelStatus struct {
	Channel     Channel
	Local, Peer netip.Addr
	LastHeard   time.Time     // zero: never
	Age         time.Duration // since LastHeard; -1 when never heard
}

// Status returns the machine's state at now.
func (n *Node) Status(now time.Time) Status {
	s := Status{
		Role: n.role, State: n.state, Held: n.held, Faults: n.faults, Serial: n.set.Serial,
		Takeovers: n.stat.takeovers, Releases: n.stat.releases,
		Since: n.stat.since, Reason: n.stat.reason,
		Refused: make(map[string]uint64, len(n.stat.refused)),
	}
	for k, v := range n.stat.refused {
		s.Refused[k] = v
	}
	p := n.peer.msg
	s.Peer = PeerStatus{Known: n.peer.known, Alive: n.peerAlive(now), Legacy: n.peer.legacy,
		State: p.State, Flags: p.Flags, Serial: p.Serial, SerialMismatch: n.peer.serialMis}
	if n.peer.known && !n.peer.legacy {
		s.Peer.Boot = unixNano(int64(p.Boot))
		if h := n.lastHeard(); !h.IsZero() {
			s.Peer.ClockOffset = unixNano(p.Time).Sub(h)
		}
	}
	for ch := range numChannels {
		peer := n.set.Addr(n.role.Other(), ch)
		if !peer.IsValid() {
			continue
		}
		c := ChannelStatus{Channel: ch, Local: n.set.Addr(n.role, ch), Peer: peer,
			LastHeard: n.peer.heard[ch], Age: -1}
		if !c.LastHeard.IsZero() {
			c.Age = now.Sub(c.LastHeard)
		}
		s.Channels = append(s.Channels, c)
	}
	return s
}
