package conntrack

import (
	"testing"
	"time"

	"lvs/ipvs"
)

func TestTableFull(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 10})
	set := DefaultSettings()
	set.SecureTCP = 0 // a client ACK establishes (with secure_tcp it needs the server's)
	v.ct.SetSettings(set)
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	for i := range 10 {
		k := tcpKey(cli, uint16(1000+i), 80)
		v.schedule(s, k, SYN, start)
		v.ct.In(k, ACK, start) // established
	}
	c, st := v.ct.Schedule(s, tcpKey(cli, 2000, 80), 0, SYN, start)
	if st != TableFull || c.Handle != 0 {
		t.Fatalf("11th flow: %v, want table full", st)
	}
	if got := v.ct.Stats(); got.Full != 1 || got.Entries != 10 || got.Evicted != 0 {
		t.Errorf("Stats = %+v, want full 1, 10 entries, nothing evicted", got)
	}
	for i := range 10 {
		if c, ok := v.ct.Lookup(tcpKey(cli, uint16(1000+i), 80)); !ok || c.State() != StateEstablished {
			t.Fatalf("established flow %d evicted", i)
		}
	}
	check(t, v.ct, v.reg)
}

func TestHalfOpenEvictedFirst(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 10})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	for i := range 5 {
		k := tcpKey(cli, uint16(1000+i), 80)
		v.schedule(s, k, SYN, start)
		v.ct.In(k, ACK, start)
	}
	for i := range 5 { // a SYN flood: half-open entries
		v.schedule(s, tcpKey(clientN(i), 6000, 80), SYN, start)
	}
	if st := v.ct.Stats(); st.HalfOpen != 5 || !st.Pressure {
		t.Fatalf("Stats = %+v, want 5 half-open under pressure", st)
	}
	// Each new flow displaces one half-open entry, never an established one.
	for i := range 5 {
		v.schedule(s, tcpKey(cli, uint16(3000+i), 80), SYN, start)
	}
	if st := v.ct.Stats(); st.Evicted != 5 || st.Entries != 10 {
		t.Errorf("Stats = %+v, want 5 evicted, 10 entries", st)
	}
	for i := range 5 {
		if _, ok := v.ct.Lookup(tcpKey(cli, uint16(1000+i), 80)); !ok {
			t.Errorf("established flow %d evicted while half-open ones existed", i)
		}
	}
	// Now every entry is established or the newest half-open ones; those go
	// next, and a table of established flows only refuses.
	check(t, v.ct, v.reg)
}

func TestSecureTCPUnderPressure(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 10})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	first := v.schedule(s, tcpKey(cli, 1, 80), SYN, start)
	if in := infoOf(t, v.ct, first.Handle, start); in.Expires != 60*time.Second {
		t.Fatalf("SYN_RECV without pressure expires in %v, want 60s", in.Expires)
	}
	for i := range 8 {
		v.schedule(s, tcpKey(cli, uint16(100+i), 80), SYN, start)
	}
	// 9 of 10: at the 90% pressure level; the next SYN gets the short timeout
	// and the secure_tcp table.
	c := v.schedule(s, tcpKey(cli, 2, 80), SYN, start)
	if in := infoOf(t, v.ct, c.Handle, start); in.Expires != 5*time.Second {
		t.Errorf("SYN_RECV under pressure expires in %v, want 5s", in.Expires)
	}
	// secure_tcp: a client ACK alone does not establish a SYN_RECV entry.
	if got, _ := v.ct.In(tcpKey(cli, 2, 80), ACK, start); got.State() != StateSynRecv {
		t.Errorf("ACK on SYN_RECV under secure_tcp = %v, want SYN_RECV", got.State())
	}
	set := DefaultSettings()
	set.SecureTCP = 0
	v.ct.SetSettings(set)
	if got, _ := v.ct.In(tcpKey(cli, 2, 80), ACK, start); got.State() != StateEstablished {
		t.Errorf("ACK with secure_tcp off = %v, want ESTABLISHED", got.State())
	}
	// Due at 6 s: the one other SYN_RECV entry made at the pressure level
	// (the 9th); those made before keep 60 s.
	if n := v.ct.Expire(start+6*sec, 1<<20); n != 1 {
		t.Errorf("expired %d at 6 s, want 1 (the short-timeout entry)", n)
	}
	if n := v.ct.Expire(start+60*sec, 1<<20); n != 8 {
		t.Errorf("expired %d at 60 s, want the 8 entries made before pressure", n)
	}
	check(t, v.ct, v.reg)
}

func TestDefaultMaxEntries(t *testing.T) {
	n := DefaultMaxEntries()
	if n < 1<<16 || n > 1<<26 {
		t.Errorf("DefaultMaxEntries() = %d, out of [64Ki, 64Mi]", n)
	}
	ct := NewTable(ipvs.NewRegistry(), Config{})
	if ct.Stats().MaxEntries != n {
		t.Errorf("default MaxEntries = %d, want %d", ct.Stats().MaxEntries, n)
	}
}
