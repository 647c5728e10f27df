package nat

// A flow counts as a connection of its real server, as IPVS counts the FTP
// data connections ip_vs_ftp binds to the control connection's
// destination (ip_vs_bind_dest, ip_vs_unbind_dest): a new flow adds one to
// the destination's connections and to its active count (TCP, from the
// first SYN: pre-established states count as active) or its inactive
// count (UDP); a TCP flow that closes moves to the inactive count; an
// expired flow, once swept (Expire), leaves both. The service counts the
// connection too. Flows a standby installed from sync records (Import)
// are not counted: they are the active router's connections.

// active reports whether a flow in state s counts as an active
// connection, as tcp_state_active_table.
func (f *flow) active(s tcpState) bool {
	return f.Proto == protoTCP && (s == stSynSent || s == stEstablished)
}

// bind counts a flow the table has just created on its counters.
func (f *flow) bind() {
	if f.Stats.Svc != nil {
		f.Stats.Svc.Conns.Add(1)
	}
	if d := f.Stats.Dest; d != nil {
		f.bound, f.epoch = true, d.Epoch()
		d.Bind(f.active(tcpState(f.state.Load())), f.epoch)
	}
}

// moved follows a state change from one state to the next.
func (f *flow) moved(from, to tcpState) {
	if f.bound && f.active(from) != f.active(to) {
		f.Stats.Dest.Move(f.active(to), f.epoch)
	}
}

// unbind uncounts an unlinked flow. Its state becomes stDead first, so a
// packet that found the flow just before it went cannot move it later.
func (f *flow) unbind() {
	for {
		s := tcpState(f.state.Load())
		if s == stDead {
			return
		}
		if f.state.CompareAndSwap(uint32(s), uint32(stDead)) {
			if f.bound {
				f.Stats.Dest.Unbind(f.active(s), f.epoch)
			}
			return
		}
	}
}
