package dataplane

import (
	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// IPv4 fragments carry the TCP/UDP ports in the first fragment only, so the
// later fragments of a datagram cannot be matched to a connection by their
// own headers. The worker remembers, for each datagram whose first fragment
// it forwarded, the connection it used, keyed by (source, destination,
// protocol, IP ID) as the kernel's reassembly is (RFC 791); later fragments
// follow it. PACKET_FANOUT_HASH hashes fragments by addresses only, so all
// fragments of a datagram reach the same worker and the table needs no lock.
// Fragments that arrive before their first fragment are dropped (counted as
// DropFragment); the sender's retransmission recovers, as after a loss.

const (
	fragSlots   = 64
	fragTimeout = 30_000 // ms, the kernel's ipfrag_time default
)

type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

type fragEntry struct {
	key  fragKey
	at   ipvs.Tick
	conn conntrack.Conn
	used bool
}

// fragTable is a small ring of recently forwarded datagrams.
type fragTable struct {
	e    [fragSlots]fragEntry
	next int
}

func keyOf(p *frame.Parsed) fragKey {
	return fragKey{src: p.Src.Addr().As4(), dst: p.Dst.Addr().As4(), id: p.FragID, proto: p.Proto}
}

// put remembers that datagram k went by connection c.
func (t *fragTable) put(k fragKey, c conntrack.Conn, now ipvs.Tick) {
	for i := range t.e {
		if t.e[i].used && t.e[i].key == k {
			t.e[i].conn, t.e[i].at = c, now
			return
		}
	}
	t.e[t.next] = fragEntry{key: k, at: now, conn: c, used: true}
	t.next = (t.next + 1) % fragSlots
}

// get returns the connection of datagram k, if its first fragment went by.
func (t *fragTable) get(k fragKey, now ipvs.Tick) (conntrack.Conn, bool) {
	for i := range t.e {
		e := &t.e[i]
		if e.used && e.key == k {
			if now-e.at > fragTimeout {
				e.used = false
				return conntrack.Conn{}, false
			}
			return e.conn, true
		}
	}
	return conntrack.Conn{}, false
}
