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
// them further: a fragment too big for the egress gets packet too big. A
// later fragment overlapping the first is dropped (fragment_overlap): RFC
// 5722 makes the whole datagram invalid then, and it could rewrite the
// ports the connection was chosen by.

type fragKey6 struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
}

type fragEntry6 struct {
	key  fragKey6
	at   ipvs.Tick
	conn conntrack.Conn
	end  int // bytes of fragmentable part the first fragment carried
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

// put remembers that datagram k, whose first fragment carried end bytes
// after its fragment header, went by connection c.
func (t *fragTable6) put(k fragKey6, c conntrack.Conn, end int, now ipvs.Tick) {
	for i := range t.e {
		if t.e[i].used && t.e[i].key == k {
			t.e[i].conn, t.e[i].at, t.e[i].end = c, now, end
			return
		}
	}
	t.e[t.next] = fragEntry6{key: k, at: now, conn: c, end: end, used: true}
	t.next = (t.next + 1) % fragSlots
}

// later returns the connection to forward the non-first fragment p by,
// or the reason to drop it: its first fragment never went by (or timed
// out), or it overlaps the first.
func (t *fragTable6) later(p *frame.Parsed, now ipvs.Tick) (conntrack.Conn, DropReason, bool) {
	k := keyOf6(p)
	for i := range t.e {
		e := &t.e[i]
		if e.used && e.key == k {
			switch {
			case now-e.at > fragTimeout:
				e.used = false
			case p.FragOffset < e.end:
				return conntrack.Conn{}, DropFragOverlap, false
			default:
				return e.conn, 0, true
			}
			break
		}
	}
	return conntrack.Conn{}, DropFragment, false
}

// firstEnd is what put records of the first fragment p: the bytes after
// its fragment header.
func firstEnd(p *frame.Parsed) int { return p.End - int(p.FragHdr) - 8 }
