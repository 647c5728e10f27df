package ha

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

// Connection sync wire format, version 1 (issue 9 item 4; the role of the
// IPVS sync daemon, reference §3.6). One UDP datagram carries a header and N
// conntrack sync records; all integers are big-endian.
//
//	off len field
//	  0   4 magic "LVSY"
//	  4   1 version (1)
//	  5   1 flags: 0x01 authenticated (HMAC trailer present), 0x02 bulk (part
//	        of a full-table dump), 0x04 bulk end (last datagram of a dump)
//	  6   1 sync id (syncd_id; a receiver with sync id 0 accepts any)
//	  7   1 reserved (0)
//	  8   2 count: number of records that follow
//	 10   2 reserved (0)
//	 12  16 node id: the sender's public address, 16-byte form
//	 28   8 boot id: the sender's start time in Unix ns, grows across restarts
//	 36   8 sequence number, from 1, one per datagram within a boot
//	 44   … count records, each as conntrack.AppendRecord writes it (40 bytes
//	        in record version 1, 76 in version 2 for IPv6; each carries its
//	        own length, so a longer record of a later version is skipped past)
//	end  32 HMAC-SHA256(key, every byte before it), only with flag 0x01
//
// The key is heartbeat_key and the replay rules are the heartbeat's (see
// replayGuard): a sequence number is accepted once per boot and only within
// a window of the highest seen; an older boot is refused. A sender never
// writes more than MaxSyncDatagram bytes.
const (
	syMagic   = 0
	syVersion = 4
	syFlags   = 5
	sySyncID  = 6
	syCount   = 8
	syNode    = 12
	syBoot    = 28
	sySeq     = 36

	// SyncHeaderLen is the length of the sync header, before the records.
	SyncHeaderLen = 44
	// SyncVersion is the sync format version this package writes and reads.
	SyncVersion = 1
	// MaxSyncDatagram bounds what a sender writes (an Ethernet MTU less IP
	// and UDP headers, with room to spare for tunnels).
	MaxSyncDatagram = 1400
	// SyncRecvBuffer is a receive buffer size that holds any sync datagram.
	SyncRecvBuffer = 64 << 10

	syncMagicV1 = 0x4c565359 // "LVSY"
)

// SyncFlags are the flag bits of a sync datagram. Authentication is set by
// EncodeSync when given a key, not by the caller.
type SyncFlags uint8

// Sync flag bits.
const (
	syncFlagAuth SyncFlags = 1 << iota
	// SyncBulk marks a datagram of a full-table dump (SyncSender.Bulk).
	SyncBulk
	// SyncBulkEnd marks the last datagram of a dump.
	SyncBulkEnd

	syncKnownFlags = syncFlagAuth | SyncBulk | SyncBulkEnd
)

// SyncHeader is the header of a sync datagram.
type SyncHeader struct {
	Flags  SyncFlags // without the authentication bit
	SyncID uint8
	Node   netip.Addr
	Boot   uint64
	Seq    uint64
	// Count is the number of records the datagram declares; DecodeSync
	// returns fewer when it skipped records it could not use.
	Count int
}

// Errors of DecodeSync and SyncReceiver.
var (
	ErrSyncShort      = errors.New("sync datagram truncated")
	ErrSyncMagic      = errors.New("not a sync datagram")
	ErrSyncVersion    = errors.New("unsupported sync version")
	ErrSyncMalformed  = errors.New("malformed sync datagram")
	ErrSyncAuth       = errors.New("sync datagram authentication failed")
	ErrSyncNoAuth     = errors.New("unauthenticated sync datagram refused: heartbeat_key is set")
	ErrSyncAuthNoKey  = errors.New("authenticated sync datagram refused: no heartbeat_key here")
	ErrSyncReplay     = errors.New("replayed sync datagram")
	ErrSyncOldBoot    = errors.New("sync datagram from an older boot")
	ErrSyncWrongPeer  = errors.New("sync datagram from an unexpected sender")
	ErrSyncWrongID    = errors.New("sync datagram with another sync id")
	errSyncNoHandler  = errors.New("ha: SyncReceiver needs a handler")
	errSyncNoPeer     = errors.New("ha: SyncReceiver needs the peer's node id")
	errSyncNoPeerAddr = errors.New("ha: SyncSender needs the peer's address")
)

// SyncCapacity returns how many version-1 (IPv4) records fit in one
// datagram of at most MaxSyncDatagram bytes, with or without
// authentication. IPv6 records (version 2, conntrack.RecordLen6 bytes) are
// almost twice as long, so fewer of them fit: the sender fills a datagram
// by bytes (syncRoom), not by this count.
func SyncCapacity(authenticated bool) int { return syncRoom(authenticated) / conntrack.RecordLen }

// syncRoom returns how many bytes of records one datagram of at most
// MaxSyncDatagram bytes holds, with or without authentication.
func syncRoom(authenticated bool) int {
	n := MaxSyncDatagram - SyncHeaderLen
	if authenticated {
		n -= sha256.Size
	}
	return n
}

// recordLen returns the length of r on the wire: conntrack.RecordLen, or
// conntrack.RecordLen6 when an address is IPv6 (AppendRecord decides).
func recordLen(r conntrack.Record) int {
	var b [conntrack.RecordLen6]byte
	return len(conntrack.AppendRecord(b[:0], r))
}

// EncodeSync appends the datagram of h and recs to b. With a non-empty key
// it is authenticated with HMAC-SHA256. h.Count is ignored: the count is
// len(recs). The caller keeps the size within MaxSyncDatagram (SyncCapacity).
func EncodeSync(b []byte, h SyncHeader, recs []conntrack.Record, key []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, syncMagicV1)
	fl := h.Flags &^ syncFlagAuth
	if len(key) > 0 {
		fl |= syncFlagAuth
	}
	b = append(b, SyncVersion, byte(fl), h.SyncID, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(recs)))
	b = append(b, 0, 0)
	a := h.Node.As16()
	if !h.Node.IsValid() {
		a = [16]byte{}
	}
	b = append(b, a[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Boot)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	for _, r := range recs {
		b = conntrack.AppendRecord(b, r)
	}
	if len(key) > 0 {
		mac := hmac.New(sha256.New, key)
		mac.Write(b[start:])
		b = mac.Sum(b)
	}
	return b
}

// DecodeSync parses and authenticates one sync datagram and appends its
// records to recs. key is heartbeat_key; empty means sync is not
// authenticated. As for heartbeats, a datagram is accepted only if its
// authentication matches ours. A record of a known length that
// conntrack.ParseRecord refuses (a protocol or state of a later version) is
// skipped, so h.Count may exceed the records returned; a datagram whose
// records do not add up is malformed. DecodeSync does not check replays,
// sender or sync id (SyncReceiver does). It never panics.
func DecodeSync(b []byte, key []byte, recs []conntrack.Record) (SyncHeader, []conntrack.Record, error) {
	var h SyncHeader
	if len(b) < SyncHeaderLen {
		return h, recs, ErrSyncShort
	}
	if binary.BigEndian.Uint32(b[syMagic:]) != syncMagicV1 {
		return h, recs, ErrSyncMagic
	}
	if b[syVersion] != SyncVersion {
		return h, recs, fmt.Errorf("%w %d", ErrSyncVersion, b[syVersion])
	}
	fl := SyncFlags(b[syFlags])
	if fl&^syncKnownFlags != 0 || b[7] != 0 || b[10] != 0 || b[11] != 0 {
		return h, recs, ErrSyncMalformed
	}
	body := b
	switch {
	case len(key) == 0 && fl&syncFlagAuth != 0:
		return h, recs, ErrSyncAuthNoKey
	case len(key) > 0 && fl&syncFlagAuth == 0:
		return h, recs, ErrSyncNoAuth
	case len(key) > 0:
		if len(b) < SyncHeaderLen+sha256.Size {
			return h, recs, ErrSyncShort
		}
		body = b[:len(b)-sha256.Size]
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		if !hmac.Equal(mac.Sum(nil), b[len(body):]) {
			return h, recs, ErrSyncAuth
		}
	}
	h.Flags = fl &^ syncFlagAuth
	h.SyncID = b[sySyncID]
	h.Count = int(binary.BigEndian.Uint16(b[syCount:]))
	h.Node = netip.AddrFrom16([16]byte(b[syNode : syNode+16])).Unmap()
	h.Boot = binary.BigEndian.Uint64(b[syBoot:])
	h.Seq = binary.BigEndian.Uint64(b[sySeq:])
	if h.Seq == 0 || h.Flags&SyncBulkEnd != 0 && h.Flags&SyncBulk == 0 {
		return h, recs, ErrSyncMalformed
	}
	in := recs
	p := body[SyncHeaderLen:]
	for range h.Count {
		r, n, err := conntrack.ParseRecord(p)
		if err != nil {
			// Skip a record a later version writes, if its length is
			// readable; anything else breaks the datagram.
			if !errors.Is(err, conntrack.ErrBadRecord) || len(p) < 4 {
				return h, in, fmt.Errorf("%w: record %d: %v", ErrSyncMalformed, len(recs)-len(in), err)
			}
			n = int(binary.BigEndian.Uint16(p[2:]))
			if n < conntrack.RecordLen || n > len(p) {
				return h, in, fmt.Errorf("%w: %v", ErrSyncMalformed, err)
			}
			p = p[n:]
			continue
		}
		recs = append(recs, r)
		p = p[n:]
	}
	if len(p) != 0 {
		return h, in, fmt.Errorf("%w: %d bytes after the records", ErrSyncMalformed, len(p))
	}
	return h, recs, nil
}

// SyncPolicy holds the sync daemon's sysctls that decide when a connection
// is sent (ip_vs_sync_conn_needed with sync_refresh_period 0).
type SyncPolicy struct {
	// Threshold and Period are sync_threshold: a connection is sent when
	// its client packet count is Threshold modulo Period (default 3, 50).
	// Period 0 sends only when the count equals Threshold.
	Threshold uint32
	Period    uint32
}

// DefaultSyncPolicy returns the kernel's sync_threshold "3 50".
func DefaultSyncPolicy() SyncPolicy { return SyncPolicy{Threshold: 3, Period: 50} }

// Needed reports whether an entry should be sent to the backup now, after a
// client packet, as ip_vs_sync_conn_needed decides it:
//   - a one-packet entry never is; a template always is (it follows the
//     connection it controls: when a controlled connection is sent, or gets
//     a packet, send its template too);
//   - a TCP connection only in ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT or
//     TIME_WAIT; entering one of those other than ESTABLISHED (state differs
//     from prev) sends at once;
//   - otherwise (TCP ESTABLISHED, UDP, ICMP) when pkts, the client packets
//     counted so far this one included, is Threshold modulo Period — the
//     periodic refresh that keeps the backup's timer from running out.
//
// prev is the state the entry had before the packet (the kernel keeps the
// state when last synced; the state before the packet gives the same
// answer except for a state change that was not synced, which the periodic
// refresh catches). pkts is conntrack.Table.InPkts.
func (p SyncPolicy) Needed(proto ipvs.Proto, flags conntrack.Flags, prev, state conntrack.State, pkts uint32) bool {
	switch {
	case flags&conntrack.FlagOnePacket != 0:
		return false
	case flags&conntrack.FlagTemplate != 0:
		return true
	case proto == ipvs.TCP:
		switch state {
		case conntrack.StateEstablished:
		case conntrack.StateFinWait, conntrack.StateClose, conntrack.StateCloseWait, conntrack.StateTimeWait:
			if state != prev {
				return true
			}
		default:
			return false
		}
	}
	if p.Period > 0 {
		return pkts%p.Period == p.Threshold
	}
	return pkts == p.Threshold
}

// NeededConn is Needed for the Conn the table returned after the packet.
func (p SyncPolicy) NeededConn(c conntrack.Conn, prev conntrack.State, pkts uint32) bool {
	return p.Needed(c.Proto(), c.Flags(), prev, c.State(), pkts)
}

// SyncPacketConn is the datagram socket sync runs over; *net.UDPConn
// implements it, and SyncPipe is the in-memory fake.
type SyncPacketConn interface {
	// ReadFromUDPAddrPort reads one datagram into b (truncating a longer
	// one) and returns its length and source. After Close it returns an
	// error wrapping net.ErrClosed.
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	// WriteToUDPAddrPort sends b to addr. It does not retain b.
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	Close() error
}

// SyncConfig configures both ends of the sync channel of one node.
type SyncConfig struct {
	// Node is our node id (our public address), sent in every datagram.
	Node netip.Addr
	// Peer is the peer's node id (its public address); the receiver
	// refuses datagrams of any other node.
	Peer netip.Addr
	// Local is where this node's sync socket binds (ListenSync).
	Local netip.AddrPort
	// PeerAddr is where the sender sends; the receiver accepts datagrams
	// only from its address (any port). Invalid: the receiver does not
	// check the source address.
	PeerAddr netip.AddrPort
	// SyncID is syncd_id: sent in every datagram; a receiver with a
	// non-zero SyncID refuses other ids.
	SyncID uint8
	// Key is heartbeat_key; empty: not authenticated, as heartbeats.
	Key []byte
	// Interval is how often the sender flushes what is queued (default
	// 20 ms); a full datagram's worth is sent at once.
	Interval time.Duration
	// QueueLen bounds the records queued between flushes (default 65536);
	// beyond it the oldest is dropped.
	QueueLen int
	// BulkBurst is how many datagrams of a bulk dump are sent per Interval
	// (default 32), so a dump does not overrun the peer's socket buffer.
	BulkBurst int
}

// Sync defaults.
const (
	DefaultSyncInterval  = 20 * time.Millisecond
	DefaultSyncQueueLen  = 1 << 16
	DefaultSyncBulkBurst = 32
)

func (c SyncConfig) normalize() SyncConfig {
	if c.Interval <= 0 {
		c.Interval = DefaultSyncInterval
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultSyncQueueLen
	}
	if c.BulkBurst <= 0 {
		c.BulkBurst = DefaultSyncBulkBurst
	}
	return c
}

// lastSyncBoot is the boot id of the newest SyncSender of this process.
var lastSyncBoot atomic.Uint64

// newSyncBoot returns a boot id for a new SyncSender: its start time in Unix
// ns, and always above the previous sender's, so a sender made again (on a
// failback) is not refused as a replay of the one before.
func newSyncBoot() uint64 {
	now := uint64(time.Now().UnixNano())
	for {
		last := lastSyncBoot.Load()
		b := max(now, last+1)
		if lastSyncBoot.CompareAndSwap(last, b) {
			return b
		}
	}
}

// SyncPort returns the sync port under s: heartbeat_port + 1 (540 by
// default).
func SyncPort(s Settings) uint16 { return s.Normalize().Port + 1 }

// SyncConfigFor returns the SyncConfig of role r under s: node ids are the
// public addresses; the channel is the private one when configured (issue
// 9: "over the private channel when configured"), else the public one, on
// SyncPort; the key is heartbeat_key. The daemon sets SyncID (syncd_id).
func SyncConfigFor(s Settings, r Role) SyncConfig {
	s = s.Normalize()
	ch := ChannelPublic
	if s.HasPrivate() {
		ch = ChannelPrivate
	}
	port := SyncPort(s)
	c := SyncConfig{Node: s.Addr(r, ChannelPublic), Peer: s.Addr(r.Other(), ChannelPublic), Key: s.Key}
	if l, p := s.Addr(r, ch), s.Addr(r.Other(), ch); l.IsValid() && p.IsValid() {
		c.Local = netip.AddrPortFrom(l, port)
		c.PeerAddr = netip.AddrPortFrom(p, port)
	}
	return c
}

// ListenSync binds the UDP sync socket at c.Local, asking for a large
// receive buffer so a bulk dump is not dropped (the kernel caps it at
// net.core.rmem_max).
func ListenSync(c SyncConfig) (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(c.Local))
	if err != nil {
		return nil, fmt.Errorf("binding sync socket %s: %w", c.Local, err)
	}
	_ = conn.SetReadBuffer(4 << 20) // best effort
	return conn, nil
}
