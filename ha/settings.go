package ha

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Settings are the lvs.cf values pulse uses. The daemon fills them from its
// config.Config (ha does not import config yet); zero values take pulse's
// defaults in Normalize.
type Settings struct {
	Primary        netip.Addr // primary
	PrimaryPrivate netip.Addr // primary_private; unset = no private channel
	Backup         netip.Addr // backup
	BackupPrivate  netip.Addr // backup_private

	Port      uint16        // heartbeat_port, default 539 (used by the transport)
	Keepalive time.Duration // keepalive: heartbeat interval, default 2 s
	Deadtime  time.Duration // deadtime: silence before the peer is dead, default 5 s
	Serial    uint32        // serial_no, sent so a config mismatch is visible

	// Key is heartbeat_key (extension). Empty: heartbeats are not
	// authenticated, as in pulse.
	Key []byte

	// Failback (extension `failback`, default 1) makes a returning primary
	// take the active role back from the backup, as the guide describes.
	// Off gives pulse's behaviour: no preemption.
	Failback bool
	// FailbackDelay is how long the returning primary listens to the active
	// backup before asking it to hand over, time for connection sync to
	// catch up. Zero means 2 × Keepalive.
	FailbackDelay time.Duration
	// HandoverTimeout bounds a handover: a node that asked its active peer to
	// stand down claims the addresses anyway after this long, if the peer
	// still hears it (it will then yield as in a split brain). Zero means
	// Deadtime.
	HandoverTimeout time.Duration

	MonitorLinks bool // monitor_links: a link failure takes us out of service
	HardShutdown bool // hard_shutdown: a checker failure takes us out of service
	SyncDaemon   bool // syncdaemon: emit StartSync/StopSync
	ActiveCmd    string
	InactiveCmd  string

	// GARPCount and GARPInterval: send_arp was run 5 times 1 s apart.
	GARPCount    int
	GARPInterval time.Duration
}

// Pulse's defaults (lvsParseConfig, pulse.c sendArps).
const (
	DefaultPort         = 539
	DefaultKeepalive    = 2 * time.Second
	DefaultDeadtime     = 5 * time.Second
	DefaultGARPCount    = 5
	DefaultGARPInterval = time.Second
)

// Normalize returns s with defaults filled in.
func (s Settings) Normalize() Settings {
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if s.Keepalive <= 0 {
		s.Keepalive = DefaultKeepalive
	}
	if s.Deadtime <= 0 {
		s.Deadtime = DefaultDeadtime
	}
	if s.FailbackDelay <= 0 {
		s.FailbackDelay = 2 * s.Keepalive
	}
	if s.HandoverTimeout <= 0 {
		s.HandoverTimeout = s.Deadtime
	}
	if s.GARPCount <= 0 {
		s.GARPCount = DefaultGARPCount
	}
	if s.GARPInterval <= 0 {
		s.GARPInterval = DefaultGARPInterval
	}
	return s
}

// HasPrivate reports whether the private heartbeat channel is configured:
// both private addresses set and different from the public ones (pulse uses
// it only if primary_private ≠ primary).
func (s Settings) HasPrivate() bool {
	return s.PrimaryPrivate.IsValid() && s.BackupPrivate.IsValid() &&
		s.PrimaryPrivate != s.Primary && s.BackupPrivate != s.Backup
}

// Validate reports settings that cannot run a pair.
func (s Settings) Validate() error {
	var errs []error
	if !s.Primary.IsValid() || !s.Backup.IsValid() {
		errs = append(errs, errors.New("ha: primary and backup addresses are required"))
	} else if s.Primary == s.Backup {
		errs = append(errs, fmt.Errorf("ha: primary and backup are both %s", s.Primary))
	}
	if s.Keepalive > 0 && s.Deadtime > 0 && s.Deadtime <= s.Keepalive {
		errs = append(errs, fmt.Errorf("ha: deadtime %s must exceed keepalive %s", s.Deadtime, s.Keepalive))
	}
	return errors.Join(errs...)
}

// Addr returns the address of role r on channel ch (invalid when unused).
func (s Settings) Addr(r Role, ch Channel) netip.Addr {
	if ch == ChannelPrivate && !s.HasPrivate() {
		return netip.Addr{}
	}
	switch {
	case r == RolePrimary && ch == ChannelPublic:
		return s.Primary
	case r == RolePrimary:
		return s.PrimaryPrivate
	case r == RoleBackup && ch == ChannelPublic:
		return s.Backup
	case r == RoleBackup:
		return s.BackupPrivate
	}
	return netip.Addr{}
}

// Errors of FindRole.
var (
	ErrNoRole    = errors.New("neither primary nor backup is an address of this host")
	ErrBothRoles = errors.New("both primary and backup are addresses of this host")
)

// FindRole returns the role of the host owning the addresses own: primary
// if the primary address is one of them, backup if the backup address is
// (pulse's amMaster scans the interfaces for the primary address).
func FindRole(primary, backup netip.Addr, own []netip.Addr) (Role, error) {
	var isP, isB bool
	for _, a := range own {
		a = a.Unmap()
		isP = isP || a == primary.Unmap()
		isB = isB || a == backup.Unmap()
	}
	switch {
	case isP && isB:
		return RoleNone, ErrBothRoles
	case isP:
		return RolePrimary, nil
	case isB:
		return RoleBackup, nil
	}
	return RoleNone, fmt.Errorf("%w (primary %s, backup %s)", ErrNoRole, primary, backup)
}
