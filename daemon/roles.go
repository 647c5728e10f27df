package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"lvs/config"
	"lvs/ha"
)

// haSettings turns lvs.cf's redundancy keys into the heartbeat settings.
func haSettings(c *config.Config) ha.Settings {
	return ha.Settings{
		Primary: c.Primary, PrimaryPrivate: c.PrimaryPrivate, Backup: c.Backup, BackupPrivate: c.BackupPrivate,
		Port: c.HeartbeatPort, Keepalive: c.Keepalive, Deadtime: c.Deadtime, Serial: uint32(c.Serial),
		Key: []byte(c.HeartbeatKey), Failback: c.Failback, MonitorLinks: c.MonitorLinks,
		HardShutdown: c.HardShutdown, SyncDaemon: c.SyncDaemon, ActiveCmd: c.ActiveCmd, InactiveCmd: c.InactiveCmd,
	}.Normalize()
}

// findRole is which router of lvs.cf this is: the one whose primary or
// backup address is among all, this host's addresses.
func findRole(c *config.Config, all []netip.Prefix) (ha.Role, error) {
	own := make([]netip.Addr, 0, len(all))
	for _, p := range all {
		own = append(own, p.Addr())
	}
	return ha.FindRole(c.Primary, c.Backup, own)
}

// startHA sets up pulse's part when lvs.cf names a backup (backup_active =
// 1): the role from which of primary/backup is one of this host's
// addresses, the heartbeat transport on heartbeat_port, and the role
// machine. The router starts standby and owns nothing until the machine
// says ClaimAddresses. Without a backup the router is active alone and
// returns a nil runner.
func startHA(c *config.Config, all []netip.Prefix, log *slog.Logger) (*ha.Runner, error) {
	if !c.BackupActive || !c.Backup.IsValid() {
		return nil, nil
	}
	role, err := findRole(c, all)
	if err != nil {
		return nil, fmt.Errorf("finding this router's role: %w", err)
	}
	s := haSettings(c)
	node, err := ha.NewNode(s, role)
	if err != nil {
		return nil, fmt.Errorf("heartbeat settings: %w", err)
	}
	tr, err := ha.ListenUDP(ha.UDPConfigFor(s, role))
	if err != nil {
		return nil, fmt.Errorf("listening for heartbeats on port %d: %w", s.Port, err)
	}
	log.Info("heartbeat running", "role", role.String(), "keepalive", s.Keepalive, "deadtime", s.Deadtime)
	return ha.NewRunner(node, tr, ha.SystemClock(), log), nil
}

// execute carries out one batch of the role machine's actions, in order,
// on the management goroutine.
func (d *lvsd) execute(ctx context.Context, acts ha.Actions, garp []byte) {
	for _, a := range acts {
		switch a := a.(type) {
		case ha.ClaimAddresses:
			d.active = true
			d.csync.setActive(true)
			d.dp.Publish(d.state())
			d.log.Info("taking the virtual addresses", "owned", len(d.site.owned))
		case ha.ReleaseAddresses:
			d.active = false
			d.csync.setActive(false)
			d.dp.Publish(d.state())
			d.flushFastPath() // established flows stop being forwarded too (fastpath.go)
			d.log.Info("releasing the virtual addresses")
		case ha.SendGARP:
			d.announce(garp)
		case ha.RunCommand:
			d.runCommand(a.Cmd)
		case ha.Log:
			d.log.Log(ctx, a.Level, a.Msg)
		case ha.StartSync:
			d.sync.role(ctx, a.Mode, d.ct, d.dp, d.log)
		case ha.StopSync:
			d.sync.role(ctx, 0, d.ct, d.dp, d.log)
		}
	}
}

// runCommand starts active_cmd or inactive_cmd, split on blanks (no shell),
// without waiting for it, as pulse did; a goroutine reaps it.
func (d *lvsd) runCommand(cmd string) {
	args := strings.Fields(cmd)
	if len(args) == 0 {
		return
	}
	c := exec.Command(args[0], args[1:]...)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Start(); err != nil {
		d.log.Error("running command", "cmd", cmd, "err", err)
		return
	}
	go func() {
		if err := c.Wait(); err != nil {
			d.log.Warn("command failed", "cmd", cmd, "err", err)
		}
	}()
}
