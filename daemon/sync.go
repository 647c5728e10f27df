package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"lvs/config"
	"lvs/conntrack"
	"lvs/ha"
	"lvs/ipvs"
)

// connSync is lvs.cf's `syncdaemon = 1`: the active router streams its
// connection table to the standby, which installs the entries without
// counting them as its own traffic, so established connections survive a
// takeover and a failback. This first version sends the whole table
// periodically (a bulk dump, as the IPVS sync daemon does when a backup
// joins) rather than per packet; the period grows with the table so the
// stream stays under about 50,000 records a second.
type connSync struct {
	cfg    ha.SyncConfig
	conn   *net.UDPConn
	recv   *ha.SyncReceiver
	in     chan ha.SyncBatch // received batches, imported by the management goroutine
	send   *ha.SyncSender    // non-nil while this router is the sync master
	cancel context.CancelFunc
	last   time.Time // last dump sent
	lost   uint64    // received batches dropped because the management goroutine lagged
}

// startSync binds the sync socket when lvs.cf asks for connection sync.
func startSync(c *config.Config, all []netip.Prefix) (*connSync, error) {
	if !c.SyncDaemon || !c.BackupActive || !c.Backup.IsValid() {
		return nil, nil
	}
	var own []netip.Addr
	for _, p := range all {
		own = append(own, p.Addr())
	}
	role, err := ha.FindRole(c.Primary, c.Backup, own)
	if err != nil {
		return nil, err
	}
	cfg := ha.SyncConfigFor(haSettings(c), role)
	cfg.SyncID = c.SyncdID
	conn, err := ha.ListenSync(cfg)
	if err != nil {
		return nil, fmt.Errorf("listening for connection sync on %v: %w", cfg.Local, err)
	}
	s := &connSync{cfg: cfg, conn: conn, in: make(chan ha.SyncBatch, 256)}
	s.recv, err = ha.NewSyncReceiver(cfg, conn, func(b ha.SyncBatch) {
		select {
		case s.in <- b:
		default:
			s.lost++
		}
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// role follows the role machine: the master sends, the backup only receives.
func (s *connSync) role(ctx context.Context, mode ha.SyncMode, log *slog.Logger) {
	if s == nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
		s.cancel, s.send = nil, nil
	}
	if mode != ha.SyncMaster {
		return
	}
	snd, err := ha.NewSyncSender(s.cfg, s.conn)
	if err != nil {
		log.Error("starting connection sync", "err", err)
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	s.send, s.cancel = snd, cancel
	go snd.Run(sctx)
	log.Info("connection sync: sending to the peer", "peer", s.cfg.PeerAddr)
}

// tick sends the table when the period has passed.
func (s *connSync) tick(now time.Time, ct *conntrack.Table, t ipvs.Tick) {
	if s == nil || s.send == nil {
		return
	}
	period := time.Second + time.Duration(ct.Len()/50_000)*time.Second
	if now.Sub(s.last) < period {
		return
	}
	s.last = now
	var recs []conntrack.Record
	ct.Records(t, func(r conntrack.Record) bool {
		recs = append(recs, r)
		return true
	})
	if len(recs) > 0 {
		s.send.Bulk(recs)
	}
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
