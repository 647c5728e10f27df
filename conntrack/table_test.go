package conntrack

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"lvs/ipvs"
)

func TestTCPLifecycleNAT(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	c1 := v.counters(web, rip1)
	k := tcpKey(cli, 40000, 80)
	now := start

	c := v.schedule(s, k, SYN, now)
	if c.State() != StateSynRecv || c.Real() != ap(rip1, 80) || c.Method() != ipvs.Masq || c.Flags()&FlagNoOutput != 0 {
		t.Fatalf("after SYN: %v flags %v", c, c.Flags())
	}
	if c1.Active.Load() != 1 || c1.Inactive.Load() != 0 || c1.Conns.Load() != 1 {
		t.Fatalf("SYN_RECV counts active=%d inactive=%d conns=%d, want 1 0 1", c1.Active.Load(), c1.Inactive.Load(), c1.Conns.Load())
	}
	if got, ok := v.ct.Lookup(k); !ok || got.Handle != c.Handle {
		t.Fatalf("Lookup after Schedule = %v %v", got, ok)
	}
	steps := []struct {
		name   string
		dir    Dir
		fl     TCPFlags
		want   State
		active bool
		to     time.Duration
	}{
		{"syn-ack from server", DirOutput, SYN | ACK, StateSynRecv, true, 60 * time.Second},
		{"ack from client", DirInput, ACK, StateEstablished, true, 900 * time.Second},
		{"data", DirInput, ACK, StateEstablished, true, 900 * time.Second},
		{"server fin", DirOutput, FIN | ACK, StateFinWait, false, 120 * time.Second},
		{"client fin", DirInput, FIN | ACK, StateTimeWait, false, 120 * time.Second},
	}
	for _, st := range steps {
		now += sec
		var got Conn
		var ok bool
		if st.dir == DirOutput {
			got, ok = v.ct.Out(ReplyKey{Proto: ipvs.TCP, Real: ap(rip1, 80), Client: k.Client}, st.fl, now)
		} else {
			var vd Verdict
			got, vd = v.ct.In(k, st.fl, now)
			ok = vd == Hit
		}
		if !ok || got.State() != st.want {
			t.Fatalf("%s: state %v ok=%v, want %v", st.name, got.State(), ok, st.want)
		}
		if a := c1.Active.Load() == 1; a != st.active || c1.Active.Load()+c1.Inactive.Load() != 1 {
			t.Errorf("%s: active=%d inactive=%d, want active %v", st.name, c1.Active.Load(), c1.Inactive.Load(), st.active)
		}
		info := infoOf(t, v.ct, got.Handle, now)
		if info.Expires != st.to {
			t.Errorf("%s: expires in %v, want %v", st.name, info.Expires, st.to)
		}
	}
	if in, _ := v.ct.InPkts(c.Handle); in != 4 {
		t.Errorf("InPkts = %d, want 4 (SYN, ACK, data, FIN)", in)
	}
	// TIME_WAIT lasts 120 s: not gone a second early, gone at the deadline.
	if n := v.ct.Expire(now+119*sec, 1<<20); n != 0 || v.ct.Len() != 1 {
		t.Fatalf("Expire before deadline removed %d", n)
	}
	if n := v.ct.Expire(now+120*sec, 1<<20); n != 1 || v.ct.Len() != 0 {
		t.Fatalf("Expire at deadline removed %d, len %d", n, v.ct.Len())
	}
	if c1.Active.Load() != 0 || c1.Inactive.Load() != 0 {
		t.Errorf("after expiry active=%d inactive=%d", c1.Active.Load(), c1.Inactive.Load())
	}
	if _, ok := v.ct.Get(c.Handle); ok {
		t.Error("stale handle still resolves")
	}
	check(t, v.ct, v.reg)
}

func infoOf(t *testing.T, ct *Table, h Handle, now ipvs.Tick) Info {
	t.Helper()
	var found Info
	ct.Walk(now, func(in Info) bool {
		if in.Handle == h {
			found = in
			return false
		}
		return true
	})
	if found.Handle != h {
		t.Fatalf("Walk did not find %#x", h)
	}
	return found
}

func TestDirectRoutingUsesInputOnly(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Route, rip1)
	k := tcpKey(cli, 40001, 80)
	c := v.schedule(s, k, SYN, start)
	if c.Flags()&FlagNoOutput == 0 || c.Method() != ipvs.Route {
		t.Fatalf("DR entry flags %v method %v, want nooutput route", c.Flags(), c.Method())
	}
	c, _ = v.ct.In(k, ACK, start+sec)
	c, _ = v.ct.In(k, FIN|ACK, start+2*sec)
	if c.State() != StateFinWait {
		t.Errorf("DR client FIN from ES = %v, want FIN_WAIT (INPUT_ONLY table)", c.State())
	}
	check(t, v.ct, v.reg)
}

// TestDirectRoutingStates steps DR connections through the table packet
// by packet, the director seeing only the client's side, and checks each
// state and timeout against IPVS: a DR entry has NOOUTPUT
// (__ip_vs_update_dest), so set_tcp_state reads every client packet from
// the INPUT-ONLY rows of tcp_states (ip_vs_proto_tcp.c), and each packet
// re-arms the timer with the new state's tcp_timeouts entry. A client that
// closes with FIN then ACKs the server's FIN leaves the entry in FIN_WAIT:
// INPUT-ONLY fin sES→sFW, then ack sFW→sFW, for FIN_WAIT's 120 s after
// the last ACK; IPVS never sees the server's FIN, so it has no TIME_WAIT
// for DR either.
func TestDirectRoutingStates(t *testing.T) {
	type step struct {
		fl   TCPFlags
		want State
		to   time.Duration
	}
	var (
		syn    = step{SYN, StateSynRecv, 60 * time.Second}        // syn sNO→sSR
		ack    = step{ACK, StateEstablished, 900 * time.Second}   // ack sSR→sES
		finAck = step{FIN | ACK, StateFinWait, 120 * time.Second} // fin sES→sFW
		lastAk = step{ACK, StateFinWait, 120 * time.Second}       // ack sFW→sFW
		est    = []step{syn, ack, {ACK, StateEstablished, 900 * time.Second}}
		closed = func(s ...step) []step { return append(append([]step{}, est...), s...) }
	)
	tests := []struct {
		name  string
		steps []step
	}{
		{"client FIN then ACK of the server's FIN", closed(finAck, lastAk)},
		{"server FIN first: client ACKs it, then FIN, then ACK", closed(
			step{ACK, StateEstablished, 900 * time.Second}, finAck, lastAk)},
		{"FIN retransmitted", closed(finAck, step{FIN | ACK, StateFinWait, 120 * time.Second})}, // fin sFW→sFW
		{"RST after FIN", closed(finAck, step{RST | ACK, StateClose, 10 * time.Second})},        // rst sFW→sCL
		{"RST while established", closed(step{RST, StateClose, 10 * time.Second})},              // rst sES→sCL
		{"SYN reusing the port in FIN_WAIT", closed(finAck, syn)},                               // syn sFW→sSR
		{"ACK after CLOSE", closed(step{RST, StateClose, 10 * time.Second},
			step{ACK, StateClose, 10 * time.Second})}, // ack sCL→sCL
		{"FIN before the handshake's ACK", []step{syn, {FIN | ACK, StateTimeWait, 120 * time.Second}}}, // fin sSR→sTW
		{"RST in SYN_RECV", []step{syn, {RST, StateSynRecv, 60 * time.Second}}},                        // rst sSR→sSR
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, Config{MaxEntries: 1000})
			s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Route, rip1)
			k := tcpKey(cli, uint16(41000+i), 80)
			now := start
			c := v.schedule(s, k, tt.steps[0].fl, now)
			for j, st := range tt.steps {
				if j > 0 {
					now += 7 * sec
					var vd Verdict
					if c, vd = v.ct.In(k, st.fl, now); vd != Hit {
						t.Fatalf("step %d (%#x): In = %v, want hit", j, st.fl, vd)
					}
				}
				if c.State() != st.want || c.Flags()&FlagNoOutput == 0 {
					t.Fatalf("step %d (%#x): state %v flags %v, want %v with nooutput", j, st.fl, c.State(), c.Flags(), st.want)
				}
				if got := infoOf(t, v.ct, c.Handle, now).Expires; got != st.to {
					t.Errorf("step %d (%#x): expires in %v, want %v", j, st.fl, got, st.to)
				}
			}
			// The last packet's timeout runs out, not a second early.
			to := ipvs.Tick(tt.steps[len(tt.steps)-1].to / time.Millisecond)
			if n := v.ct.Expire(now+to-sec, 1<<20); n != 0 {
				t.Errorf("Expire a second before the timeout removed %d", n)
			}
			if n := v.ct.Expire(now+to, 1<<20); n != 1 || v.ct.Len() != 0 {
				t.Errorf("Expire at the timeout removed %d, len %d", n, v.ct.Len())
			}
			check(t, v.ct, v.reg)
		})
	}
}

func TestTimeoutsSettable(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1)
	if got := v.ct.Timeouts(); got != (Timeouts{900 * time.Second, 120 * time.Second, 300 * time.Second}) {
		t.Fatalf("default Timeouts() = %+v, want 900s 120s 300s", got)
	}
	for st, want := range map[State]time.Duration{StateNone: 2 * time.Second, StateSynSent: 120 * time.Second,
		StateSynRecv: 60 * time.Second, StateTimeWait: 120 * time.Second, StateClose: 10 * time.Second,
		StateCloseWait: 60 * time.Second, StateLastAck: 30 * time.Second, StateListen: 120 * time.Second,
		StateSynAck: 120 * time.Second} {
		if got := v.ct.StateTimeout(st); got != want {
			t.Errorf("StateTimeout(%v) = %v, want %v", st, got, want)
		}
	}
	k := Key{Proto: ipvs.UDP, Client: ap(cli, 5353), Virtual: ap(vip, 53)}
	c := v.schedule(s, k, 0, start)
	if c.Flags()&FlagInactive == 0 {
		t.Error("UDP entry counted active")
	}
	if in := infoOf(t, v.ct, c.Handle, start); in.Expires != 300*time.Second || in.State() != StateNone {
		t.Errorf("UDP entry expires in %v state %v", in.Expires, in.State())
	}
	v.ct.SetTimeouts(0, 0, 30*time.Second) // ipvsadm --set 0 0 30
	if got := v.ct.Timeouts(); got.TCP != 900*time.Second || got.TCPFin != 120*time.Second || got.UDP != 30*time.Second {
		t.Errorf("after --set 0 0 30: %+v", got)
	}
	// The running entry keeps its old deadline until its next packet.
	if in := infoOf(t, v.ct, c.Handle, start+sec); in.Expires != 299*time.Second {
		t.Errorf("old entry re-armed early: %v", in.Expires)
	}
	v.ct.In(k, 0, start+10*sec)
	if n := v.ct.Expire(start+39*sec, 1<<20); n != 0 {
		t.Fatalf("UDP entry expired 29 s after its last packet")
	}
	if n := v.ct.Expire(start+40*sec, 1<<20); n != 1 {
		t.Fatalf("UDP entry not expired 30 s after its last packet")
	}
	v.ct.SetTimeouts(100*time.Second, 50*time.Second, 0)
	if got := v.ct.Timeouts(); got != (Timeouts{100 * time.Second, 50 * time.Second, 30 * time.Second}) {
		t.Errorf("after --set 100 50 0: %+v", got)
	}
}

func TestExpireNodestConn(t *testing.T) {
	for _, on := range []bool{true, false} {
		v := newEnv(t, Config{MaxEntries: 1000})
		set := DefaultSettings()
		set.ExpireNodestConn = on
		v.ct.SetSettings(set)
		s := v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1, rip2)
		k := Key{Proto: ipvs.UDP, Client: ap(cli, 5353), Virtual: ap(vip, 53)}
		c := v.schedule(s, k, 0, start)
		dead := c.Real().Addr()
		v.must(v.tbl.DeleteDest(dns, dead, 53))
		_, vd := v.ct.In(k, 0, start+sec)
		switch {
		case on && vd != Miss:
			t.Fatalf("expire_nodest_conn=1: In = %v, want miss (entry expired)", vd)
		case !on && vd != Drop:
			t.Fatalf("expire_nodest_conn=0: In = %v, want drop", vd)
		}
		if on {
			c2 := v.schedule(v.svc(dns), k, 0, start+sec)
			if c2.Real().Addr() == dead {
				t.Errorf("rescheduled to the removed dest")
			}
			if st := v.ct.Stats(); st.NoDest != 1 {
				t.Errorf("Stats.NoDest = %d", st.NoDest)
			}
		} else if v.ct.Len() != 1 || v.ct.Stats().Dropped != 1 {
			t.Errorf("expire_nodest_conn=0: len %d dropped %d", v.ct.Len(), v.ct.Stats().Dropped)
		}
		check(t, v.ct, v.reg)
	}
}

func TestSweepExpiresDeadDestWithoutPackets(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1, rip2)
	for p := uint16(1000); p < 1100; p++ {
		v.schedule(s, Key{Proto: ipvs.UDP, Client: ap(cli, p), Virtual: ap(vip, 53)}, 0, start)
	}
	c1 := v.counters(dns, rip1)
	v.must(v.tbl.DeleteDest(dns, rip1, 53))
	if n := v.ct.Expire(start+sec, 1<<20); n != 50 || c1.Inactive.Load() != 0 || v.ct.Len() != 50 {
		t.Errorf("sweep removed %d (dest inactive %d, len %d), want 50 0 50", n, c1.Inactive.Load(), v.ct.Len())
	}
	check(t, v.ct, v.reg)
}

func TestConnReuse(t *testing.T) {
	tests := []struct {
		name    string
		mode    int
		method  ipvs.Method
		to      []TCPFlags // client packets after the SYN
		resched bool
	}{
		{"time_wait reschedules", 1, ipvs.Masq, []TCPFlags{ACK, FIN, ACK}, false},
		{"close reschedules", 1, ipvs.Masq, []TCPFlags{ACK, RST}, true},
		{"mode 0 reuses", 0, ipvs.Masq, []TCPFlags{ACK, RST}, false},
		{"established is kept", 1, ipvs.Masq, []TCPFlags{ACK}, false},
		{"DR fin_wait mode 1 kept", 1, ipvs.Route, []TCPFlags{ACK, FIN}, false},
		{"DR fin_wait mode 3 reschedules", 3, ipvs.Route, []TCPFlags{ACK, FIN}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, Config{MaxEntries: 1000})
			set := DefaultSettings()
			set.ConnReuseMode = tt.mode
			v.ct.SetSettings(set)
			s := v.service(ipvs.ServiceSpec{Key: web}, tt.method, rip1, rip2)
			k := tcpKey(cli, 40000, 80)
			first := v.schedule(s, k, SYN, start)
			for i, f := range tt.to {
				v.ct.In(k, f, start+ipvs.Tick(i+1)*sec)
			}
			c, vd := v.ct.In(k, SYN, start+10*sec)
			if tt.resched {
				if vd != Miss {
					t.Fatalf("SYN on reused port: %v (state %v), want miss", vd, c.State())
				}
				c2 := v.schedule(s, k, SYN, start+10*sec)
				if c2.Real() == first.Real() || c2.State() != StateSynRecv {
					t.Errorf("rescheduled to %v (%v), want the other dest in SYN_RECV", c2.Real(), c2.State())
				}
				if v.ct.Stats().Resched != 1 {
					t.Errorf("Stats.Resched = %d", v.ct.Stats().Resched)
				}
			} else if vd != Hit || c.Handle != first.Handle {
				t.Fatalf("SYN = %v, want the old entry", vd)
			}
			check(t, v.ct, v.reg)
		})
	}
	// Time-wait through the full state path (ACK, FIN from both sides).
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1, rip2)
	k := tcpKey(cli, 40002, 80)
	first := v.schedule(s, k, SYN, start)
	rk := ReplyKey{Proto: ipvs.TCP, Real: first.Real(), Client: k.Client}
	v.ct.Out(rk, SYN|ACK, start)
	v.ct.In(k, ACK, start)
	v.ct.Out(rk, FIN|ACK, start)
	if c, _ := v.ct.In(k, FIN|ACK, start); c.State() != StateTimeWait {
		t.Fatalf("state %v, want TIME_WAIT", c.State())
	}
	if _, vd := v.ct.In(k, SYN, start+sec); vd != Miss {
		t.Errorf("SYN on TIME_WAIT = %v, want miss", vd)
	}
	// A quiesced destination with expire_nodest_conn: a new SYN reschedules
	// even an established entry.
	c := v.schedule(s, k, SYN, start+sec)
	v.ct.In(k, ACK, start+sec)
	v.must(v.tbl.EditDest(web, ipvs.DestSpec{Addr: c.Real().Addr(), Port: 80, Method: ipvs.Masq, Weight: 0}))
	if _, vd := v.ct.In(k, ACK, start+2*sec); vd != Hit {
		t.Errorf("ACK to quiesced dest = %v, want hit (existing flows keep going)", vd)
	}
	if _, vd := v.ct.In(k, SYN, start+2*sec); vd != Miss {
		t.Errorf("SYN to quiesced dest = %v, want miss", vd)
	}
	check(t, v.ct, v.reg)
}

func TestNotNewAndPortMismatch(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	for _, f := range []TCPFlags{ACK, SYN | ACK, SYN | RST, FIN, 0} {
		if _, st := v.ct.Schedule(s, tcpKey(cli, 1, 80), 0, f, start); st != NotNew {
			t.Errorf("Schedule with flags %#x = %v, want NotNew", f, st)
		}
	}
	if _, st := v.ct.Schedule(s, tcpKey(cli, 1, 81), 0, SYN, start); st != PortMismatch {
		t.Errorf("Schedule to port 81 of a port-80 service = %v", st)
	}
	k6 := Key{Proto: ipvs.TCP, Client: netip.MustParseAddrPort("[2001:db8::1]:1"), Virtual: ap(vip, 80)}
	if _, st := v.ct.Schedule(s, k6, 0, SYN, start); st != Unsupported {
		t.Errorf("IPv6 Schedule = %v", st)
	}
	v.must(v.tbl.EditDest(web, ipvs.DestSpec{Addr: rip1, Port: 80, Weight: 0}))
	if _, st := v.ct.Schedule(v.svc(web), tcpKey(cli, 1, 80), 0, SYN, start); st != NoDest {
		t.Errorf("Schedule with only a quiesced dest = %v", st)
	}
	if v.ct.Len() != 0 {
		t.Errorf("Len = %d after refusals", v.ct.Len())
	}
}

func TestOnePacket(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: dns, SchedSpec: ipvs.SchedSpec{OnePacket: true}}, ipvs.Masq, rip1, rip2)
	k := Key{Proto: ipvs.UDP, Client: ap(cli, 5353), Virtual: ap(vip, 53)}
	a := v.schedule(s, k, 0, start)
	b := v.schedule(s, k, 0, start)
	if a.Real() == b.Real() || a.Flags()&FlagOnePacket == 0 || v.ct.Len() != 0 {
		t.Errorf("one-packet: %v then %v, len %d; want two dests, nothing stored", a.Real(), b.Real(), v.ct.Len())
	}
	if c := v.counters(dns, rip1); c.Conns.Load() != 1 || c.Inactive.Load() != 0 {
		t.Errorf("one-packet counters conns=%d inactive=%d", c.Conns.Load(), c.Inactive.Load())
	}
}

func TestHandleReuse(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	a := v.schedule(s, tcpKey(cli, 1, 80), SYN, start)
	if !v.ct.Delete(a.Handle) || v.ct.Delete(a.Handle) {
		t.Fatal("Delete twice did not report true then false")
	}
	b := v.schedule(s, tcpKey(cli, 1, 80), SYN, start) // same key, same shard: the freed slot
	if b.Handle.ref() != a.Handle.ref() {
		t.Fatalf("freed slot not reused: %#x vs %#x", b.Handle, a.Handle)
	}
	if _, ok := v.ct.Get(a.Handle); ok {
		t.Error("old handle resolves to the new flow")
	}
	if _, ok := v.ct.Update(a.Handle, DirInput, ACK, start); ok {
		t.Error("Update through a stale handle succeeded")
	}
	check(t, v.ct, v.reg)
}

func TestGrowthKeepsEverything(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1 << 20})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1, rip2)
	const n = 20000
	for i := range n {
		v.schedule(s, tcpKey(clientN(i), uint16(i), 80), SYN, start)
	}
	for i := range n {
		if _, ok := v.ct.Lookup(tcpKey(clientN(i), uint16(i), 80)); !ok {
			t.Fatalf("flow %d lost after growth", i)
		}
	}
	check(t, v.ct, v.reg)
	if n := v.ct.Expire(start+61*sec, 1<<30); n != 20000 || v.ct.Len() != 0 {
		t.Fatalf("expired %d, len %d", n, v.ct.Len())
	}
	check(t, v.ct, v.reg)
}

func clientN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestEntryLayout(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != 64 {
		t.Errorf("entry is %d bytes, want 64 (one cache line)", s)
	}
	if o := unsafe.Offsetof(entry{}.flags); o+4 > 48 {
		t.Errorf("reader fields end at %d, want within the first 48 bytes", o+4)
	}
	// Deadlines compare across the 32-bit wrap.
	now := ipvs.Tick(1<<32 - 500)
	d := deadline(now, 1000)
	if expired(d, now+999) || !expired(d, now+1000) || left(d, now) != time.Second {
		t.Errorf("deadline across the wrap: expired(+999)=%v expired(+1000)=%v left=%v", expired(d, now+999), expired(d, now+1000), left(d, now))
	}
}
