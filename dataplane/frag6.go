package dataplane

import (
	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
)

// IPv6 fragments (a fragment header, RFC 8200 §4.5) are followed as IPv4
// ones are (fragments.go): the first fragment carries the ports and finds
// the connection; the worker remembers it by (source, destination,
// upper-layer protocol, 32-bit identification), and the later fragments
// follow it. Only the source fragments in IPv6, so a router never cuts
// them further: a fragment too big for the egress gets packet too big.

type fragKey6 struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
}

type fragEntry6 struct {
	key  fragKey6
	at   ipvs.Tick
	conn conntrack.Conn
	used bool
}

// fragTable6 is fragTable for IPv6 datagrams.
type fragTable6 struct {
	e    [fragSlots]fragEntry6
	next int
}

func keyOf6(p *frame.Parsed) fragKey6 {
	return fragKey6{src: p.Src.Addr().As16(), dst: p.Dst.Addr().As16(), id: p.FragID6, proto: p.Proto}
}

// put remembers that datagram k went by connection c.
func (t *fragTable6) put(k fragKey6, c conntrack.Conn, now ipvs.Tick) {
	for i := range t.e {
		if t.e[i].used && t.e[i].key == k {
			t.e[i].conn, t.e[i].at = c, now
			return
		}
	}
	t.e[t.next] = fragEntry6{key: k, at: now, conn: c, used: true}
	t.next = (t.next + 1) % fragSlots
}

// get returns the connection of datagram k, if its first fragment went by.
func (t *fragTable6) get(k fragKey6, now ipvs.Tick) (conntrack.Conn, bool) {
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
