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
	withdrawn []Key
}

func (f *fakeOffload) Seen(c Conn) (ipvs.Tick, bool) {
	t, ok := f.seen[Key{Proto: c.Proto(), Client: c.Client(), Virtual: c.Virtual()}]
	return t, ok
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
