package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"lvs/config"
	"lvs/conntrack"
	"lvs/ha"
	"lvs/ipvs"
)

// syncMesh is connection sync in the ECMP mode (redundancy = ecmp with
// syncdaemon = 1): every director sends what changes in its connection
// table (new connections and templates, TCP state changes) to every other
// director of lvs.cf's directors, and imports what they send, so a flow the
// router moves to another director (one added or removed) is already known
// there. Datagrams are those of the pair's sync (package ha), authenticated
// by heartbeat_key.
//
// Each pair of directors has a socket of its own on each side: director i
// receives from director j on port P+j and sends to it from there to port
// P+i, where P is the sync port (heartbeat_port + 1) and i, j are the
// directors' places in the directors list. So every receiver checks one
// peer's address, as in a pair.
type syncMesh struct {
	peers   []*meshPeer
	in      chan ha.SyncBatch  // received batches, imported by the management goroutine
	changes []conntrack.Record // scratch for DrainChanges (management goroutine)
	lost    atomic.Uint64      // received batches dropped because the management goroutine lagged
}

// meshPeer is the link with one other director.
type meshPeer struct {
	addr netip.Addr
	conn *net.UDPConn
	send *ha.SyncSender
	recv *ha.SyncReceiver
	boot atomic.Uint64 // the boot id of its sender, from its datagrams
	dump atomic.Bool   // a new boot id came: it (re)started, send it a full dump
}

// startMesh binds one sync socket per other director when lvs.cf asks
// for connection sync in the ECMP mode; nil otherwise.
func startMesh(c *config.Config, all []netip.Prefix, log *slog.Logger) (*syncMesh, error) {
	if c.Redundancy != config.RedundancyECMP || !c.SyncDaemon {
		return nil, nil
	}
	self, ok := ownAddr(c, all)
	dirs := c.ECMPDirectors()
	i := slices.Index(dirs, self)
	if !ok || i < 0 {
		return nil, fmt.Errorf("connection sync mesh: none of the directors (%v) is an address of this host", dirs)
	}
	base := ha.SyncPort(haSettings(c))
	m := &syncMesh{in: make(chan ha.SyncBatch, 256)}
	for j, peer := range dirs {
		if j == i {
			continue
		}
		cfg := ha.SyncConfig{Node: self, Peer: peer, SyncID: c.SyncdID, Key: []byte(c.HeartbeatKey),
			Local: netip.AddrPortFrom(self, base+uint16(j)), PeerAddr: netip.AddrPortFrom(peer, base+uint16(i))}
		p := &meshPeer{addr: peer}
		var err error
		if p.conn, err = ha.ListenSync(cfg); err != nil {
			m.close()
			return nil, fmt.Errorf("connection sync with director %v: %w", peer, err)
		}
		m.peers = append(m.peers, p)
		if p.send, err = ha.NewSyncSender(cfg, p.conn); err != nil {
			m.close()
			return nil, err
		}
		if p.recv, err = ha.NewSyncReceiver(cfg, p.conn, func(b ha.SyncBatch) {
			if p.boot.Swap(b.Header.Boot) != b.Header.Boot {
				p.dump.Store(true)
			}
			select {
			case m.in <- b:
			default:
				m.lost.Add(1)
			}
		}); err != nil {
			m.close()
			return nil, err
		}
	}
	log.Info("connection sync mesh", "directors", len(dirs), "port", base)
	return m, nil
}

// run sends and receives until ctx ends; the caller waits for it. The
// connection table must log its changes (every director is a sender).
func (m *syncMesh) run(ctx context.Context, ct *conntrack.Table) error {
	if m == nil {
		return nil
	}
	done := make(chan error, 2*len(m.peers))
	for _, p := range m.peers {
		p.send.Bulk(nil) // hello: an empty dump, so the others send theirs
		go func() { done <- p.send.Run(ctx) }()
		go func() { done <- p.recv.Run() }()
	}
	<-ctx.Done()
	m.close()
	var first error
	for range 2 * len(m.peers) {
		if err := <-done; err != nil && first == nil && ctx.Err() == nil {
			first = err
		}
	}
	return first
}

// tick sends the changes logged since the last tick to every director, a
// full dump to all when a change log overflowed, and a full dump to a
// director whose sender has a new boot id (it started, joined or
// restarted; each director says hello with an empty dump when its mesh
// starts, so the others' tables reach it within a tick or two, well before
// its first BGP session is up).
func (m *syncMesh) tick(ct *conntrack.Table, t ipvs.Tick) {
	if m == nil {
		return
	}
	var lost bool
	m.changes, lost = ct.DrainChanges(t, m.changes[:0])
	for _, p := range m.peers {
		for _, r := range m.changes {
			p.send.Add(r)
		}
	}
	var dump []*meshPeer
	for _, p := range m.peers {
		if p.dump.Swap(false) || lost {
			dump = append(dump, p)
		}
	}
	if len(dump) == 0 {
		return
	}
	var recs []conntrack.Record
	ct.Records(t, func(r conntrack.Record) bool {
		recs = append(recs, r)
		return true
	})
	for _, p := range dump {
		if len(recs) > 0 {
			p.send.Bulk(recs)
		}
	}
}

// importMesh installs a batch another director sent (management goroutine).
// A record for a service or server this director does not have (configs
// out of step) is skipped.
func (d *lvsd) importMesh(b ha.SyncBatch) {
	t := d.dp.Tick(time.Now())
	for _, r := range b.Records {
		_ = d.ct.Import(r, d.table, t)
	}
}

// batches is the stream of received batches, nil (never ready) without a mesh.
func (m *syncMesh) batches() <-chan ha.SyncBatch {
	if m == nil {
		return nil
	}
	return m.in
}

// close closes the sockets, which ends the receivers.
func (m *syncMesh) close() {
	if m == nil {
		return
	}
	for _, p := range m.peers {
		p.conn.Close()
	}
}
