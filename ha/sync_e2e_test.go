package ha

import (
	"net/netip"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
	"lvs/sched"
)

// director is one router's service and connection tables, built from the
// same configuration on both routers.
type director struct {
	t   *testing.T
	reg *ipvs.Registry
	tbl *ipvs.Table
	ct  *conntrack.Table
}

var (
	e2eWeb   = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: syncVIP, Port: 80}
	e2eHTTPS = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: syncVIP, Port: 443}
	e2eDNS   = ipvs.ServiceKey{Proto: ipvs.UDP, Addr: syncVIP, Port: 53}
)

func newDirector(t *testing.T) *director {
	reg := ipvs.NewRegistry()
	d := &director{t: t, reg: reg, tbl: ipvs.NewTable(reg, sched.New), ct: conntrack.NewTable(reg, conntrack.Config{MaxEntries: 10000})}
	for _, spec := range []ipvs.ServiceSpec{
		{Key: e2eWeb, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}},
		{Key: e2eHTTPS, SchedSpec: ipvs.SchedSpec{SchedName: "rr", Persistence: 300 * time.Second}},
		{Key: e2eDNS, SchedSpec: ipvs.SchedSpec{SchedName: "rr"}},
	} {
		d.must(d.tbl.AddService(spec))
		for _, rip := range []netip.Addr{syncRIP1, syncRIP2} {
			d.must(d.tbl.AddDest(spec.Key, ipvs.DestSpec{Addr: rip, Port: spec.Key.Port, Method: ipvs.Masq, Weight: 1}))
		}
	}
	return d
}

func (d *director) must(tbl *ipvs.Table, err error) {
	d.t.Helper()
	if err != nil {
		d.t.Fatal(err)
	}
	d.tbl = tbl
}

// flow is one client flow the primary carries.
type flow struct {
	key  conntrack.Key
	real netip.AddrPort
}

func e2eKey(svc ipvs.ServiceKey, i int) conntrack.Key {
	cli := netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})
	return conntrack.Key{Proto: svc.Proto, Client: netip.AddrPortFrom(cli, uint16(20000+i)), Virtual: netip.AddrPortFrom(svc.Addr, svc.Port)}
}

// TestSyncEndToEnd: the primary schedules flows; a bulk dump when the
// backup joins and the incremental stream afterwards (decided by
// SyncPolicy) go through a SyncSender and SyncReceiver over UDP on
// 127.0.0.1; the backup imports them on its management goroutine into its
// own tables, and then carries every flow to the same real server, by
// client key and by reply key.
func TestSyncEndToEnd(t *testing.T) {
	primary, backup := newDirector(t), newDirector(t)
	ca, cb, a, b := udpPair(t, syncTestKey)
	batches := make(chan SyncBatch, 4096)
	s, r, _ := syncPair(t, ca, cb, a, b, func(b SyncBatch) { batches <- b })
	policy := DefaultSyncPolicy()
	now := ipvs.Tick(1_000_000)

	var flows []flow
	// packet applies one client packet to the primary and queues the
	// entry for the backup when the policy says so, as the dataplane would.
	packet := func(k conntrack.Key, fl conntrack.TCPFlags, sync bool) {
		t.Helper()
		var c conntrack.Conn
		prev := conntrack.StateNone
		if old, ok := primary.ct.Lookup(k); ok {
			prev = old.State()
			var v conntrack.Verdict
			if c, v = primary.ct.In(k, fl, now); v != conntrack.Hit {
				t.Fatalf("In(%v) = %v", k, v)
			}
		} else {
			svc := primary.tbl.Lookup(k.Proto, k.Virtual.Addr(), k.Virtual.Port())
			var st conntrack.Status
			if c, st = primary.ct.Schedule(svc, k, 0, fl, now); st != conntrack.Scheduled {
				t.Fatalf("Schedule(%v) = %v", k, st)
			}
			flows = append(flows, flow{k, c.Real()})
		}
		pkts, _ := primary.ct.InPkts(c.Handle)
		if sync && policy.NeededConn(c, prev, pkts) {
			rec, ok := primary.ct.Record(c.Handle, now)
			if !ok {
				t.Fatalf("Record(%v) stale", c)
			}
			s.Add(rec)
		}
	}
	handshake := func(k conntrack.Key, sync bool) {
		if k.Proto == ipvs.UDP {
			for range 3 {
				packet(k, 0, sync)
			}
			return
		}
		packet(k, conntrack.SYN, sync)
		packet(k, conntrack.ACK, sync) // ESTABLISHED
		packet(k, conntrack.ACK, sync) // data: the third packet reaches sync_threshold
	}

	// Before the backup joins: flows on all three services, not streamed.
	for i := range 100 {
		handshake(e2eKey(e2eWeb, i), false)
		handshake(e2eKey(e2eHTTPS, i), false)
		handshake(e2eKey(e2eDNS, i), false)
	}
	// The backup joins: bulk dump.
	var dump []conntrack.Record
	primary.ct.Records(now, func(r conntrack.Record) bool {
		dump = append(dump, r)
		return true
	})
	if len(dump) != 400 { // 300 connections and 100 templates
		t.Fatalf("dump of %d records, want 400", len(dump))
	}
	s.Bulk(dump)
	// Afterwards: new flows stream incrementally, and a web flow closes.
	for i := 100; i < 200; i++ {
		now += 10
		handshake(e2eKey(e2eWeb, i), true)
		handshake(e2eKey(e2eDNS, i), true)
	}
	closing := e2eKey(e2eWeb, 3)
	packet(closing, conntrack.FIN|conntrack.ACK, true)

	// The backup's management goroutine imports what arrives.
	imported := 0
	deadline := time.After(10 * time.Second)
	for {
		st := s.Stats()
		if st.Pending == 0 && uint64(imported) == st.Records && r.Stats().Bulks == 1 {
			break
		}
		select {
		case batch := <-batches:
			for _, rec := range batch.Records {
				if err := backup.ct.Import(rec, backup.tbl, now); err != nil {
					t.Fatalf("Import(%+v): %v", rec, err)
				}
				imported++
			}
		case <-deadline:
			t.Fatalf("imported %d records; sender %+v; receiver %+v", imported, s.Stats(), r.Stats())
		case <-time.After(time.Millisecond):
		}
	}
	// If the closing flow was queued while the dump was still being sent,
	// its dump copy was superseded by the newer record.
	if st := s.Stats(); st.BulkRecords+st.Superseded != 400 || st.Records != st.BulkRecords+201 || st.Dropped != 0 {
		t.Errorf("sender %+v, want 400 bulk (sent or superseded) and 201 incremental records", st)
	}

	// Takeover: the backup carries every flow to the same real server.
	if len(flows) != 500 {
		t.Fatalf("%d flows", len(flows))
	}
	for _, f := range flows {
		c, ok := backup.ct.Lookup(f.key)
		if !ok || c.Real() != f.real || c.Flags()&conntrack.FlagSync == 0 {
			t.Fatalf("backup Lookup(%v) = %v %v flags %v, want %v synced", f.key, c, ok, c.Flags(), f.real)
		}
		rc, ok := backup.ct.LookupReply(conntrack.ReplyKey{Proto: f.key.Proto, Real: f.real, Client: f.key.Client})
		if !ok || rc.Handle != c.Handle {
			t.Fatalf("backup LookupReply(%v, %v) = %v %v", f.real, f.key.Client, rc, ok)
		}
		if f.key.Proto == ipvs.TCP {
			p, _ := primary.ct.Lookup(f.key)
			want := p.State()
			if want != conntrack.StateEstablished && f.key != closing || want == conntrack.StateEstablished && f.key == closing {
				t.Errorf("primary %v in %v", f.key, want)
			}
			if c.State() != want {
				t.Errorf("backup %v in %v, want %v", f.key, c.State(), want)
			}
		}
		if c, v := backup.ct.In(f.key, conntrack.ACK, now+1); v != conntrack.Hit || c.Real() != f.real {
			t.Fatalf("backup In(%v) = %v %v, want a hit on %v", f.key, c, v, f.real)
		}
	}
	// The synced persistence templates steer a returning client's new
	// connection to the real server of its earlier one.
	for i := range 100 {
		k := e2eKey(e2eHTTPS, i)
		old, _ := primary.ct.Lookup(k)
		k.Client = netip.AddrPortFrom(k.Client.Addr(), 40000)
		c, st := backup.ct.Schedule(backup.tbl.Service(e2eHTTPS), k, 0, conntrack.SYN, now+2)
		if st != conntrack.Scheduled || c.Real() != old.Real() {
			t.Fatalf("backup Schedule(%v) = %v %v, want %v (synced template)", k, c, st, old.Real())
		}
	}
}
