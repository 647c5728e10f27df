package ha

import (
	"fmt"
	"log/slog"
	"net/netip"
)

// Channel is a heartbeat path: the public network, and the private one when
// primary_private and backup_private are set (pulse's second socket).
type Channel uint8

// Channels.
const (
	ChannelPublic Channel = iota
	ChannelPrivate
	numChannels
)

func (c Channel) String() string {
	if c == ChannelPrivate {
		return "private"
	}
	return "public"
}

// Fault is a set of local failures that stop a node from being active.
type Fault uint8

// Local failures, after pulse's LINKFAIL and CHILDFAIL flags.
const (
	// FaultLink: our own public or private NIC lost its link (monitor_links).
	FaultLink Fault = 1 << iota
	// FaultDataplane: the packet path died (pulse: the lvs child exited).
	FaultDataplane
	// FaultChecker: a health checker died (pulse: a nanny died, hard_shutdown).
	FaultChecker
)

func (f Fault) String() string {
	if f == 0 {
		return "none"
	}
	s := ""
	for _, x := range []struct {
		f    Fault
		name string
	}{{FaultLink, "link"}, {FaultDataplane, "dataplane"}, {FaultChecker, "checker"}} {
		if f&x.f != 0 {
			if s != "" {
				s += "+"
			}
			s += x.name
		}
	}
	return s
}

// An Event is one input of the role machine (Node.Step).
type Event interface{ isEvent() }

// Start starts the machine: the node comes up standby, as pulse does without
// --forceactive. Every other event is ignored before Start.
type Start struct{}

// HeartbeatReceived is one datagram read from the heartbeat socket of
// Channel, sent from From. Data is only read during Step. A stand-down
// request from the peer arrives this way (FlagStandDown).
type HeartbeatReceived struct {
	Channel Channel
	From    netip.Addr
	Data    []byte
}

// Tick lets time pass: heartbeats fall due, the peer may be declared dead,
// the next gratuitous ARP is sent. The runner sends it at Node.Next.
type Tick struct{}

// LocalFailure reports a local failure. A link failure counts only with
// monitor_links, a checker failure only with hard_shutdown (lvs otherwise
// logs "manual action needed"); a dataplane failure always counts.
type LocalFailure struct {
	Fault  Fault
	Detail string // e.g. "eth0 link down"
}

// LocalRecovery clears a local failure.
type LocalRecovery struct {
	Fault Fault
}

// ChecksPending says whether this router's health checks still owe a
// verdict: from its start, or from a link of its own coming back, until
// every real server has been checked since. While they do, a standby
// primary does not fail back: taking the addresses from a working backup
// with every real server still out (its checks failed while it was cut
// off) would refuse new connections until they re-entered. Taking over
// from a dead, stopping or failed peer, or on an administrator's takeover,
// is not held back.
type ChecksPending struct {
	Pending bool
}

// AdminTakeover asks this node to become active. If the peer is active it is
// asked to hand over first (FlagStandDown) and this node claims the
// addresses only after the peer has released them, or after
// FailbackTimeout if the peer still hears us.
type AdminTakeover struct{}

// AdminStandDown asks this node to give up the active role and not to ask
// for it back (no failback) until AdminTakeover or until the peer fails.
// It is refused when the peer cannot take over.
type AdminStandDown struct{}

// Shutdown releases everything and announces StateStopping so the peer takes
// over at once (pulse on SIGTERM). Every later event is ignored.
type Shutdown struct{}

// ConfigChanged gives the serial_no of the configuration now running (after
// a reload, an API edit or a config sync). Heartbeats carry it from the next
// one, sent at once, and the partner's serial is compared with it.
type ConfigChanged struct {
	Serial uint32
}

// SettingsChanged gives the heartbeat settings of a configuration reloaded
// (or received by config sync), applied without a restart: keepalive,
// deadtime, heartbeat_key, failback, monitor_links, hard_shutdown,
// syncdaemon, the commands and serial_no. The addresses and the port stay
// those the transport was opened with (see AddrsChanged).
type SettingsChanged struct {
	Settings Settings
}

func (Start) isEvent()             {}
func (SettingsChanged) isEvent()   {}
func (ConfigChanged) isEvent()     {}
func (HeartbeatReceived) isEvent() {}
func (Tick) isEvent()              {}
func (LocalFailure) isEvent()      {}
func (LocalRecovery) isEvent()     {}
func (ChecksPending) isEvent()     {}
func (AdminTakeover) isEvent()     {}
func (AdminStandDown) isEvent()    {}
func (Shutdown) isEvent()          {}

// An Action is one thing the caller of Step must do, in order. Actions are
// values; the runner sends heartbeats itself and hands the rest to the
// daemon, which must execute a batch in order (see Batch).
type Action interface{ isAction() }

// Actions is the ordered output of one Step.
type Actions []Action

// SendHeartbeat sends Data (the encoded Msg) to the peer on Channel.
type SendHeartbeat struct {
	Channel Channel
	Msg     Message
	Data    []byte
}

// ClaimAddresses makes this router own every VIP of an active virtual server
// and the nat_router address: the dataplane answers ARP for them and forwards
// their traffic (pulse: ifconfig DEV IP up for each).
type ClaimAddresses struct{}

// ReleaseAddresses stops answering for every VIP and the nat_router address
// (pulse: ifconfig DEV down).
type ReleaseAddresses struct{}

// SendGARP sends one round of gratuitous ARP for every claimed address, in
// send_arp's frame layout. N counts rounds from 1 to Of.
type SendGARP struct {
	N, Of int
}

// RunCommand runs active_cmd or inactive_cmd (split on spaces, not waited
// for, as pulse did).
type RunCommand struct {
	Cmd string
}

// Log is a line for the daemon's log. Msg follows pulse's wording where
// pulse had one ("gratuitous lvs arps finished", "partner dead").
type Log struct {
	Level slog.Level
	Msg   string
}

// SyncMode is the connection sync role, as ipvsadm --start-daemon master|backup.
type SyncMode uint8

// Sync modes.
const (
	SyncBackup SyncMode = iota + 1
	SyncMaster
)

func (m SyncMode) String() string {
	if m == SyncMaster {
		return "master"
	}
	return "backup"
}

// StartSync (re)starts connection sync in Mode, stopping the other mode
// first, as pulse's activateLvs and deactivateLvs did with ipvsadm.
type StartSync struct {
	Mode SyncMode
}

// StopSync stops connection sync (shutdown).
type StopSync struct{}

func (SendHeartbeat) isAction()    {}
func (ClaimAddresses) isAction()   {}
func (ReleaseAddresses) isAction() {}
func (SendGARP) isAction()         {}
func (RunCommand) isAction()       {}
func (Log) isAction()              {}
func (StartSync) isAction()        {}
func (StopSync) isAction()         {}

func (a SendHeartbeat) String() string {
	return fmt.Sprintf("SendHeartbeat{%s %s seq=%d flags=%#x}", a.Channel, a.Msg.State, a.Msg.Seq, uint8(a.Msg.Flags))
}
func (ClaimAddresses) String() string   { return "ClaimAddresses" }
func (ReleaseAddresses) String() string { return "ReleaseAddresses" }
func (a SendGARP) String() string       { return fmt.Sprintf("SendGARP{%d/%d}", a.N, a.Of) }
func (a RunCommand) String() string     { return fmt.Sprintf("RunCommand{%q}", a.Cmd) }
func (a Log) String() string            { return fmt.Sprintf("Log{%q}", a.Msg) }
func (a StartSync) String() string      { return "StartSync{" + a.Mode.String() + "}" }
func (StopSync) String() string         { return "StopSync" }
