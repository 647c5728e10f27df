package conntrack

import (
	"testing"
	"time"

	"lvs/ipvs"
)

// fakeOffload stands in for the kernel fast path: it says when it last
// forwarded each flow and records withdrawals.
type fakeOffload struct {
	seen      map[Key]ipvs.Tick
	acked     map[Key]bool
	withdrawn []Key
}

func (f *fakeOffload) Seen(c Conn) (ipvs.Tick, bool, bool) {
	k := Key{Proto: c.Proto(), Client: c.Client(), Virtual: c.Virtual()}
	t, ok := f.seen[k]
	return t, f.acked[k], ok
}

func (f *fakeOffload) Withdraw(c Conn) {
	f.withdrawn = append(f.withdrawn, Key{Proto: c.Proto(), Client: c.Client(), Virtual: c.Virtual()})
}

func TestOffloadedFlowsLiveWhileTheOffloadForwards(t *testing.T) {
	v := newEnv(t, Config{})
	v.ct.SetTimeouts(0, 0, 10*time.Second)
	s := v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1)
	off := &fakeOffload{seen: map[Key]ipvs.Tick{}}
	v.ct.SetOffload(off)
	busy := Key{Proto: ipvs.UDP, Client: ap(cli, 1000), Virtual: ap(vip, 53)}
	idle := Key{Proto: ipvs.UDP, Client: ap(cli, 1001), Virtual: ap(vip, 53)}
	plain := Key{Proto: ipvs.UDP, Client: ap(cli, 1002), Virtual: ap(vip, 53)}
	for _, k := range []Key{busy, idle, plain} {
		c := v.schedule(s, k, 0, start)
		if k != plain && !v.ct.SetOffloaded(c.Handle, DirInput, true) {
			t.Fatalf("SetOffloaded(%v) reported no change", k)
		}
	}
	if c, _ := v.ct.Lookup(busy); v.ct.SetOffloaded(c.Handle, DirInput, true) {
		t.Error("marking a flow offloaded twice reported a change: two workers would install it")
	}
	// The offload forwards the busy flow until 8 s in; nobody sends the others.
	off.seen[busy] = start + 8*sec
	off.seen[idle] = start + sec
	// At 7 s the busy flow is behind (3 s left of 10): the sweep brings it up to date.
	v.ct.Expire(start+7*sec, 1<<20)
	v.ct.Walk(start+7*sec, func(in Info) bool {
		if in.Conn.Client() == busy.Client && in.Expires != 11*time.Second {
			t.Errorf("busy flow at 7 s: %v left, want 11s (10 s after the offload's last packet at 8 s)", in.Expires)
		}
		return true
	})
	v.ct.Expire(start+12*sec, 1<<20)
	for _, tt := range []struct {
		k    Key
		live bool
	}{{busy, true}, {idle, false}, {plain, false}} {
		if _, ok := v.ct.Lookup(tt.k); ok != tt.live {
			t.Errorf("%v in the table at 12 s: %v, want %v", tt.k.Client, ok, tt.live)
		}
	}
	if len(off.withdrawn) != 1 || off.withdrawn[0] != idle {
		t.Errorf("withdrawn %v, want only the idle offloaded flow %v", off.withdrawn, idle.Client)
	}
	check(t, v.ct, v.reg)
}

// TestAdoptedConnectionFollowsTheOffload: a connection the offload
// scheduled is adopted in SYN_RECV as Schedule would have made it; once the
// offload reports the client's ACK, the sweep steps it to ESTABLISHED
// (timer of that state from the offload's last packet).
func TestAdoptedConnectionFollowsTheOffload(t *testing.T) {
	v := newEnv(t, Config{})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1, rip2)
	off := &fakeOffload{seen: map[Key]ipvs.Tick{}, acked: map[Key]bool{}}
	v.ct.SetOffload(off)
	k := tcpKey(cli, 40000, 80)
	c, st := v.ct.Adopt(s, s.Dests[1], k, start)
	if st != Scheduled || c.State() != StateSynRecv || c.Real() != ap(rip2, 80) {
		t.Fatalf("Adopt = %v in %v to %v, want Scheduled in SYN_RECV to %v", st, c.State(), c.Real(), ap(rip2, 80))
	}
	// The client reuses its port after the offload took the first
	// connection back: the old entry makes room for the new one, to the
	// server the offload picked, and nothing is withdrawn from the offload.
	v.ct.SetOffloaded(c.Handle, DirInput, true)
	reused, st := v.ct.Adopt(s, s.Dests[0], k, start+sec)
	if st != Scheduled || reused.Handle == c.Handle || reused.Real() != ap(rip1, 80) || reused.State() != StateSynRecv {
		t.Fatalf("adopting a reused tuple = %v to %v in %v; want a new SYN_RECV entry to %v", st, reused.Real(), reused.State(), ap(rip1, 80))
	}
	if _, live := v.ct.Get(c.Handle); live || len(off.withdrawn) != 0 {
		t.Errorf("old entry live %v, withdrawn from the offload %v; want gone, nothing withdrawn", live, off.withdrawn)
	}
	if n := v.counters(web, rip2); n.Active.Load() != 0 {
		t.Errorf("the old connection's server still counts %d active", n.Active.Load())
	}
	c = reused
	if _, st := v.ct.Adopt(s, s.Dests[0], Key{Proto: ipvs.ProtoAny, Client: ap(cli, 1), Virtual: ap(vip, 80)}, start); st != Unsupported {
		t.Errorf("adopting protocol 0 = %v, want Unsupported", st)
	}
	cnt := v.counters(web, rip1)
	// SYN_RECV is a pre-established state, counted active as the kernel does.
	if cnt.Active.Load() != 1 || cnt.Inactive.Load() != 0 || s.C.Conns.Load() != 2 {
		t.Fatalf("after Adopt: active %d inactive %d conns %d; want 1 0 2", cnt.Active.Load(), cnt.Inactive.Load(), s.C.Conns.Load())
	}
	v.ct.SetOffloaded(c.Handle, DirInput, true)
	v.ct.SetOffloaded(c.Handle, DirOutput, true)
	off.seen[k] = start + sec
	v.ct.Expire(start+sec+sec/2, 1<<20) // not yet due for a look
	if c, _ := v.ct.Lookup(k); c.State() != StateSynRecv {
		t.Fatalf("state %v before the sweep looked, want SYN_RECV", c.State())
	}
	off.acked[k] = true
	v.ct.Expire(start+4*sec, 1<<20)
	got, ok := v.ct.Lookup(k)
	if !ok || got.State() != StateEstablished {
		t.Fatalf("after the offload reported the ACK: %v (live %v), want ESTABLISHED", got.State(), ok)
	}
	if cnt.Active.Load() != 1 || cnt.Inactive.Load() != 0 {
		t.Errorf("after ESTABLISHED: active %d inactive %d; want 1 0", cnt.Active.Load(), cnt.Inactive.Load())
	}
	v.ct.Walk(start+4*sec, func(in Info) bool {
		if want := 15*time.Minute - 3*time.Second; in.Expires != want {
			t.Errorf("expires in %v, want %v (ESTABLISHED's timeout from the offload's packet at 1 s)", in.Expires, want)
		}
		return true
	})
}

// TestAdoptedUDPFlow: a UDP flow the offload scheduled is entered as
// Schedule would have made it (bound, counted, the UDP timeout); a second
// report for the same key (its entry left the offload's full map, or the
// Go path lost the race to install it) replaces it with the offload's
// pick, nothing withdrawn, the counts moving with it.
func TestAdoptedUDPFlow(t *testing.T) {
	v := newEnv(t, Config{})
	s := v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1, rip2)
	off := &fakeOffload{seen: map[Key]ipvs.Tick{}, acked: map[Key]bool{}}
	v.ct.SetOffload(off)
	k := Key{Proto: ipvs.UDP, Client: ap(cli, 5353), Virtual: ap(vip, 53)}
	c, st := v.ct.Adopt(s, s.Dests[1], k, start)
	if st != Scheduled || c.Real() != ap(rip2, 53) || c.Proto() != ipvs.UDP {
		t.Fatalf("Adopt = %v to %v (%v), want Scheduled to %v", st, c.Real(), c.Proto(), ap(rip2, 53))
	}
	// What Schedule makes for the same kind of flow, to compare with.
	want, _ := v.ct.Schedule(s, Key{Proto: ipvs.UDP, Client: ap(cli, 5354), Virtual: ap(vip, 53)}, 0, 0, start)
	if c.State() != want.State() || c.Flags() != want.Flags() {
		t.Errorf("adopted flow in %v flags %v; Schedule makes %v flags %v", c.State(), c.Flags(), want.State(), want.Flags())
	}
	if n := v.counters(dns, rip2); n.Inactive.Load()+n.Active.Load() != 1 {
		t.Errorf("rip2 counts %d active %d inactive, want the adopted flow", n.Active.Load(), n.Inactive.Load())
	}
	v.ct.SetOffloaded(c.Handle, DirInput, true)
	again, st := v.ct.Adopt(s, s.Dests[0], k, start+sec)
	if st != Scheduled || again.Real() != ap(rip1, 53) || again.Handle == c.Handle {
		t.Fatalf("second Adopt = %v to %v, want a new entry to %v", st, again.Real(), ap(rip1, 53))
	}
	if _, live := v.ct.Get(c.Handle); live || len(off.withdrawn) != 0 {
		t.Errorf("old entry live %v, withdrawn %v; want gone, nothing withdrawn", live, off.withdrawn)
	}
	if n := v.counters(dns, rip2); n.Inactive.Load()+n.Active.Load() != 0 {
		t.Errorf("rip2 still counts %d active %d inactive", n.Active.Load(), n.Inactive.Load())
	}
	got, ok := v.ct.Lookup(k)
	if !ok || got.Real() != ap(rip1, 53) {
		t.Errorf("lookup after the second Adopt: %v (live %v), want the flow to %v", got.Real(), ok, ap(rip1, 53))
	}
	check(t, v.ct, v.reg)
}
