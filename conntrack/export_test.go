package conntrack

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"lvs/ipvs"
)

func TestRecordRoundTrip(t *testing.T) {
	recs := []Record{
		{Proto: ipvs.TCP, State: StateEstablished, Method: ipvs.Masq, Client: ap(cli, 40000),
			Virtual: ap(vip, 80), Real: ap(rip1, 8080), Timeout: 899_999 * time.Millisecond},
		{Proto: ipvs.ProtoAny, Template: true, Method: ipvs.Route, Flags: FlagNoOutput, Client: ap(cli, 0),
			Virtual: ap(netipFrom(80, 0).Addr(), 0), Real: ap(rip2, 0), FWMark: 80, Timeout: 300 * time.Second},
		{Proto: ipvs.UDP, Method: ipvs.Tunnel, Client: ap(cli, 5353), Virtual: ap(vip, 53), Real: ap(rip1, 53)},
		// A NAT table flow (an FTP data connection from rip1:20).
		{NAT: true, Proto: ipvs.TCP, State: StateSynSent, Method: ipvs.Masq, Client: ap(cli, 40001),
			Virtual: ap(vip, 20), Real: ap(rip1, 20), Timeout: 120 * time.Second},
	}
	var buf []byte
	for _, r := range recs {
		buf = AppendRecord(buf, r)
	}
	if len(buf) != len(recs)*RecordLen {
		t.Fatalf("encoded %d bytes, want %d", len(buf), len(recs)*RecordLen)
	}
	for i, want := range recs {
		got, n, err := ParseRecord(buf)
		if err != nil || n != RecordLen || got != want {
			t.Fatalf("record %d: ParseRecord = %+v, %d, %v; want %+v", i, got, n, err, want)
		}
		buf = buf[n:]
	}
	// A longer record of a later version's length is accepted and skipped.
	long := append(AppendRecord(nil, recs[0]), 1, 2, 3, 4)
	long[recLen+1] += 4
	if got, n, err := ParseRecord(long); err != nil || n != RecordLen+4 || got != recs[0] {
		t.Errorf("ParseRecord(longer) = %v %d %v", got, n, err)
	}
	bad := AppendRecord(nil, recs[0])
	bad[recState] = byte(numStates)
	if _, _, err := ParseRecord(bad); !errors.Is(err, ErrBadRecord) {
		t.Errorf("bad state: err %v", err)
	}
	if _, _, err := ParseRecord(bad[:20]); !errors.Is(err, ErrShortRecord) {
		t.Errorf("short: err %v", err)
	}
	both := AppendRecord(nil, recs[3])
	both[recType] |= recTemplate
	if _, _, err := ParseRecord(both); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a NAT template: err %v, want ErrBadRecord", err)
	}
	tbl := NewTable(ipvs.NewRegistry(), Config{})
	if err := tbl.Import(recs[3], nil, 0); !errors.Is(err, ErrNATRecord) {
		t.Errorf("Import of a NAT flow's record: err %v, want ErrNATRecord", err)
	}
}

// FuzzParseRecord: the decoder never panics, and whatever it accepts
// re-encodes, in the version its addresses call for, to a record it
// decodes to the same value.
func FuzzParseRecord(f *testing.F) {
	f.Add(AppendRecord(nil, Record{Proto: ipvs.TCP, State: StateSynRecv, Client: ap(cli, 1), Virtual: ap(vip, 80), Real: ap(rip1, 80)}))
	f.Add(AppendRecord(nil, Record{Proto: ipvs.ProtoAny, Template: true, FWMark: 7}))
	f.Add([]byte{1, 0, 0, 40})
	f.Add(AppendRecord(nil, Record{Proto: ipvs.TCP, State: StateSynRecv, Client: ap(cli6, 1), Virtual: ap(vip6, 80), Real: ap(rip61, 80)}))
	f.Add(AppendRecord(nil, Record{Proto: ipvs.UDP, Method: ipvs.Tunnel, Client: ap(cli6, 1), Virtual: ap(vip6, 53), Real: ap(rip1, 53)}))
	f.Add(AppendRecord(nil, Record{NAT: true, Proto: ipvs.TCP, Client: ap(cli6, 1), Virtual: ap(vip6, 20), Real: ap(rip61, 20)}))
	f.Add([]byte{2, 0, 0, 76})
	f.Add(AppendRecord(nil, Record{Proto: ipvs.TCP, Method: ipvs.Tunnel, Client: ap(cli, 1), Virtual: ap(vip, 80), Real: ap(rip61, 80)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := ParseRecord(b)
		if err != nil {
			return
		}
		if n < RecordLen || n > len(b) {
			t.Fatalf("ParseRecord took %d of %d bytes", n, len(b))
		}
		want := RecordLen
		if b[0] == RecordVersion6 {
			want = RecordLen6
		}
		enc := AppendRecord(nil, r)
		r2, n2, err := ParseRecord(enc)
		if err != nil || n2 != want || r2 != r {
			t.Fatalf("round trip: %+v → %+v (%v)", r, r2, err)
		}
		if !bytes.Equal(AppendRecord(nil, r2), enc) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestExportImport(t *testing.T) {
	master := newEnv(t, Config{MaxEntries: 1000})
	backup := newEnv(t, Config{MaxEntries: 1000})
	for _, v := range []*env{master, backup} {
		v.service(persistent(web, 24), ipvs.Masq, rip1, rip2)
		v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1, rip2)
	}
	k := tcpKey(cli, 40000, 80)
	c := master.schedule(master.svc(web), k, SYN, start)
	master.ct.In(k, ACK, start)
	master.schedule(master.svc(dns), Key{Proto: ipvs.UDP, Client: ap(cli, 5353), Virtual: ap(vip, 53)}, 0, start)
	var stream []byte
	master.ct.Records(start+sec, func(r Record) bool {
		stream = AppendRecord(stream, r)
		return true
	})
	if len(stream) != 3*RecordLen {
		t.Fatalf("exported %d bytes, want 3 records (template, TCP, UDP)", len(stream))
	}
	for len(stream) > 0 {
		r, n, err := ParseRecord(stream)
		if err != nil {
			t.Fatal(err)
		}
		if err := backup.ct.Import(r, backup.tbl, start+sec); err != nil {
			t.Fatalf("Import(%+v): %v", r, err)
		}
		stream = stream[n:]
	}
	got, ok := backup.ct.Lookup(k)
	if !ok || got.Real() != c.Real() || got.State() != StateEstablished || got.Flags()&FlagSync == 0 {
		t.Fatalf("backup entry %v %v flags %v, want %v ESTABLISHED sync", got, ok, got.Flags(), c.Real())
	}
	if in := infoOf(t, backup.ct, got.Handle, start+sec); in.Expires != 899*time.Second {
		t.Errorf("imported entry expires in %v, want 899s", in.Expires)
	}
	if bc := backup.counters(web, c.Real().Addr()); bc.Active.Load() != 1 || bc.Persist.Load() != 1 {
		t.Errorf("backup dest active=%d persist=%d, want 1 1", bc.Active.Load(), bc.Persist.Load())
	}
	// The template made on the master steers the backup's next connection.
	if n := backup.schedule(backup.svc(web), tcpKey(cli, 40001, 80), SYN, start+2*sec); n.Real() != c.Real() {
		t.Errorf("after failover the client went to %v, want %v (synced template)", n.Real(), c.Real())
	}
	// A state change re-imported updates in place; a closed flow goes inactive.
	r, _ := master.ct.Record(c.Handle, start)
	r.State, r.Timeout = StateTimeWait, 120*time.Second
	if err := backup.ct.Import(r, backup.tbl, start+3*sec); err != nil {
		t.Fatal(err)
	}
	if bc := backup.counters(web, c.Real().Addr()); bc.Active.Load() != 1 || bc.Inactive.Load() != 1 {
		t.Errorf("after TIME_WAIT sync active=%d inactive=%d, want 1 1", bc.Active.Load(), bc.Inactive.Load())
	}
	r.Real = ap(rip1, 9999)
	if err := backup.ct.Import(r, backup.tbl, start); !errors.Is(err, ipvs.ErrNoDest) {
		t.Errorf("import to unknown dest: %v", err)
	}
	check(t, master.ct, master.reg)
	check(t, backup.ct, backup.reg)
}

func TestImportFTPTemplate(t *testing.T) {
	master := newEnv(t, Config{MaxEntries: 100})
	backup := newEnv(t, Config{MaxEntries: 100})
	ftp := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 21}
	for _, v := range []*env{master, backup} {
		v.service(persistent(ftp, 32), ipvs.Masq, rip1, rip2)
	}
	c := master.schedule(master.svc(ftp), tcpKey(cli, 1000, 21), SYN, start)
	n := 0
	master.ct.Records(start, func(r Record) bool {
		if err := backup.ct.Import(r, backup.tbl, start); err != nil {
			t.Errorf("Import(%+v): %v", r, err)
		}
		n++
		return true
	})
	if n != 2 || backup.ct.Len() != 2 {
		t.Fatalf("synced %d records, backup holds %d, want 2 and 2", n, backup.ct.Len())
	}
	if b := backup.schedule(backup.svc(ftp), tcpKey(cli, 1001, 21), SYN, start); b.Real() != c.Real() {
		t.Errorf("backup sent the client's next control connection to %v, want %v", b.Real(), c.Real())
	}
}
