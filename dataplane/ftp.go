package dataplane

import (
	"encoding/binary"
	"net/netip"

	"lvs/conntrack"
	"lvs/frame"
	"lvs/ipvs"
	"lvs/nat"
)

// The FTP helper's part of the packet path, as the kernel's ip_vs_ftp for
// NAT services: it reads the control connection's segments in both
// directions, registers the data connections announced by 227/229 replies
// (passive) and PORT/EPRT commands (active) so that masqIn/masqOut steer
// and translate them without a firewall mark, rewrites the real server's
// address in 227 replies to the VIP, and corrects the TCP sequence numbers
// of the connection once a rewrite changed a segment's length (nf_nat's
// seqadj): the server's sequence numbers on the way out, the client's
// acknowledgements on the way in.
//
// Only segments that are not GSO super-frames are read (a control
// connection's commands and replies are small); a super-frame still gets
// its numbers corrected. A rewritten segment leaves with a complete
// checksum and no offload metadata.

// ftpIn inspects a client's segment of a control connection c before it is
// forwarded. It returns the (possibly changed) offload metadata.
func (w *Worker) ftpIn(f []byte, m Meta, st *State, c conntrack.Conn, now ipvs.Tick) Meta {
	p := &w.p
	if p.Proto != frame.ProtoTCP || p.IsFragment() || c.Method() != ipvs.Masq || !st.NAT.helper(c.Virtual()) {
		return m
	}
	return w.ftpClient(f, m, st, c, conntrack.Addrs{Client: c.Client(), Virtual: c.Virtual(), Real: c.Real()}, now)
}

// ftpClient is ftpIn for a segment the helper follows, of either family:
// a is the connection's addresses (c's own for IPv4, the table's for
// IPv6).
func (w *Worker) ftpClient(f []byte, m Meta, st *State, c conntrack.Conn, a conntrack.Addrs, now ipvs.Tick) Meta {
	p := &w.p
	payload := f[p.Payload:p.End]
	key := nat.CtlKey{Client: a.Client, Virtual: a.Virtual}
	if p.Flags&(frame.SYN|frame.ACK) == frame.SYN {
		w.d.FTP.Forget(key) // a new connection on the port of an old one
		return m
	}
	ctl := w.d.FTP.Ctl(key, len(payload) > 0, now)
	if ctl == nil {
		return m
	}
	if adj := ctl.Out(); !adj.Zero() && p.Flags&frame.ACK != 0 {
		t := frame.TCP(f[p.L4:p.End])
		w.setTCP32(t, tcpAckOff, adj.Ack(t.Ack()))
	}
	if len(payload) == 0 || m.IsGSO() {
		return m
	}
	data, ok := nat.ParseEPRT(payload)
	if !ok {
		data, _, ok = nat.ParsePORT(payload)
	}
	if ok && data.Addr().Is6() == a.Real.Addr().Is6() { // an address of the other family cannot be reached
		// The real server will connect from port vport-1 (20) to data;
		// it is to come from the VIP's port 20 (ip_vs_ftp_in).
		outer := netip.AddrPortFrom(a.Virtual.Addr(), a.Virtual.Port()-1)
		w.d.FTP.ExpectActive(a.Real.Addr(), data, outer, connStats(st, c), now)
	}
	return m
}

// ftpOut inspects a real server's segment of a control connection c before
// it is sent to the client: it registers passive data connections, rewrites
// a 227 reply's address to the VIP and corrects the sequence number. It
// returns the frame to send, which is a scratch copy when the rewrite made
// the segment longer, and its metadata; w.p describes the returned frame.
func (w *Worker) ftpOut(f []byte, m Meta, st *State, c conntrack.Conn, now ipvs.Tick) ([]byte, Meta) {
	p := &w.p
	if p.Proto != frame.ProtoTCP || p.IsFragment() || !st.NAT.helper(c.Virtual()) {
		return f, m
	}
	return w.ftpServer(f, m, st, c, conntrack.Addrs{Client: c.Client(), Virtual: c.Virtual(), Real: c.Real()}, now)
}

// ftpServer is ftpOut for a segment the helper follows, of either family
// (a as for ftpClient). A 227 reply is read over IPv4 only: an IPv6
// client uses EPSV (RFC 2428), and ip_vs_ftp reads 227 for AF_INET only.
func (w *Worker) ftpServer(f []byte, m Meta, st *State, c conntrack.Conn, a conntrack.Addrs, now ipvs.Tick) ([]byte, Meta) {
	p := &w.p
	payload := f[p.Payload:p.End]
	ctl := w.d.FTP.Ctl(nat.CtlKey{Client: a.Client, Virtual: a.Virtual}, len(payload) > 0, now)
	if ctl == nil {
		return f, m
	}
	seq := frame.TCP(f[p.L4:p.End]).Seq()
	if len(payload) > 0 && !m.IsGSO() {
		if port, ok := nat.ParseEPSV(payload); ok {
			w.d.FTP.ExpectPassive(a.Client.Addr(), netip.AddrPortFrom(a.Virtual.Addr(), port),
				netip.AddrPortFrom(a.Real.Addr(), port), connStats(st, c), now)
		} else if ap, span, ok := nat.ParsePASV(payload); ok && a.Virtual.Addr().Is4() {
			vip := a.Virtual.Addr()
			w.d.FTP.ExpectPassive(a.Client.Addr(), netip.AddrPortFrom(vip, ap.Port()),
				netip.AddrPortFrom(a.Real.Addr(), ap.Port()), connStats(st, c), now)
			if ap.Addr() != vip {
				f, m = w.rewritePASV(f, m, ctl, seq, span, netip.AddrPortFrom(vip, ap.Port()))
			}
		}
	}
	if adj := ctl.Out(); !adj.Zero() {
		w.setTCP32(frame.TCP(f[p.L4:p.End]), tcpSeqOff, adj.Seq(seq))
	}
	return f, m
}

// rewritePASV replaces the address of a 227 reply (payload span) with to,
// records the length change in ctl and returns the frame to send. When the
// reply grows and the frame has no room, it is copied to a scratch buffer;
// when that is too small the reply goes unchanged (the client then sees
// the real server's address, as without the helper).
func (w *Worker) rewritePASV(f []byte, m Meta, ctl *nat.Ctl, seq uint32, span nat.Span, to netip.AddrPort) ([]byte, Meta) {
	p := &w.p
	var text [nat.HostPortMaxLen]byte
	repl := nat.AppendHostPort(text[:0], to)
	d := len(repl) - (span.End - span.Start)
	end := p.End + d
	buf := f
	if d > 0 {
		b := w.buf()
		if b == nil || end > len(b) {
			return f, m
		}
		copy(b, f[:p.End])
		buf = b
	}
	n := nat.Splice(buf, p.Payload, p.End-p.Payload, span, repl)
	out := buf[:p.Payload+n]
	ip := frame.IPv4(out[p.L3:])
	ip.SetTotalLen(len(out) - p.L3)
	p.End = len(out)
	t := frame.TCP(out[p.L4:p.End])
	t.UpdateChecksum(frame.IPv4(out[p.L3:p.End]))
	p.Partial = false
	ctl.ResizeOut(seq, int32(d))
	return out, Meta{}
}

const (
	tcpSeqOff = 4
	tcpAckOff = 8
)

// setTCP32 sets the sequence or acknowledgement number at offset off of t
// and patches a complete checksum; a partial one (the pseudo-header sum)
// does not cover the header and stays.
func (w *Worker) setTCP32(t frame.TCP, off int, v uint32) {
	old := [4]byte(t[off : off+4])
	binary.BigEndian.PutUint32(t[off:], v)
	if !w.p.Partial {
		t.SetChecksum(frame.Update32(t.Checksum(), old, [4]byte(t[off:off+4])))
	}
}

// connStats are the counters of control connection c's destination and
// service, which its data connections are counted on (ip_vs_ftp binds
// them to the control connection's destination).
func connStats(st *State, c conntrack.Conn) nat.Stats {
	reg := st.Table.Registry()
	return nat.Stats{Dest: reg.Dest(c.Dest()), Svc: reg.Service(c.Service())}
}
