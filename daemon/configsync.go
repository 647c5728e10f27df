package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lvs/admin"
	"lvs/config"
	"lvs/ha"
)

// cfgSync is config sync between the two routers of a pair (issue 9 item
// 5; it replaces the guide's scp of lvs.cf, §4.7). Both routers listen on
// TCP heartbeat_port; the active one compares its running lvs.cf with the
// partner's every checkEvery, at once after a reload, a save or a takeover,
// and pushes it when the bytes differ. The standby validates the file with
// the same code as lvsd -t, applies it as a reload would, and writes it
// atomically keeping lvs.cf.bak. It needs heartbeat_key (ha.ErrConfigNoKey
// says why); without one it reports itself off and serial_no mismatches
// are still shown from the heartbeats.
type cfgSync struct {
	key    []byte
	dest   netip.AddrPort // the partner's receiver: private channel when configured
	local  netip.Addr     // our address on that channel
	ls     []net.Listener // one per channel address of ours
	recv   *ha.ConfigReceiver
	kickCh chan struct{}
	active atomic.Bool                 // mirrors lvsd.active (set on the management goroutine)
	text   atomic.Pointer[runningText] // the running lvs.cf
	log    *slog.Logger

	mu sync.Mutex
	st admin.ConfigSyncStatus
}

// runningText is lvs.cf's bytes as running, with their serial_no.
type runningText struct {
	b      []byte
	serial uint32
}

// checkEvery is how often the active router compares files with the
// partner (a 57-byte hello and a 46-byte answer when they match): a
// partner that returns gets the file within this long.
const checkEvery = 10 * time.Second

// startCfgSync sets up config sync for a pair; nil for a router alone.
func startCfgSync(c *config.Config, all []netip.Prefix, log *slog.Logger) (*cfgSync, error) {
	if !c.BackupActive || !c.Backup.IsValid() {
		return nil, nil
	}
	s := &cfgSync{key: []byte(c.HeartbeatKey), kickCh: make(chan struct{}, 1), log: log}
	if len(s.key) == 0 {
		s.st.Reason = "needs heartbeat_key: a pushed lvs.cf can run programs (active_cmd, send_program)"
		return s, nil
	}
	role, err := findRole(c, all)
	if err != nil {
		return nil, err
	}
	set := haSettings(c)
	u := ha.UDPConfigFor(set, role)
	var peers []netip.Addr
	for i := range u.Local {
		if !u.Local[i].IsValid() {
			continue
		}
		l, err := net.Listen("tcp", u.Local[i].String())
		if err != nil {
			s.close()
			return nil, fmt.Errorf("listening for config sync on %v/tcp: %w", u.Local[i], err)
		}
		s.ls = append(s.ls, l)
		peers = append(peers, u.Peer[i].Addr())
		// The private channel, when configured, is the one pushes use.
		s.dest, s.local = u.Peer[i], u.Local[i].Addr()
	}
	s.recv = &ha.ConfigReceiver{Key: s.key, Peers: peers, Log: log,
		Current: func() ([]byte, uint32) {
			t := s.text.Load()
			return t.b, t.serial
		}}
	s.st.Enabled = true
	return s, nil
}

// set records the running file (management goroutine) and asks for a
// comparison with the partner.
func (s *cfgSync) set(text []byte, serial int) {
	if s == nil {
		return
	}
	s.text.Store(&runningText{b: text, serial: uint32(serial)})
	s.kick()
}

// setActive follows the role; becoming active starts a comparison.
func (s *cfgSync) setActive(on bool) {
	if s == nil {
		return
	}
	if !s.active.Swap(on) && on {
		s.kick()
	}
}

func (s *cfgSync) kick() {
	select {
	case s.kickCh <- struct{}{}:
	default:
	}
}

// run serves the partner's offers and pushes ours while active, until ctx
// ends. apply takes a file the partner pushed.
func (s *cfgSync) run(ctx context.Context, apply func(context.Context, []byte, uint32) (string, error)) error {
	if s == nil || !s.st.Enabled {
		return nil
	}
	s.recv.Apply = func(ctx context.Context, text []byte, serial uint32) (string, error) {
		msg, err := apply(ctx, text, serial)
		s.mu.Lock()
		if err != nil {
			s.st.Refused++
		} else {
			s.st.Received++
			s.st.LastReceived = time.Now()
		}
		s.mu.Unlock()
		return msg, err
	}
	var wg sync.WaitGroup
	for _, l := range s.ls {
		wg.Go(func() {
			if err := s.recv.Serve(ctx, l); err != nil {
				s.log.Error("config sync receiver stopped", "err", err)
			}
		})
	}
	defer wg.Wait()
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kickCh:
		}
		if s.active.Load() {
			s.push(ctx)
		}
	}
}

// push compares the running file with the partner's and sends it when they
// differ.
func (s *cfgSync) push(ctx context.Context) {
	t := s.text.Load()
	if t == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	res, err := ha.PushConfig(pctx, s.dest, s.local, s.key, t.b, t.serial)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.LastCheck = time.Now()
	prev := s.st.LastError
	s.st.LastError = ""
	switch {
	case err != nil:
		s.st.LastError = err.Error()
		if errors.Is(err, ha.ErrConfigRefused) {
			s.st.LastResult = err.Error()
		}
		if s.st.LastError != prev {
			s.log.Warn("config sync: the partner did not take lvs.cf", "peer", s.dest, "serial", t.serial, "err", err)
		}
	case res.Pushed:
		s.st.Pushes++
		s.st.LastPush, s.st.LastResult = s.st.LastCheck, res.Message
		s.log.Info("config sync: lvs.cf sent to the partner", "peer", s.dest, "serial", t.serial,
			"partner_serial_before", res.PeerSerial, "result", res.Message)
	}
}

// status returns a copy of the sync status.
func (s *cfgSync) status() *admin.ConfigSyncStatus {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	return &st
}

func (s *cfgSync) close() {
	if s == nil {
		return
	}
	for _, l := range s.ls {
		l.Close()
	}
}

// takeSynced applies a file the partner pushed, on the management
// goroutine: refused while this router is active (the active router's file
// wins) or when the file would change which router this is; otherwise
// applied as a reload and written atomically, keeping lvs.cf.bak.
func (d *lvsd) takeSynced(text []byte) (string, error) {
	if d.active {
		return "", errors.New("this router is active; its own lvs.cf stays")
	}
	l, err := checkText(d.opts, text)
	if err != nil {
		return "", fmt.Errorf("lvs.cf refused, the running configuration stays: %w", err)
	}
	if n := l.cfg; n.Primary != d.cfg.Primary || n.Backup != d.cfg.Backup || n.BackupActive != d.cfg.BackupActive {
		return "", errors.New("the file changes primary, backup or backup_active: change those on both routers by hand")
	}
	if err := d.applyConfig(l.cfg, l.rules); err != nil {
		return "", fmt.Errorf("lvs.cf refused, the running configuration stays: %w", err)
	}
	msg := fmt.Sprintf("applied serial_no %d: %d services", l.cfg.Serial, len(d.table.Services()))
	if err := d.saveRunning(text); err != nil {
		msg += "; not saved: " + err.Error()
	}
	d.log.Info("config sync: lvs.cf received from the partner", "serial", l.cfg.Serial)
	return msg, nil
}

// checkText reads lvs.cf's bytes as lvsd -t does; a file with errors is
// refused with all of them.
func checkText(opts Options, text []byte) (*loaded, error) {
	l, err := loadText(opts, opts.configFile(), text)
	if err != nil {
		return nil, err
	}
	if len(l.errs) > 0 {
		errs := make([]error, len(l.errs))
		for i, e := range l.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return l, nil
}

// saveRunning writes text, now the running configuration, to lvs.cf
// (atomically, keeping lvs.cf.bak) and hands it to config sync. A write
// error is logged and returned; the configuration runs all the same.
func (d *lvsd) saveRunning(text []byte) error {
	d.text = text
	d.configChanged()
	path := d.opts.configFile()
	if err := config.ReplaceText(path, text); err != nil {
		d.log.Error("applied but not saved", "file", path, "err", err)
		return err
	}
	return nil
}

// applySynced runs takeSynced on the management goroutine.
func (d *lvsd) applySynced(ctx context.Context, text []byte, _ uint32) (string, error) {
	var msg string
	var err error
	if e := d.do(ctx, func() { msg, err = d.takeSynced(text) }); e != nil {
		return "", e
	}
	return msg, err
}

// configChanged follows a new running configuration (reload, save, sync):
// heartbeats carry its serial_no and the partner is offered the file.
func (d *lvsd) configChanged() {
	d.csync.set(d.text, d.cfg.Serial)
	d.tellHA(ha.ConfigChanged{Serial: uint32(d.cfg.Serial)})
	d.followHA(d.cfg) // heartbeat and sync settings, live (sync.go)
}

// heartbeatChanged reports whether b changes a setting the role machine,
// the heartbeat or the sync sockets took at start; a reload or a sync
// applies the rest and these at the next start.
func heartbeatChanged(a, b *config.Config) bool {
	return a.PrimaryPrivate != b.PrimaryPrivate || a.BackupPrivate != b.BackupPrivate ||
		a.HeartbeatPort != b.HeartbeatPort || a.Keepalive != b.Keepalive || a.Deadtime != b.Deadtime ||
		a.HeartbeatKey != b.HeartbeatKey || a.Failback != b.Failback || a.SyncDaemon != b.SyncDaemon ||
		a.SyncdID != b.SyncdID || a.SyncdIface != b.SyncdIface || a.MonitorLinks != b.MonitorLinks ||
		a.HardShutdown != b.HardShutdown || a.ActiveCmd != b.ActiveCmd || a.InactiveCmd != b.InactiveCmd
}
