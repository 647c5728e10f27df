package nat

import (
	"net/netip"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

func TestEntriesListStateAndTimeLeft(t *testing.T) {
	tb := NewTable(0)
	c := &ipvs.Counters{}
	f, err := tb.Add(protoTCP, rip1, client, vip, 0, Stats{Dest: c}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	tb.LookupIn(protoTCP, client, f.Outer, tcpSYN|tcpACK, 1000)
	var es []Entry
	tb.Entries(3000, func(e Entry) bool { es = append(es, e); return true })
	if len(es) != 1 {
		t.Fatalf("Entries = %d, want 1", len(es))
	}
	e := es[0]
	if e.Inner != rip1 || e.Peer != client || e.Outer != f.Outer || e.Stats.Dest != c {
		t.Errorf("entry = %+v, want the flow %+v", e, f)
	}
	if e.State != conntrack.StateEstablished || e.Left != 15*time.Minute-2*time.Second {
		t.Errorf("entry state %v left %v, want ESTABLISHED and 15m-2s", e.State, e.Left)
	}
}

func TestSyncRecordsRoundTrip(t *testing.T) {
	master, backup := NewTable(0), NewTable(0)
	master.LogChanges(true)
	f, _ := master.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	u, _ := master.Add(protoUDP, rip2, client, vip, 0, Stats{}, nil, 0)
	master.LookupOut(protoTCP, rip1, client, tcpSYN, 10) // a retransmission changes no state: not logged again
	recs, lost := master.DrainChanges(10, nil)
	if lost || len(recs) != 2 {
		t.Fatalf("DrainChanges = %d records (lost %v), want 2", len(recs), lost)
	}
	master.LookupIn(protoTCP, client, f.Outer, tcpSYN|tcpACK, 20) // SYN_SENT → ESTABLISHED
	more, _ := master.DrainChanges(20, nil)
	if len(more) != 1 || more[0].State != conntrack.StateEstablished || more[0].Real != rip1 {
		t.Fatalf("after a state change DrainChanges = %+v, want rip1's flow ESTABLISHED", more)
	}
	if again, _ := master.DrainChanges(30, nil); len(again) != 0 {
		t.Errorf("a drained log gave %d records again", len(again))
	}
	// Over the wire and into the standby's table.
	c := &ipvs.Counters{}
	for _, r := range append(recs, more...) {
		b := conntrack.AppendRecord(nil, r)
		got, n, err := conntrack.ParseRecord(b)
		if err != nil || n != len(b) || got != r {
			t.Fatalf("ParseRecord(AppendRecord(%+v)) = %+v, %d, %v", r, got, n, err)
		}
		if err := backup.Import(got, Stats{Dest: c}, 1000); err != nil {
			t.Fatalf("Import(%+v): %v", got, err)
		}
	}
	// The standby translates both directions of both flows, counted on
	// its own destination, with the state the master had.
	for _, fl := range []Flow{f, u} {
		got, ok := backup.LookupOut(fl.Proto, fl.Inner, fl.Peer, tcpACK, 1001)
		if !ok || got.Outer != fl.Outer || got.Stats.Dest != c {
			t.Errorf("standby LookupOut(%v → %v) = %+v %v, want outer %v", fl.Inner, fl.Peer, got, ok, fl.Outer)
		}
		if _, ok := backup.LookupIn(fl.Proto, fl.Peer, fl.Outer, tcpACK, 1001); !ok {
			t.Errorf("standby LookupIn(%v → %v) missed", fl.Peer, fl.Outer)
		}
	}
	var states []conntrack.State
	backup.Entries(1001, func(e Entry) bool {
		if e.Proto == protoTCP {
			states = append(states, e.State)
		}
		return true
	})
	if len(states) != 1 || states[0] != conntrack.StateEstablished {
		t.Errorf("standby TCP flow states = %v, want [ESTABLISHED]", states)
	}
	// A full dump carries every live flow.
	var dump []conntrack.Record
	master.Records(40, func(r conntrack.Record) bool { dump = append(dump, r); return true })
	if len(dump) != 2 || !dump[0].NAT || !dump[1].NAT {
		t.Errorf("Records = %+v, want 2 NAT records", dump)
	}
}

func TestImportRefusesTakenOuterAndNonNAT(t *testing.T) {
	tb := NewTable(0)
	f, _ := tb.Add(protoTCP, rip1, client, vip, 0, Stats{}, nil, 0)
	r := Entry{Flow: Flow{Proto: protoTCP, Inner: rip2, Peer: client, Outer: f.Outer}, Left: time.Minute}.Record()
	if err := tb.Import(r, Stats{}, 10); err == nil {
		t.Error("Import of a flow whose public address another flow holds succeeded")
	}
	r.NAT = false
	if err := tb.Import(r, Stats{}, 10); err == nil {
		t.Error("Import of a connection record (NAT unset) succeeded")
	}
}

func TestChangeLogOffAndBounded(t *testing.T) {
	tb := NewTable(0)
	tb.Add(protoUDP, rip1, client, vip, 0, Stats{}, nil, 0)
	if recs, _ := tb.DrainChanges(0, nil); len(recs) != 0 {
		t.Errorf("logged %d changes with logging off (the standby)", len(recs))
	}
	tb.LogChanges(true)
	for i := range maxChanges + 1 {
		tb.Add(protoUDP, netip.AddrPortFrom(netip.MustParseAddr("10.11.12.5"), uint16(2000+i)), client, vip, 0, Stats{}, nil, 0)
	}
	recs, lost := tb.DrainChanges(0, nil)
	if !lost || len(recs) != maxChanges {
		t.Errorf("DrainChanges after %d flows = %d records, lost %v; want %d and lost", maxChanges+1, len(recs), lost, maxChanges)
	}
}
