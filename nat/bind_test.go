package nat

import (
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

func ms(d time.Duration) ipvs.Tick { return ipvs.Tick(d.Milliseconds()) }

func TestFlowCountedActiveInactiveUntilSwept(t *testing.T) {
	type counts struct{ conns, active, inactive int }
	get := func(c *ipvs.Counters) counts {
		return counts{int(c.Conns.Load()), int(c.Active.Load()), int(c.Inactive.Load())}
	}
	dest, svc := &ipvs.Counters{}, &ipvs.Counters{}
	st := Stats{Dest: dest, Svc: svc}
	tb := NewTable(0)
	f, _ := tb.Add(protoTCP, rip1, client, vip, 0, st, nil, 0)
	u, _ := tb.Add(protoUDP, rip2, client, vip, 0, st, nil, 0)
	if _, err := tb.Add(protoTCP, rip1, client, vip, 0, st, nil, 0); err != nil { // the same flow again
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func()
		want counts
	}{
		{"SYN out, UDP datagram", func() {}, counts{2, 1, 1}},
		{"SYN-ACK back", func() { tb.LookupIn(protoTCP, client, f.Outer, tcpSYN|tcpACK, 10) }, counts{2, 1, 1}},
		{"FIN", func() { tb.LookupOut(protoTCP, rip1, client, tcpFIN|tcpACK, 20) }, counts{2, 0, 2}},
		{"swept while alive", func() { tb.Expire(30) }, counts{2, 0, 2}},
		{"TCP expired (FIN_WAIT 2 min) and swept", func() { tb.Expire(ms(2*time.Minute) + 21) }, counts{2, 0, 1}},
		{"UDP expired (5 min) and swept", func() { tb.Expire(ms(5*time.Minute) + 1) }, counts{2, 0, 0}},
	}
	for _, s := range steps {
		s.do()
		if got := get(dest); got != s.want {
			t.Errorf("%s: destination conns/active/inactive = %v, want %v", s.name, got, s.want)
		}
	}
	if got := svc.Conns.Load(); got != 2 {
		t.Errorf("service Conns = %d, want 2", got)
	}
	if _, ok := tb.LookupOut(protoUDP, u.Inner, u.Peer, 0, ms(6*time.Minute)); ok {
		t.Error("a swept flow is still found")
	}
	// A flow a standby installs from sync is the active router's: not counted.
	sb, c := NewTable(0), &ipvs.Counters{}
	r := Entry{Flow: Flow{Proto: protoTCP, Inner: rip1, Peer: client, Outer: f.Outer}, State: conntrack.StateEstablished, Left: time.Minute}.Record()
	if err := sb.Import(r, Stats{Dest: c}, 0); err != nil {
		t.Fatal(err)
	}
	sb.Expire(ms(2 * time.Minute))
	if got := get(c); got != (counts{}) {
		t.Errorf("imported flow counted %v, want nothing", got)
	}
}

// A packet that found its flow just before the flow was swept (a worker
// between get and step) cannot move the flow's count afterwards.
func TestSweptFlowStepsNoCount(t *testing.T) {
	d := &ipvs.Counters{}
	tb := NewTable(0)
	fl, _ := tb.Add(protoTCP, rip1, client, vip, 0, Stats{Dest: d}, nil, 0)
	f := tb.get(keyOf(protoTCP, fl.Inner, fl.Peer), 0)
	a, b := tb.shardOf(f.fwd), tb.shardOf(f.rev)
	lock(a, b)
	tb.unlinkLocked(f)
	unlock(a, b)
	tb.step(f, Out, tcpFIN, 1) // would move it from active to inactive
	if act, inact := d.Active.Load(), d.Inactive.Load(); act != 0 || inact != 0 {
		t.Errorf("after the sweep and a late packet: active %d inactive %d, want 0 and 0", act, inact)
	}
}

func TestTidySweepsAtMostOnceASecond(t *testing.T) {
	tb := NewTable(0)
	tb.Add(protoUDP, rip1, client, vip, 0, Stats{}, nil, 0)
	tb.Add(protoUDP, rip2, client, vip, 0, Stats{}, nil, ms(time.Minute))
	at := ms(5*time.Minute) + 1 // the first has expired
	if n := tb.Tidy(at); n != 1 {
		t.Fatalf("Tidy = %d, want 1", n)
	}
	if n := tb.Tidy(at + ms(time.Minute)); n != 1 {
		t.Errorf("Tidy a minute later = %d, want 1 (the second)", n)
	}
	tb.Add(protoUDP, rip1, client, vip, 0, Stats{}, nil, at)
	if n := tb.Tidy(at + ms(time.Minute) + ms(5*time.Minute) + 500); n != 1 {
		t.Errorf("Tidy = %d, want 1", n)
	}
	tb.Add(protoUDP, rip2, client, vip, 0, Stats{}, nil, 0)
	if n := tb.Tidy(at + ms(time.Minute) + ms(5*time.Minute) + 900); n != 0 {
		t.Errorf("Tidy 400 ms after the last sweep = %d, want 0", n)
	}
}
