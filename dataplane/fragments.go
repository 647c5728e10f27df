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
// DropFragment); the sender's retransmission recovers, as after a loss. A
// later fragment that overlaps the first one (it would rewrite the ports or
// the TCP flags the connection was chosen by, RFC 1858) is dropped
// (DropFragOverlap), as the kernel's reassembly drops overlaps. The table
// is a fixed ring, so fragments that never complete hold no memory beyond
// it: a datagram's slot is reused by a later one.

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
	end  int // bytes of payload the first fragment carried: later ones start at or after it
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

// put remembers that datagram k, whose first fragment carried end bytes of
// payload, went by connection c.
func (t *fragTable) put(k fragKey, c conntrack.Conn, end int, now ipvs.Tick) {
	for i := range t.e {
		if t.e[i].used && t.e[i].key == k {
			t.e[i].conn, t.e[i].at, t.e[i].end = c, now, end
			return
		}
	}
	t.e[t.next] = fragEntry{key: k, at: now, conn: c, end: end, used: true}
	t.next = (t.next + 1) % fragSlots
}

// get returns the connection of datagram k and the payload length of its
// first fragment, if that went by.
func (t *fragTable) get(k fragKey, now ipvs.Tick) (conntrack.Conn, int, bool) {
	for i := range t.e {
		e := &t.e[i]
		if e.used && e.key == k {
			if now-e.at > fragTimeout {
				e.used = false
				return conntrack.Conn{}, 0, false
			}
			return e.conn, e.end, true
		}
	}
	return conntrack.Conn{}, 0, false
}

// laterFragment checks a non-first fragment of datagram k against the
// first: it returns the connection to forward it by, or the reason to drop
// it. A TCP fragment at offset 8 is refused whatever came first (RFC 1858:
// it can only be there to overwrite the TCP flags).
func (t *fragTable) laterFragment(p *frame.Parsed, now ipvs.Tick) (conntrack.Conn, DropReason, bool) {
	if p.Proto == frame.ProtoTCP && p.FragOffset == 8 {
		return conntrack.Conn{}, DropTinyFragment, false
	}
	c, end, ok := t.get(keyOf(p), now)
	switch {
	case !ok:
		return c, DropFragment, false
	case p.FragOffset < end:
		return c, DropFragOverlap, false
	}
	return c, 0, true
}
