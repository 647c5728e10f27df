package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"lvs/admin"
	"lvs/admin/ipvsadm"
	"lvs/config"
	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/ha"
	"lvs/ipvs"
)

// connSync is lvs.cf's `syncdaemon = 1`: the active router streams its
// connection table to the standby, which installs the entries without
// counting them as its own traffic, so established connections survive a
// takeover and a failback. What changes (new connections, persistence
// templates, TCP state changes) is sent within a control-loop tick (200 ms
// at most), full dumps refresh the rest (see tick).
type connSync struct {
	dp      atomic.Pointer[dataplane.Dataplane] // its NAT table's flows are synced too (set by role)
	cfg     ha.SyncConfig
	conn    *net.UDPConn
	recv    *ha.SyncReceiver
	in      chan ha.SyncBatch             // received batches, imported by the management goroutine
	send    atomic.Pointer[ha.SyncSender] // set while this router is the sync master
	cancel  context.CancelFunc
	last    atomic.Int64       // last records sent (master) or batch imported (backup), Unix ns
	dumpAt  time.Time          // next full dump (master; management goroutine)
	peerWas bool               // the partner was alive at the last tick
	changes []conntrack.Record // scratch for DrainChanges
	lost    atomic.Uint64      // received batches dropped because the management goroutine lagged
	iface   string             // syncd_iface, for the status
}

// startSync binds the sync socket when lvs.cf asks for connection sync.
func startSync(c *config.Config, all []netip.Prefix) (*connSync, error) {
	if !c.SyncDaemon || !c.BackupActive || !c.Backup.IsValid() {
		return nil, nil
	}
	role, err := findRole(c, all)
	if err != nil {
		return nil, err
	}
	cfg := ha.SyncConfigFor(haSettings(c), role)
	cfg.SyncID = c.SyncdID
	conn, err := ha.ListenSync(cfg)
	if err != nil {
		return nil, fmt.Errorf("listening for connection sync on %v: %w", cfg.Local, err)
	}
	s := &connSync{cfg: cfg, conn: conn, in: make(chan ha.SyncBatch, 256), iface: c.SyncdIface}
	s.recv, err = ha.NewSyncReceiver(cfg, conn, func(b ha.SyncBatch) {
		b.Records = s.importNAT(b.Records)
		select {
		case s.in <- b:
		default:
			s.lost.Add(1)
		}
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// role follows the role machine: the master sends, the backup only
// receives. The connection table and the dataplane's NAT table log their
// changes only on the master.
func (s *connSync) role(ctx context.Context, mode ha.SyncMode, ct *conntrack.Table, dp *dataplane.Dataplane, log *slog.Logger) {
	if s == nil {
		return
	}
	s.dp.Store(dp)
	dp.NAT.LogChanges(mode == ha.SyncMaster)
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
		s.send.Store(nil)
	}
	ct.LogChanges(mode == ha.SyncMaster)
	if mode != ha.SyncMaster {
		return
	}
	snd, err := ha.NewSyncSender(s.cfg, s.conn)
	if err != nil {
		log.Error("starting connection sync", "err", err)
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	s.send.Store(snd)
	s.cancel, s.dumpAt = cancel, time.Time{} // a new master starts with a full dump
	go snd.Run(sctx)
	log.Info("connection sync: sending to the peer", "peer", s.cfg.PeerAddr)
}

// refreshEvery is the base period of full dumps, which refresh the
// standby's expiry timers of connections that change nothing; it grows by
// a second per 50,000 entries so the stream stays under about 50,000
// records a second.
const refreshEvery = 30 * time.Second

// tick, on the master, streams the changes the table logged since the last
// tick (new connections and templates, TCP state changes), and sends a full
// dump when one is due: at the start, every refresh period, when the
// partner's heartbeats return after a silence (it may have restarted
// empty), and when a change log overflowed.
func (s *connSync) tick(now time.Time, ct *conntrack.Table, t ipvs.Tick, peerAlive bool) {
	if s == nil {
		return
	}
	rejoined := peerAlive && !s.peerWas
	s.peerWas = peerAlive
	snd := s.send.Load()
	if snd == nil {
		return
	}
	var lost, natLost bool
	s.changes, lost = ct.DrainChanges(t, s.changes[:0])
	dp := s.dp.Load()
	if dp != nil {
		s.changes, natLost = dp.NAT.DrainChanges(t, s.changes)
		lost = lost || natLost
	}
	for _, r := range s.changes {
		snd.Add(r)
	}
	if len(s.changes) > 0 {
		s.last.Store(now.UnixNano())
	}
	if !(lost || rejoined || now.After(s.dumpAt)) {
		return
	}
	s.dumpAt = now.Add(refreshEvery + time.Duration(ct.Len()/50_000)*time.Second)
	s.last.Store(now.UnixNano())
	var recs []conntrack.Record
	ct.Records(t, func(r conntrack.Record) bool {
		recs = append(recs, r)
		return true
	})
	if dp != nil {
		dp.NAT.Records(t, func(r conntrack.Record) bool {
			recs = append(recs, r)
			return true
		})
	}
	if len(recs) > 0 {
		snd.Bulk(recs)
	}
}

// imported notes a batch installed on the standby (management goroutine).
func (s *connSync) imported(now time.Time) { s.last.Store(now.UnixNano()) }

// status describes the stream for lvsadm -L --daemon, the API and metrics.
// It is read from API goroutines: everything it reads is atomic.
func (s *connSync) status(now time.Time) *admin.ConnSyncStatus {
	if s == nil {
		return nil
	}
	st := &admin.ConnSyncStatus{Mode: "backup", Iface: s.iface, SyncID: s.cfg.SyncID, Lost: s.lost.Load()}
	if snd := s.send.Load(); snd != nil {
		ss := snd.Stats()
		st.Mode, st.Records, st.Datagrams, st.Pending = "master", ss.Records, ss.Datagrams, ss.Pending
	} else {
		rs := s.recv.Stats()
		st.Records, st.Datagrams = rs.Records, rs.Accepted
		for _, n := range rs.Refused {
			st.Refused += n
		}
	}
	if ns := s.last.Load(); ns != 0 {
		st.Last = time.Unix(0, ns)
		st.Lag = now.Sub(st.Last)
	}
	return st
}

// batches is the stream of received batches, nil (never ready) without sync.
func (s *connSync) batches() <-chan ha.SyncBatch {
	if s == nil {
		return nil
	}
	return s.in
}

// close stops sending and receiving.
func (s *connSync) close() {
	if s == nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.conn.Close()
}

// importNAT installs the masqueraded and FTP data flows of a received batch
// in the dataplane's NAT table (receiver goroutine; the table is safe for
// concurrent use) and returns the other records, which the management
// goroutine imports into the connection table. A flow that cannot be
// installed (its public port taken here) is skipped, as a connection for a
// server this router does not have is.
func (s *connSync) importNAT(recs []conntrack.Record) []conntrack.Record {
	dp := s.dp.Load()
	rest := recs[:0]
	for _, r := range recs {
		switch {
		case !r.NAT:
			rest = append(rest, r)
		case dp != nil:
			_ = dp.ImportNAT(r, dp.Tick(time.Now()))
		}
	}
	return rest
}

// followHA applies the heartbeat and connection sync settings of the
// running configuration live, as the kernel's sync daemon follows
// `ipvsadm --stop-daemon` and `--start-daemon`: connection sync is
// restarted on its new socket (or started, or stopped) in the mode of this
// router's current role when what it was started with differs, and the
// role machine takes the new keepalive, deadtime, failback and the rest in
// the state it is in (ha.SettingsChanged; it ignores unchanged settings,
// and keeps the heartbeat addresses and port, bound at start). It runs on
// the management goroutine after every new running configuration.
func (d *lvsd) followHA(cfg *config.Config) {
	if d.syncStale(cfg) {
		d.restartSync(cfg)
	}
	d.tellHA(ha.SettingsChanged{Settings: haSettings(cfg)})
}

// syncStale reports whether the running connection sync is not the one
// cfg asks for: another socket, peer, key, sync ID or interface, or none
// where one is wanted (or the reverse).
func (d *lvsd) syncStale(cfg *config.Config) bool {
	c := pairOnly(cfg)
	want := c.SyncDaemon && c.BackupActive && c.Backup.IsValid() && d.ha != nil
	if d.sync == nil || !want {
		return want != (d.sync != nil)
	}
	role := d.ha.Status().Role
	w := ha.SyncConfigFor(haSettings(c), role)
	w.SyncID = c.SyncdID
	h := d.sync.cfg
	return w.Local != h.Local || w.PeerAddr != h.PeerAddr || w.Node != h.Node || w.Peer != h.Peer ||
		w.SyncID != h.SyncID || string(w.Key) != string(h.Key) || c.SyncdIface != d.sync.iface
}

// restartSync closes the running connection sync, if any, and starts the
// one cfg asks for: a master while this router is active in a pair, else a
// backup receiving. On error connection sync stays off, and says so.
func (d *lvsd) restartSync(cfg *config.Config) {
	if d.sync != nil {
		d.sync.close()
		d.sync = nil
		d.syncNow.Store(nil)
		d.log.Info("connection sync stopped")
	}
	if d.ha == nil {
		return
	}
	var all []netip.Prefix
	for a := range d.site.local {
		all = append(all, netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	for a := range d.site.local6 {
		all = append(all, netip.PrefixFrom(netip.AddrFrom16(a), 128))
	}
	s, err := startSync(pairOnly(cfg), all)
	if err != nil {
		d.log.Error("connection sync not restarted", "err", err)
		return
	}
	if s == nil {
		return
	}
	d.sync = s
	d.syncNow.Store(s)
	go s.recv.Run()
	mode := ha.SyncBackup
	if d.active {
		mode = ha.SyncMaster
	}
	s.role(context.Background(), mode, d.ct, d.dp, d.log) // close cancels its sender
	d.log.Info("connection sync started", "mode", mode.String(), "peer", s.cfg.PeerAddr)
}

// editSync is --start-daemon and --stop-daemon on the running
// configuration: syncdaemon on or off. Connection sync runs between the
// pair of lvs.cf (primary, backup, backup_active = 1); the role machine,
// not the argument, decides master or backup.
func editSync(c *config.Config, cmd ipvsadm.Command) error {
	if cmd.Kind == ipvsadm.KindStopDaemon {
		c.SyncDaemon = false
		return nil
	}
	if !c.BackupActive || !c.Backup.IsValid() {
		return errors.New("connection sync runs between lvs.cf's primary and backup: set backup and backup_active = 1")
	}
	c.SyncDaemon = true
	return nil
}
