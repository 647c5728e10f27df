package ha

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Heartbeat wire format, version 1. All integers are big-endian (network
// order); pulse sent a host-order int, see DecodeLegacy.
//
//	off len field
//	  0   4 magic "LVHB"
//	  4   1 version (1)
//	  5   1 flags: 0x01 authenticated (HMAC trailer present), 0x02 stand-down
//	        request, 0x04 held (admin/handover hold: not asking for the active
//	        role), 0x08 fault (local failure: cannot be active), 0x10 peer
//	        alive (the sender hears the receiver's heartbeats)
//	  6   1 role: 1 primary, 2 backup
//	  7   1 state: 1 standby, 2 active, 3 stopping
//	  8   4 config serial (serial_no)
//	 12  16 node id: the sender's public address (primary or backup), 16-byte form
//	 28   8 boot id: the sender's start time in Unix ns, grows across restarts
//	 36   8 sequence number, from 1, one per datagram within a boot
//	 44   8 timestamp: the sender's wall clock in Unix ns when sent
//	 52   8 echo boot: boot id of the newest heartbeat the sender accepted
//	        from the receiver (0: none)
//	 60   8 echo sequence: its sequence number. The receiver knows when it
//	        sent that heartbeat, so the echo proves how fresh this message is
//	        without synchronised clocks (a datagram delayed in a queue, or
//	        left over from before a restart, is recognised as stale).
//	 68  32 HMAC-SHA256(heartbeat_key, bytes 0..67), only with flag 0x01
//
// An unauthenticated message is 68 bytes, an authenticated one 100. Unknown
// flag bits, roles, states or versions are refused: a new layout gets a new
// version number.
const (
	hbMagic   = 0
	hbVersion = 4
	hbFlags   = 5
	hbRole    = 6
	hbState   = 7
	hbSerial  = 8
	hbNode    = 12
	hbBoot    = 28
	hbSeq     = 36
	hbTime    = 44
	hbEchoB   = 52
	hbEchoS   = 60
	hbMAC     = 68

	// HeaderLen is the length of an unauthenticated heartbeat.
	HeaderLen = hbMAC
	// AuthLen is the length of an authenticated heartbeat.
	AuthLen = hbMAC + sha256.Size

	magicV1 = 0x4c564842 // "LVHB"
	// Version is the heartbeat format version this package writes and reads.
	Version = 1
)

// Flags are the flag bits of a heartbeat. Authentication is not a Flags bit
// of Message: Encode sets it when given a key.
type Flags uint8

// Flag bits of a heartbeat.
const (
	flagAuth Flags = 1 << iota
	// FlagStandDown asks the receiver to give up the active role. From a standby
	// sender it is a handover request (failback or admin takeover); from an
	// active sender it is pulse's "tell the old active router to stand down".
	FlagStandDown
	// FlagHeld says the sender does not ask for the active role (admin stand
	// down, or a primary that handed over to an admin takeover on the backup).
	FlagHeld
	// FlagFault says the sender has a local failure and cannot be active.
	FlagFault
	// FlagPeerAlive says the sender currently hears the receiver (a valid
	// heartbeat within deadtime). Informational: decisions use the echo.
	FlagPeerAlive

	knownFlags = flagAuth | FlagStandDown | FlagHeld | FlagFault | FlagPeerAlive
)

// Role is which router of the pair a node is, fixed by lvs.cf: the one
// owning the primary address or the one owning the backup address.
type Role uint8

// Roles.
const (
	RoleNone Role = iota
	RolePrimary
	RoleBackup
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleBackup:
		return "backup"
	}
	return "none"
}

// Other returns the peer's role.
func (r Role) Other() Role {
	switch r {
	case RolePrimary:
		return RoleBackup
	case RoleBackup:
		return RolePrimary
	}
	return RoleNone
}

// State is whether a node serves: standby, active, or stopping (shutting
// down; the peer may take over at once, like pulse's STOPPED heartbeat).
type State uint8

// States.
const (
	StateNone State = iota
	StateStandby
	StateActive
	StateStopping
)

func (s State) String() string {
	switch s {
	case StateStandby:
		return "standby"
	case StateActive:
		return "active"
	case StateStopping:
		return "stopping"
	}
	return "none"
}

// Message is one decoded heartbeat.
type Message struct {
	Role   Role
	State  State
	Flags  Flags  // FlagStandDown, FlagHeld, FlagFault, FlagPeerAlive
	Serial uint32 // serial_no of the sender's lvs.cf
	Node   netip.Addr
	Boot   uint64 // sender start time, Unix ns
	Seq    uint64
	Time   int64 // sender wall clock, Unix ns
	// EchoBoot and EchoSeq identify the newest heartbeat the sender
	// accepted from the receiver.
	EchoBoot, EchoSeq uint64
}

// Has reports whether all bits of f are set.
func (m Message) Has(f Flags) bool { return m.Flags&f == f }

// Errors of Decode and of the replay guard. Callers branch on them to count
// refused heartbeats by reason.
var (
	ErrShort     = errors.New("heartbeat truncated")
	ErrMagic     = errors.New("not a heartbeat")
	ErrLegacy    = errors.New("piranha pulse heartbeat")
	ErrVersion   = errors.New("unsupported heartbeat version")
	ErrMalformed = errors.New("malformed heartbeat")
	ErrAuth      = errors.New("heartbeat authentication failed")
	ErrNoAuth    = errors.New("unauthenticated heartbeat refused: heartbeat_key is set")
	ErrAuthNoKey = errors.New("authenticated heartbeat refused: no heartbeat_key here")
	ErrReplay    = errors.New("replayed heartbeat")
	ErrOldBoot   = errors.New("heartbeat from an older boot")
	ErrWrongPeer = errors.New("heartbeat from an unexpected sender")
)

// Encode appends the wire form of m to b. With a non-empty key the message
// is authenticated with HMAC-SHA256.
func (m Message) Encode(b []byte, key []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, magicV1)
	fl := m.Flags &^ flagAuth
	if len(key) > 0 {
		fl |= flagAuth
	}
	b = append(b, Version, byte(fl), byte(m.Role), byte(m.State))
	b = binary.BigEndian.AppendUint32(b, m.Serial)
	a := m.Node.As16()
	b = append(b, a[:]...)
	b = binary.BigEndian.AppendUint64(b, m.Boot)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Time))
	b = binary.BigEndian.AppendUint64(b, m.EchoBoot)
	b = binary.BigEndian.AppendUint64(b, m.EchoSeq)
	if len(key) > 0 {
		mac := hmac.New(sha256.New, key)
		mac.Write(b[start:])
		b = mac.Sum(b)
	}
	return b
}

// Decode parses and authenticates one heartbeat datagram. key is the shared
// heartbeat_key; empty means heartbeats are not authenticated. A message is
// accepted only if its authentication matches ours: signed when a key is
// set, unsigned otherwise. A 4-byte Piranha heartbeat returns ErrLegacy (see
// DecodeLegacy). Decode does not check replays (see replayGuard).
func Decode(b []byte, key []byte) (Message, error) {
	var m Message
	if len(b) == legacyLen {
		if _, ok := DecodeLegacy(b); ok {
			return m, ErrLegacy
		}
	}
	if len(b) < HeaderLen {
		return m, ErrShort
	}
	if binary.BigEndian.Uint32(b[hbMagic:]) != magicV1 {
		return m, ErrMagic
	}
	if b[hbVersion] != Version {
		return m, fmt.Errorf("%w %d", ErrVersion, b[hbVersion])
	}
	fl := Flags(b[hbFlags])
	want := HeaderLen
	if fl&flagAuth != 0 {
		want = AuthLen
	}
	if len(b) < want {
		return m, ErrShort
	}
	if len(b) > want || fl&^knownFlags != 0 {
		return m, ErrMalformed
	}
	m.Role, m.State = Role(b[hbRole]), State(b[hbState])
	if m.Role != RolePrimary && m.Role != RoleBackup || m.State < StateStandby || m.State > StateStopping {
		return m, ErrMalformed
	}
	switch {
	case len(key) == 0 && fl&flagAuth != 0:
		return m, ErrAuthNoKey
	case len(key) > 0 && fl&flagAuth == 0:
		return m, ErrNoAuth
	case len(key) > 0:
		mac := hmac.New(sha256.New, key)
		mac.Write(b[:hbMAC])
		if !hmac.Equal(mac.Sum(nil), b[hbMAC:AuthLen]) {
			return m, ErrAuth
		}
	}
	m.Flags = fl &^ flagAuth
	m.Serial = binary.BigEndian.Uint32(b[hbSerial:])
	m.Node = netip.AddrFrom16([16]byte(b[hbNode : hbNode+16])).Unmap()
	m.Boot = binary.BigEndian.Uint64(b[hbBoot:])
	m.Seq = binary.BigEndian.Uint64(b[hbSeq:])
	m.Time = int64(binary.BigEndian.Uint64(b[hbTime:]))
	m.EchoBoot = binary.BigEndian.Uint64(b[hbEchoB:])
	m.EchoSeq = binary.BigEndian.Uint64(b[hbEchoS:])
	if m.Seq == 0 {
		return m, ErrMalformed
	}
	return m, nil
}

// Piranha's heartbeat: exactly four bytes, a C unsigned int in host order
// (little-endian on the x86 routers pulse ran on), pulse.c
// HEARTBEAT_RUNNING_MAGIC and HEARTBEAT_STOPPED_MAGIC.
const (
	legacyLen     = 4
	legacyRunning = 0xbdaddbda
	legacyStopped = 0xadbddabd
)

// DecodeLegacy recognises a Piranha pulse heartbeat and returns the state it
// announces: StateActive for RUNNING, StateStandby for STOPPED.
//
// We do not interoperate with Piranha: pulse refuses our datagrams
// ("Incompatible heartbeat received") and its own carry no authentication,
// so a mixed pair cannot run the handover protocol. Node recognises legacy
// heartbeats so the mixed pair is logged clearly, and, only when no
// heartbeat_key is set, reads them as the peer's state so that our node never
// fights an active Piranha router for the addresses (see Node.legacy).
func DecodeLegacy(b []byte) (State, bool) {
	if len(b) != legacyLen {
		return StateNone, false
	}
	switch binary.LittleEndian.Uint32(b) {
	case legacyRunning:
		return StateActive, true
	case legacyStopped:
		return StateStandby, true
	}
	return StateNone, false
}

// EncodeLegacy returns pulse's 4-byte heartbeat for s (tests and tools).
func EncodeLegacy(s State) []byte {
	v := uint32(legacyStopped)
	if s == StateActive {
		v = legacyRunning
	}
	return binary.LittleEndian.AppendUint32(nil, v)
}

// replayWindow is how many sequence numbers below the highest seen are still
// accepted once each (heartbeats on two channels may arrive out of order).
const replayWindow = 64

// replayGuard refuses replayed heartbeats of one sender: within a boot each
// sequence number is accepted once and only within replayWindow of the
// highest seen; a boot id smaller than the current one is refused, so
// recordings from before a restart cannot be played back. The sender's boot
// id is its start time, so a router whose clock went back across a restart
// is refused until our own restart; Node logs that case. Only authenticated
// messages (or any message when no key is set) reach the guard, so forgeries
// cannot move it.
type replayGuard struct {
	boot uint64
	max  uint64 // highest sequence seen in boot
	seen uint64 // bit i: max-i was seen
}

// check accepts m and records it, or returns ErrReplay / ErrOldBoot.
func (g *replayGuard) check(m Message) error {
	switch {
	case m.Boot < g.boot:
		return ErrOldBoot
	case m.Boot > g.boot:
		*g = replayGuard{boot: m.Boot, max: m.Seq, seen: 1}
		return nil
	case m.Seq > g.max:
		shift := m.Seq - g.max
		if shift >= replayWindow {
			g.seen = 0
		} else {
			g.seen <<= shift
		}
		g.seen |= 1
		g.max = m.Seq
		return nil
	}
	d := g.max - m.Seq
	if d >= replayWindow || g.seen&(1<<d) != 0 {
		return ErrReplay
	}
	g.seen |= 1 << d
	return nil
}

// unixNano converts a Message time for logs and status.
func unixNano(ns int64) time.Time { return time.Unix(0, ns) }
