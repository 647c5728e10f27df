package conntrack

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lvs/ipvs"
)

// family is the addresses of one scenario in one address family: the same
// director with IPv4 or IPv6 addresses. pmask is the persistence mask
// (-M 255.255.255.0 for IPv4, -M 64 for IPv6); peer is another client in
// the client's persistence network, far one outside it.
type family struct {
	name                       string
	vip, rip1, rip2, cli, peer netip.Addr
	far                        netip.Addr
	pmask                      int
}

var families = []family{
	{"IPv4", vip, rip1, rip2, cli, netip.MustParseAddr("172.16.1.77"), netip.MustParseAddr("172.16.2.5"), 24},
	{"IPv6", vip6, rip61, rip62, cli6, netip.MustParseAddr("2001:db8:1:2::77"), netip.MustParseAddr("2001:db8:1:3::5"), 64},
}

// names maps the family's addresses to role names, so that the traces of
// the two families can be compared.
func (f family) names() map[netip.Addr]string {
	net, _ := f.cli.Prefix(f.pmask)
	farNet, _ := f.far.Prefix(f.pmask)
	mark := netip.AddrFrom4([4]byte{0, 0, 0, 80})
	if f.vip.Is6() {
		mark = netip.AddrFrom16([16]byte{0, 0, 0, 80})
	}
	return map[netip.Addr]string{f.vip: "vip", f.rip1: "rip1", f.rip2: "rip2", f.cli: "cli", f.peer: "peer",
		f.far: "far", net.Addr(): "cnet", farNet.Addr(): "farnet", mark: "mark80"}
}

// trace records what a scenario saw, with addresses by role.
type trace struct {
	t     *testing.T
	f     family
	names map[netip.Addr]string
	lines []string
}

func (tr *trace) ap(a netip.AddrPort) string {
	n, ok := tr.names[a.Addr()]
	if !ok {
		n = "?" + a.Addr().String()
	}
	return fmt.Sprintf("%s:%d", n, a.Port())
}

func (tr *trace) addf(format string, args ...any) {
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

// conn records c: its addresses (read from the table), state, flags and
// timer.
func (tr *trace) conn(what string, ct *Table, c Conn, ok bool, now ipvs.Tick) {
	if !ok {
		tr.addf("%s: none", what)
		return
	}
	a, aok := ct.Addrs(c)
	if !aok {
		tr.t.Errorf("%s %s: Addrs of a live entry failed", tr.f.name, what)
	}
	in := Info{}
	ct.Walk(now, func(x Info) bool {
		if x.Handle == c.Handle {
			in = x
			return false
		}
		return true
	})
	if in.Handle == c.Handle && c.Handle != 0 && in.Addrs != a {
		tr.t.Errorf("%s %s: Walk says %v, Addrs %v", tr.f.name, what, in.Addrs, a)
	}
	tr.addf("%s: %v %s→%s→%s %v %v flags=%v ctl=%d left=%v", what, c.Proto(), tr.ap(a.Client), tr.ap(a.Virtual),
		tr.ap(a.Real), c.Method(), StateName(c.Proto(), c.State()), c.Flags(), in.Controls, in.Expires)
}

// familyScenario drives one director through a NAT connection's life,
// persistence, a firewall-mark bundle, one-packet UDP, sync export and
// import, expiry and the table limit, and returns what it saw.
func familyScenario(t *testing.T, f family) []string {
	tr := &trace{t: t, f: f, names: f.names()}
	v := newEnv(t, Config{MaxEntries: 64})
	web := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: f.vip, Port: 80}
	sticky := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: f.vip, Port: 443}
	dnsK := ipvs.ServiceKey{Proto: ipvs.UDP, Addr: f.vip, Port: 53}
	mk := ipvs.MarkKey(80)
	if f.vip.Is6() {
		mk = ipvs.MarkKey6(80) // -f 80 -6
	}
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, f.rip1, f.rip2)
	ps := v.service(persistent(sticky, f.pmask), ipvs.Masq, f.rip1, f.rip2)
	us := v.service(ipvs.ServiceSpec{Key: dnsK, SchedSpec: ipvs.SchedSpec{OnePacket: true}}, ipvs.Masq, f.rip1)
	v.must(v.tbl.AddService(persistent(mk, 128)))
	v.must(v.tbl.AddDest(mk, ipvs.DestSpec{Addr: f.rip1, Weight: 1, Method: ipvs.Route}))
	v.must(v.tbl.AddDest(mk, ipvs.DestSpec{Addr: f.rip2, Weight: 1, Method: ipvs.Route}))
	now := start

	// A NAT connection from SYN to TIME_WAIT, both directions.
	k := Key{Proto: ipvs.TCP, Client: ap(f.cli, 40000), Virtual: ap(f.vip, 80)}
	c, st := v.ct.Schedule(s, k, 0, SYN, now)
	tr.addf("schedule: %v", st)
	tr.conn("syn", v.ct, c, st == Scheduled, now)
	a, _ := v.ct.Addrs(c)
	rk := ReplyKey{Proto: ipvs.TCP, Real: a.Real, Client: k.Client}
	for _, p := range []struct {
		out bool
		fl  TCPFlags
	}{{true, SYN | ACK}, {false, ACK}, {false, ACK}, {true, FIN | ACK}, {false, FIN | ACK}} {
		now += sec
		var got Conn
		var ok bool
		if p.out {
			got, ok = v.ct.Out(rk, p.fl, now)
		} else {
			var vd Verdict
			got, vd = v.ct.In(k, p.fl, now)
			ok = vd == Hit
		}
		tr.conn(fmt.Sprintf("out=%v %v", p.out, p.fl), v.ct, got, ok, now)
	}
	got, ok := v.ct.Lookup(k)
	tr.conn("lookup", v.ct, got, ok, now)
	got, ok = v.ct.LookupReply(rk)
	tr.conn("lookup reply", v.ct, got, ok, now)
	// A new SYN on the TIME_WAIT tuple is rescheduled (conn_reuse_mode 1).
	_, vd := v.ct.In(k, SYN, now)
	tr.addf("reused syn: %v", vd)
	c, st = v.ct.Schedule(s, k, 0, SYN, now)
	tr.conn("rescheduled", v.ct, c, st == Scheduled, now)

	// Persistence: the client's network sticks, a far client does not.
	for i, cl := range []netip.Addr{f.cli, f.peer, f.far, f.cli} {
		c, st := v.ct.Schedule(ps, Key{Proto: ipvs.TCP, Client: ap(cl, 1000+uint16(i)), Virtual: ap(f.vip, 443)}, 0, SYN, now)
		tr.conn(fmt.Sprintf("persistent %d", i), v.ct, c, st == Scheduled, now)
	}
	// A firewall-mark bundle: every port of the mark follows one template.
	for i, port := range []uint16{80, 443, 8080} {
		c, st := v.ct.Schedule(v.svc(mk), Key{Proto: ipvs.TCP, Client: ap(f.peer, 2000+uint16(i)), Virtual: ap(f.vip, port)}, 80, SYN, now)
		tr.conn(fmt.Sprintf("mark %d", i), v.ct, c, st == Scheduled, now)
	}
	// One-packet UDP: forwarded, never stored.
	c, st = v.ct.Schedule(us, Key{Proto: ipvs.UDP, Client: ap(f.cli, 5353), Virtual: ap(f.vip, 53)}, 0, 0, now)
	tr.addf("one-packet: %v handle=%v flags=%v port=%d", st, c.Handle, c.Flags(), c.Real().Port())

	// The templates, as Walk and the sync records show them.
	var recs []Record
	v.ct.Records(now, func(r Record) bool { recs = append(recs, r); return true })
	var lines []string
	for _, r := range recs {
		lines = append(lines, fmt.Sprintf("record %v tpl=%v %v %s→%s→%s mark=%d %v", r.Proto, r.Template,
			StateName(r.Proto, r.State), tr.ap(r.Client), tr.ap(r.Virtual), tr.ap(r.Real), r.FWMark, r.Timeout))
	}
	slices.Sort(lines)
	tr.lines = append(tr.lines, lines...)
	check(t, v.ct, v.reg)

	// Sync: the records through the wire format into a backup.
	backup := newEnv(t, Config{MaxEntries: 64})
	backup.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, f.rip1, f.rip2)
	backup.service(persistent(sticky, f.pmask), ipvs.Masq, f.rip1, f.rip2)
	backup.must(backup.tbl.AddService(persistent(mk, 128)))
	backup.must(backup.tbl.AddDest(mk, ipvs.DestSpec{Addr: f.rip1, Weight: 1, Method: ipvs.Route}))
	backup.must(backup.tbl.AddDest(mk, ipvs.DestSpec{Addr: f.rip2, Weight: 1, Method: ipvs.Route}))
	var wire []byte
	for _, r := range recs {
		wire = AppendRecord(wire, r)
	}
	if want := len(recs) * map[bool]int{false: RecordLen, true: RecordLen6}[f.vip.Is6()]; len(wire) != want {
		t.Errorf("%s: %d records in %d bytes, want %d", f.name, len(recs), len(wire), want)
	}
	for len(wire) > 0 {
		r, n, err := ParseRecord(wire)
		if err != nil {
			t.Fatalf("%s: ParseRecord: %v", f.name, err)
		}
		if err := backup.ct.Import(r, backup.tbl, now); err != nil {
			tr.addf("import %s: %v", tr.ap(r.Client), err)
		}
		wire = wire[n:]
	}
	got, ok = backup.ct.Lookup(k)
	tr.conn("backup lookup", backup.ct, got, ok, now)
	ba, _ := backup.ct.Addrs(got)
	got, ok = backup.ct.LookupReply(ReplyKey{Proto: ipvs.TCP, Real: ba.Real, Client: k.Client})
	tr.conn("backup reply", backup.ct, got, ok, now)
	c, st = backup.ct.Schedule(backup.svc(sticky), Key{Proto: ipvs.TCP, Client: ap(f.peer, 3000), Virtual: ap(f.vip, 443)}, 0, SYN, now)
	tr.conn("backup persistent", backup.ct, c, st == Scheduled, now)
	check(t, backup.ct, backup.reg)

	// Expiry: connections first, then the templates they held.
	for _, dt := range []ipvs.Tick{60 * sec, 1000 * sec, 400 * sec} {
		now += dt
		tr.addf("expire +%v: %d gone, %d left", time.Duration(dt)*time.Millisecond, v.ct.Expire(now, 1<<20), v.ct.Len())
		check(t, v.ct, v.reg)
	}

	// The limit: SYNs from many clients until the table is full; half-open
	// entries are evicted for new ones, so every SYN gets an entry.
	full := 0
	for i := range 100 {
		cl := f.cli.Next()
		for range i {
			cl = cl.Next()
		}
		if _, st := v.ct.Schedule(s, Key{Proto: ipvs.TCP, Client: ap(cl, 4000), Virtual: ap(f.vip, 80)}, 0, SYN, now); st != Scheduled {
			full++
		}
	}
	sts := v.ct.Stats()
	tr.addf("limit: %d refused, entries %d, evicted %d, full %d", full, sts.Entries, sts.Evicted, sts.Full)
	check(t, v.ct, v.reg)
	return tr.lines
}

// TestFamiliesBehaveAlike runs one scenario with IPv4 and with IPv6
// addresses and requires the same states, timers, destinations,
// templates, sync records and limits, and checks some of them outright.
func TestFamiliesBehaveAlike(t *testing.T) {
	var traces [][]string
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) { traces = append(traces, familyScenario(t, f)) })
	}
	if len(traces) != 2 {
		t.FailNow()
	}
	v4, v6 := traces[0], traces[1]
	for i := range max(len(v4), len(v6)) {
		var a, b string
		if i < len(v4) {
			a = v4[i]
		}
		if i < len(v6) {
			b = v6[i]
		}
		if a != b {
			t.Errorf("line %d:\n IPv4 %s\n IPv6 %s", i, a, b)
		}
	}
	// Spot checks on the shared trace (the IPv4 one is what the other
	// tests of the package pin down).
	for _, want := range []string{
		"syn: TCP cli:40000→vip:80→rip1:80 Masq SYN_RECV flags= ctl=0 left=1m0s",
		"out=false 16: TCP cli:40000→vip:80→rip1:80 Masq ESTABLISHED flags= ctl=0 left=15m0s",
		"out=false 17: TCP cli:40000→vip:80→rip1:80 Masq TIME_WAIT flags=inactive ctl=0 left=2m0s",
		"reused syn: miss",
		"persistent 1: TCP peer:1001→vip:443→rip1:443 Masq SYN_RECV flags= ctl=0 left=1m0s",
		"persistent 2: TCP far:1002→vip:443→rip2:443 Masq SYN_RECV flags= ctl=0 left=1m0s",
		"mark 2: TCP peer:2002→vip:8080→rip1:8080 Route SYN_RECV flags=nooutput ctl=0 left=1m0s",
		"record IP tpl=true NONE peer:0→mark80:0→rip1:0 mark=80 5m0s",
		"record TCP tpl=true NONE cnet:0→vip:443→rip1:443 mark=0 5m0s",
		"backup lookup: TCP cli:40000→vip:80→rip2:80 Masq SYN_RECV flags=sync ctl=0 left=1m0s",
		"backup reply: TCP cli:40000→vip:80→rip2:80 Masq SYN_RECV flags=sync ctl=0 left=1m0s",
		"backup persistent: TCP peer:3000→vip:443→rip1:443 Masq SYN_RECV flags= ctl=0 left=1m0s",
		"expire +1m0s: 8 gone, 3 left",
		"limit: 0 refused, entries 64, evicted 36, full 0",
	} {
		if !slices.Contains(v4, want) {
			t.Errorf("trace lacks %q:\n%s", want, joinLines(v4))
		}
	}
	if t.Failed() {
		t.Logf("IPv6 trace:\n%s", joinLines(v6))
	}
}

func joinLines(l []string) string {
	s := ""
	for _, x := range l {
		s += "  " + x + "\n"
	}
	return s
}

// TestIPv6KeysNeverMatchIPv4 puts flows whose packed ports and protocol are
// equal in both families side by side: each lookup finds its own.
func TestIPv6KeysNeverMatchIPv4(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 100})
	s4 := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	s6 := v.service(ipvs.ServiceSpec{Key: web6}, ipvs.Masq, rip61)
	k4 := tcpKey(cli, 1000, 80)
	// The IPv4-mapped form of the IPv4 client is an IPv6 address: a
	// different flow.
	mapped := Key{Proto: ipvs.TCP, Client: ap(netip.AddrFrom16(cli.As16()), 1000), Virtual: ap(vip6, 80)}
	k6 := Key{Proto: ipvs.TCP, Client: ap(cli6, 1000), Virtual: ap(vip6, 80)}
	c4 := v.schedule(s4, k4, SYN, start)
	c6 := v.schedule(s6, k6, SYN, start)
	cm := v.schedule(s6, mapped, SYN, start)
	if c4.IPv6() || !c6.IPv6() || c4.Handle == c6.Handle || cm.Handle == c6.Handle {
		t.Fatalf("handles %v %v %v", c4.Handle, c6.Handle, cm.Handle)
	}
	for _, tt := range []struct {
		k    Key
		want Handle
	}{{k4, c4.Handle}, {k6, c6.Handle}, {mapped, cm.Handle}} {
		if got, ok := v.ct.Lookup(tt.k); !ok || got.Handle != tt.want {
			t.Errorf("Lookup(%v) = %v %v, want %v", tt.k, got.Handle, ok, tt.want)
		}
	}
	for _, bad := range []Key{
		{Proto: ipvs.TCP, Client: ap(cli, 1000), Virtual: ap(vip6, 80)}, // mixed families
		{Proto: ipvs.TCP, Client: ap(cli6, 1001), Virtual: ap(vip6, 80)},
	} {
		if _, ok := v.ct.Lookup(bad); ok {
			t.Errorf("Lookup(%v) found an entry", bad)
		}
		if _, vd := v.ct.In(bad, ACK, start); vd != Miss {
			t.Errorf("In(%v) = %v", bad, vd)
		}
	}
	if _, st := v.ct.Schedule(s6, Key{Proto: ipvs.TCP, Client: ap(cli, 1), Virtual: ap(vip6, 80)}, 0, SYN, start); st != Unsupported {
		t.Errorf("Schedule of a mixed-family key = %v, want unsupported", st)
	}
	a, ok := v.ct.Addrs(c6)
	if want := (Addrs{k6.Client, k6.Virtual, ap(rip61, 80)}); !ok || a != want {
		t.Errorf("Addrs = %v %v, want %v", a, ok, want)
	}
	if c6.Client().Addr().IsValid() || c6.Real().Port() != 80 || c6.Client().Port() != 1000 {
		t.Errorf("IPv6 Conn accessors %v %v: want ports only", c6.Client(), c6.Real())
	}
	v.ct.Delete(c6.Handle)
	if _, ok := v.ct.Addrs(c6); ok {
		t.Errorf("Addrs of a deleted entry succeeded")
	}
	check(t, v.ct, v.reg)
}

// TestIPv6TunnelToIPv4Server: an IPv6 virtual service may tunnel to an
// IPv4 real server (IPVS allows mixed families for tunnelling); the entry
// keeps the real server's family.
func TestIPv6TunnelToIPv4Server(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 100})
	s := v.service(ipvs.ServiceSpec{Key: web6}, ipvs.Tunnel, rip1)
	k := Key{Proto: ipvs.TCP, Client: ap(cli6, 1000), Virtual: ap(vip6, 80)}
	c := v.schedule(s, k, SYN, start)
	if a, _ := v.ct.Addrs(c); a.Real != ap(rip1, 80) || c.Method() != ipvs.Tunnel {
		t.Fatalf("real %v method %v, want %v tunnel", a.Real, c.Method(), ap(rip1, 80))
	}
	r, _ := v.ct.Record(c.Handle, start)
	b := AppendRecord(nil, r)
	got, n, err := ParseRecord(b)
	if err != nil || n != RecordLen6 || got != r || !got.Real.Addr().Is4() {
		t.Errorf("record %+v → %d bytes → %+v %v", r, n, got, err)
	}
	check(t, v.ct, v.reg)
}

// TestIPv6Batch: the batch forms give IPv6 keys the answers of the
// one-key forms, in a batch mixed with IPv4 keys.
func TestIPv6Batch(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s4 := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1)
	s6 := v.service(ipvs.ServiceSpec{Key: web6}, ipvs.Masq, rip61)
	var keys []Key
	var rkeys []ReplyKey
	for i := range 40 {
		k, s, real := tcpKey(cli, 1000+uint16(i), 80), s4, rip1
		if i%2 == 1 {
			k, s, real = Key{Proto: ipvs.TCP, Client: ap(cli6, 1000+uint16(i)), Virtual: ap(vip6, 80)}, s6, rip61
		}
		if i%5 != 4 { // some misses
			v.schedule(s, k, SYN, start)
		}
		keys = append(keys, k)
		rkeys = append(rkeys, ReplyKey{Proto: ipvs.TCP, Real: ap(real, 80), Client: k.Client})
	}
	out, found := make([]Conn, len(keys)), make([]bool, len(keys))
	v.ct.LookupBatch(keys, out, found)
	for i, k := range keys {
		if c, ok := v.ct.Lookup(k); ok != found[i] || c != out[i] {
			t.Errorf("LookupBatch[%d] = %v %v, Lookup %v %v", i, out[i].Handle, found[i], c.Handle, ok)
		}
	}
	v.ct.LookupReplyBatch(rkeys, out, found)
	for i, k := range rkeys {
		if c, ok := v.ct.LookupReply(k); ok != found[i] || c != out[i] || ok != (i%5 != 4) {
			t.Errorf("LookupReplyBatch[%d] = %v %v, LookupReply %v %v", i, out[i].Handle, found[i], c.Handle, ok)
		}
	}
	fl := make([]TCPFlags, len(keys))
	for i := range fl {
		fl[i] = ACK
	}
	vd := make([]Verdict, len(keys))
	v.ct.OutBatch(rkeys, fl, start+sec, out, found)
	v.ct.InBatch(keys, fl, start+2*sec, out, vd)
	for i := range keys {
		if want := i%5 != 4; (vd[i] == Hit) != want || want && out[i].State() != StateEstablished {
			t.Errorf("InBatch[%d] = %v %v", i, vd[i], StateName(ipvs.TCP, out[i].State()))
		}
	}
	check(t, v.ct, v.reg)
}

// TestIPv6RecordVersions: IPv6 records are version 2 (76 bytes) and an
// IPv4-only decoder's view of them is a version it refuses with a length it
// can skip; IPv4 records stay version 1.
func TestIPv6RecordVersions(t *testing.T) {
	r6 := Record{Proto: ipvs.TCP, State: StateEstablished, Method: ipvs.Masq, Client: ap(cli6, 40000),
		Virtual: ap(vip6, 80), Real: ap(rip61, 8080), Timeout: 899_999 * time.Millisecond}
	r4 := Record{Proto: ipvs.UDP, Method: ipvs.Route, Client: ap(cli, 53), Virtual: ap(vip, 53), Real: ap(rip1, 53)}
	tpl := Record{Proto: ipvs.ProtoAny, Template: true, Method: ipvs.Route, Client: ap(netip.MustParseAddr("2001:db8:1:2::"), 0),
		Virtual: ap(netip.AddrFrom16([16]byte{0, 0, 0, 80}), 0), Real: ap(rip62, 0), FWMark: 80, Timeout: 300 * time.Second}
	b := AppendRecord(AppendRecord(AppendRecord(nil, r6), r4), tpl)
	if len(b) != 2*RecordLen6+RecordLen || b[0] != RecordVersion6 || b[RecordLen6] != RecordVersion {
		t.Fatalf("encoded %d bytes, versions %d %d", len(b), b[0], b[RecordLen6])
	}
	for _, want := range []Record{r6, r4, tpl} {
		got, n, err := ParseRecord(b)
		if err != nil || got != want {
			t.Fatalf("ParseRecord = %+v %v, want %+v", got, err, want)
		}
		b = b[n:]
	}
	// What a version-1 decoder checks first: the version, then the length.
	old := AppendRecord(nil, r6)
	if old[0] == RecordVersion || int(old[recLen])<<8|int(old[recLen+1]) != RecordLen6 {
		t.Errorf("an IPv6 record has version %d length %d", old[0], int(old[recLen])<<8|int(old[recLen+1]))
	}
	if _, _, err := ParseRecord(old[:RecordLen]); !errors.Is(err, ErrShortRecord) {
		t.Errorf("truncated IPv6 record: %v", err)
	}
	short := AppendRecord(nil, r6)
	short[recLen+1] = RecordLen
	if _, _, err := ParseRecord(short); !errors.Is(err, ErrBadRecord) {
		t.Errorf("IPv6 record claiming %d bytes: %v", RecordLen, err)
	}
}

// TestIPv6Concurrent is TestConcurrent's mix on IPv6 flows only, with
// Addrs and Walk reading the address records while they are freed and
// reused (run it with -race).
func TestIPv6Concurrent(t *testing.T) {
	w := newFuzzWorld(t, 1<<16)
	var wg sync.WaitGroup
	var made, deleted atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := start
			for i := range 3000 {
				si := 4 + (i+g)%4
				s := w.tbl.Service(w.keys[si])
				k := w.key(si, byte(i), byte(i>>2)+byte(g))
				switch i % 4 {
				case 0:
					if c, st := w.ct.Schedule(s, k, s.Key.FWMark, SYN, now); st == Scheduled && c.IPv6() {
						made.Add(1)
					}
				case 1:
					w.ct.In(k, TCPFlags(i)&(SYN|FIN|ACK|RST), now)
				case 2:
					if c, ok := w.ct.Lookup(k); ok {
						if a, ok := w.ct.Addrs(c); ok && (a.Client != k.Client || a.Virtual != k.Virtual) {
							t.Errorf("Addrs(%v) = %v", k, a)
						}
					}
				case 3:
					if c, ok := w.ct.Lookup(k); ok {
						w.ct.Out(ReplyKey{Proto: k.Proto, Real: w.real(c), Client: k.Client}, ACK, now)
					}
				}
				now += 10
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// At least 200 rounds, and on until a delete happened: on a busy
		// machine the makers may not have run yet (bounded all the same).
		for i := 0; i < 200 || deleted.Load() == 0 && i < 200_000; i++ {
			if made.Load() == 0 {
				runtime.Gosched()
			}
			w.ct.Expire(start+ipvs.Tick(min(i, 199))*sec, 512)
			if i%10 == 0 { // free records under the readers' feet
				var hs []Handle
				w.ct.Walk(start, func(in Info) bool {
					if !in.Addrs.Client.Addr().Is6() {
						t.Errorf("Walk: %v has client %v", in.Conn, in.Addrs.Client)
					}
					if in.Flags()&FlagTemplate == 0 && len(hs) < 50 {
						hs = append(hs, in.Handle)
					}
					return true
				})
				for _, h := range hs {
					if w.ct.Delete(h) {
						deleted.Add(1)
					}
				}
			}
		}
	}()
	wg.Wait()
	if made.Load() == 0 || deleted.Load() == 0 {
		t.Errorf("%d IPv6 flows made, %d deleted: the test exercised nothing", made.Load(), deleted.Load())
	}
	t.Logf("%d IPv6 flows made, %d deleted concurrently", made.Load(), deleted.Load())
	check(t, w.ct, w.reg)
}
