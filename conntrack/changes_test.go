package conntrack

import (
	"testing"

	"lvs/ipvs"
)

func TestChangeLog(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 100_000})
	v.service(persistent(web, 24), ipvs.Masq, rip1, rip2)
	v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1, rip2)
	k := tcpKey(cli, 40000, 80)

	v.schedule(v.svc(web), k, SYN, start)
	if got, lost := v.ct.DrainChanges(start, nil); len(got) != 0 || lost {
		t.Fatalf("with the log off: %d records (lost %v), want none", len(got), lost)
	}
	v.ct.LogChanges(true)
	k2 := tcpKey(cli, 40001, 80)
	v.schedule(v.svc(web), k2, SYN, start)
	got, _ := v.ct.DrainChanges(start, nil)
	if len(got) != 1 || got[0].State != StateSynRecv || got[0].Client != k2.Client {
		t.Fatalf("a new connection logged %+v, want its SYN_RECV record", got)
	}
	v.ct.In(k2, ACK, start+sec)
	got, _ = v.ct.DrainChanges(start+sec, nil)
	if len(got) != 1 || got[0].State != StateEstablished {
		t.Fatalf("SYN_RECV → ESTABLISHED logged %+v, want one ESTABLISHED record", got)
	}
	v.ct.In(k2, ACK, start+2*sec)
	if got, _ = v.ct.DrainChanges(start+2*sec, nil); len(got) != 0 {
		t.Errorf("an established packet logged %+v, want nothing", got)
	}
	// A new client: the persistence template and the connection.
	v.schedule(v.svc(web), tcpKey(rip2, 1, 80), SYN, start)
	got, _ = v.ct.DrainChanges(start, nil)
	if len(got) != 2 || got[0].Template == got[1].Template {
		t.Errorf("a new client logged %+v, want a template and a connection", got)
	}
	v.ct.LogChanges(false)
	v.schedule(v.svc(dns), Key{Proto: ipvs.UDP, Client: ap(cli, 5353), Virtual: ap(vip, 53)}, 0, start)
	if got, _ := v.ct.DrainChanges(start, nil); len(got) != 0 {
		t.Errorf("after LogChanges(false): %+v", got)
	}
}

func TestChangeLogOverflowIsReported(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 200_000})
	v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1, rip2)
	v.ct.LogChanges(true)
	n := numShards * changeCap * 2
	for i := range n {
		c := netipFrom(uint64(i)+1, 0).Addr()
		v.schedule(v.svc(dns), Key{Proto: ipvs.UDP, Client: ap(c, 5353), Virtual: ap(vip, 53)}, 0, start)
	}
	got, lost := v.ct.DrainChanges(start, nil)
	if !lost || len(got) == 0 || len(got) > numShards*changeCap {
		t.Errorf("%d new flows: drained %d records, lost %v; want at most %d and lost", n, len(got), lost, numShards*changeCap)
	}
	if _, lost := v.ct.DrainChanges(start, nil); lost {
		t.Error("a drain after the overflow still reports it")
	}
}
