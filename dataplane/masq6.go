package dataplane

import (
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
	"lvs/nat"
)

// IPv6 masquerading and the FTP helper for IPv6 NAT services: what masq.go
// and ftp.go do for IPv4, on the IPv6 path (worker6.go, nat6.go). The
// flows live in the same nat.Table (its keys hold IPv6 ends), the rules
// are the IPv6 ones of the same nat.Masquerade (ip6tables-save MASQUERADE
// lines, lvs.cf masquerade blocks with IPv6 addresses), and the FTP
// helper reads EPRT |2| commands and 229 (EPSV) replies, which carry no
// address to rewrite (RFC 2428), as ip_vs_ftp does for AF_INET6. As an
// IPv6 router never fragments, a masqueraded datagram larger than the
// egress MTU is answered with packet too big. masq.go's functions serve
// both families; what differs is here (natHop6) and in the route,
// neighbour and address lookups they choose by family.

// owns6 reports whether the IPv6 address a is this router's: masqOut's
// check for the standby router. It stays out of line: inlined into
// masqOut (Port6's 16-byte key), it made the IPv4 masq-out path of
// BenchmarkWorkerNAT ~20 ns slower (233 → 256 ns CPU per packet, medians
// of 12 paired runs).
//
//go:noinline
func (st *State) owns6(a netip.Addr) bool {
	_, ok := st.Owned.Port6(a.As16())
	return ok
}

// natHop6 is natSend's IPv6 step (masq.go): the next hop towards dst; a
// frame too big for the egress MTU is answered with packet too big, and
// its hop limit is decremented. lvsd's own errors about it come from the
// router's address towards a real server, from the VIP (the frame's
// destination) towards the public side. It reports false, with the
// verdict, for a frame that cannot go on.
func (w *Worker) natHop6(f []byte, m Meta, st *State, dst netip.Addr, dir nat.Dir) (int, frame.MAC, Verdict, bool) {
	p := &w.p
	out, mac, ok := w.nextHop6(st, dst)
	if !ok {
		return 0, mac, w.C.drop(DropNoNeigh), false
	}
	src := p.Dst.Addr()
	if dir == nat.Out {
		src = w.in.Addr6
	}
	if w.tooBig6(m, out, 0) {
		return 0, mac, w.packetTooBig6(f, w.d.Ports[out].MTU, src), false
	}
	if !frame.IPv6(f[p.L3:p.End]).DecHopLimit() {
		w.icmp6Error(f, frame.ICMPv6TimeExceeded, frame.ICMPv6HopLimitExceeded, 0, src)
		return 0, mac, w.C.drop(DropTTL), false
	}
	return out, mac, 0, true
}

// ftpIn6 is ftpIn for a client's IPv6 segment of connection c to the
// virtual address p.Dst.
func (w *Worker) ftpIn6(f []byte, m Meta, st *State, c conntrack.Conn, now ipvs.Tick) Meta {
	p := &w.p
	if p.Proto != frame.ProtoTCP || p.IsFragment() || c.Method() != ipvs.Masq || !st.NAT.helper(p.Dst) {
		return m
	}
	a, ok := w.d.CT.Addrs(c)
	if !ok {
		return m
	}
	return w.ftpClient(f, m, st, c, a, now) // ftp.go
}

// ftpOut6 is ftpOut for a real server's IPv6 segment of connection c.
func (w *Worker) ftpOut6(f []byte, m Meta, st *State, c conntrack.Conn, now ipvs.Tick) ([]byte, Meta) {
	p := &w.p
	if p.Proto != frame.ProtoTCP || p.IsFragment() || len(st.NAT.FTP) == 0 {
		return f, m
	}
	a, ok := w.d.CT.Addrs(c)
	if !ok || !st.NAT.helper(a.Virtual) {
		return f, m
	}
	return w.ftpServer(f, m, st, c, a, now) // ftp.go
}
