package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"lvs/ipvs"
)

func persistent(k ipvs.ServiceKey, bits int) ipvs.ServiceSpec {
	return ipvs.ServiceSpec{Key: k, SchedSpec: ipvs.SchedSpec{Persistence: 300 * time.Second, PMaskBits: bits}}
}

func TestPersistenceMasks(t *testing.T) {
	tests := []struct {
		name       string
		bits       int
		other      string // a second client
		sameAsPeer bool
	}{
		{"/32 same client", 32, "172.16.1.5", true},
		{"/32 neighbour", 32, "172.16.1.6", false},
		{"/24 neighbour", 24, "172.16.1.77", true},
		{"/24 other network", 24, "172.16.2.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, Config{MaxEntries: 1000})
			s := v.service(persistent(web, tt.bits), ipvs.Masq, rip1, rip2)
			a := v.schedule(s, tcpKey(cli, 1000, 80), SYN, start)
			// A second connection of the same client always follows the
			// template, whatever round robin would say.
			if b := v.schedule(s, tcpKey(cli, 1001, 80), SYN, start); b.Real() != a.Real() {
				t.Fatalf("second connection of the client went to %v, want %v", b.Real(), a.Real())
			}
			o := v.schedule(s, tcpKey(netip.MustParseAddr(tt.other), 1002, 80), SYN, start)
			if (o.Real() == a.Real()) != tt.sameAsPeer {
				t.Errorf("%s went to %v, first client to %v; want same=%v", tt.other, o.Real(), a.Real(), tt.sameAsPeer)
			}
			check(t, v.ct, v.reg)
		})
	}
}

func TestFWMarkTemplateSpansPorts(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	mk := ipvs.MarkKey(80)
	v.must(v.tbl.AddService(persistent(mk, 32)))
	v.must(v.tbl.AddDest(mk, ipvs.DestSpec{Addr: rip1, Weight: 1, Method: ipvs.Route}))
	v.must(v.tbl.AddDest(mk, ipvs.DestSpec{Addr: rip2, Weight: 1, Method: ipvs.Route}))
	s := v.svc(mk)
	http := v.schedule(s, tcpKey(cli, 1000, 80), SYN, start)
	https := v.schedule(s, tcpKey(cli, 1001, 443), SYN, start)
	if https.Real().Addr() != http.Real().Addr() {
		t.Fatalf("HTTPS went to %v, HTTP to %v: the mark's template must cover every port", https.Real(), http.Real())
	}
	if http.Real().Port() != 80 || https.Real().Port() != 443 {
		t.Errorf("dest ports %d/%d, want the client's 80/443 (dest port 0)", http.Real().Port(), https.Real().Port())
	}
	var tmpl []Info
	v.ct.Walk(start, func(in Info) bool {
		if in.Flags()&FlagTemplate != 0 {
			tmpl = append(tmpl, in)
		}
		return true
	})
	if len(tmpl) != 1 {
		t.Fatalf("%d templates, want 1", len(tmpl))
	}
	tp := tmpl[0]
	if tp.Proto() != ipvs.ProtoAny || tp.Virtual() != ap(netip.AddrFrom4([4]byte{0, 0, 0, 80}), 0) ||
		tp.Client() != ap(cli, 0) || tp.Real().Port() != 0 || tp.Controls != 2 || tp.Expires != 300*time.Second {
		t.Errorf("template = %+v, want <IP, %v:0, mark 80 as 0.0.0.80:0, port 0, controls 2, 300s>", tp, cli)
	}
	if c := v.counters(mk, http.Real().Addr()); c.Persist.Load() != 1 || c.Active.Load() != 2 {
		t.Errorf("dest persist=%d active=%d, want 1 2", c.Persist.Load(), c.Active.Load())
	}
	check(t, v.ct, v.reg)
}

func TestFTPAndPortZeroTemplates(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	ftp := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 21}
	s := v.service(persistent(ftp, 32), ipvs.Masq, rip1, rip2)
	c := v.schedule(s, tcpKey(cli, 1000, 21), SYN, start)
	all := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip}
	v.must(v.tbl.AddService(persistent(all, 32)))
	v.must(v.tbl.AddDest(all, ipvs.DestSpec{Addr: rip1, Weight: 1}))
	v.must(v.tbl.AddDest(all, ipvs.DestSpec{Addr: rip2, Weight: 1}))
	p0 := v.svc(all)
	a := v.schedule(p0, tcpKey(cli, 1001, 8080), SYN, start)
	b := v.schedule(p0, tcpKey(cli, 1002, 9090), SYN, start)
	if a.Real().Addr() != b.Real().Addr() || a.Real().Port() != 8080 || b.Real().Port() != 9090 {
		t.Errorf("port-0 service: %v and %v, want one dest, client ports kept", a.Real(), b.Real())
	}
	vports := map[uint16]int{}
	v.ct.Walk(start, func(in Info) bool {
		if in.Flags()&FlagTemplate != 0 {
			vports[in.Virtual().Port()]++
			if in.Real().Port() != 0 {
				t.Errorf("template %v has dest port %d, want 0", in.Conn, in.Real().Port())
			}
		}
		return true
	})
	if vports[0] != 2 || len(vports) != 1 {
		t.Errorf("template vports %v, want two templates with vport 0 (FTP, port-0)", vports)
	}
	_ = c
	check(t, v.ct, v.reg)
}

func TestTemplateLifetime(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(persistent(web, 32), ipvs.Masq, rip1, rip2)
	k := tcpKey(cli, 1000, 80)
	c := v.schedule(s, k, SYN, start)
	// The connection (SYN_RECV, 60 s) outlives nothing; the template
	// (300 s) must outlive the connection while it controls it: re-armed.
	now := start
	for i := 0; i < 10; i++ { // keep the connection alive 20 minutes
		now += 120 * sec
		v.ct.In(k, ACK, now)
		v.ct.Expire(now, 1<<20)
	}
	if v.ct.Len() != 2 {
		t.Fatalf("len %d after 20 min of traffic, want connection + template", v.ct.Len())
	}
	v.ct.Delete(c.Handle)
	if v.ct.Len() != 1 {
		t.Fatalf("len %d after deleting the connection", v.ct.Len())
	}
	// Another connection within the persistence time reuses the template.
	c2 := v.schedule(s, tcpKey(cli, 1001, 80), SYN, now+sec)
	if c2.Real() != c.Real() {
		t.Errorf("reconnect went to %v, want %v", c2.Real(), c.Real())
	}
	v.ct.Delete(c2.Handle)
	v.ct.Expire(now+300*sec, 1<<20)
	if v.ct.Len() != 1 {
		t.Fatalf("template gone before persistence ran out from its last use")
	}
	v.ct.Expire(now+302*sec, 1<<20)
	if v.ct.Len() != 0 {
		t.Fatalf("template kept after persistence ran out")
	}
	check(t, v.ct, v.reg)
}

func TestTemplateInvalidation(t *testing.T) {
	tests := []struct {
		name     string
		quiesce  bool // weight 0 instead of removal
		expireQT bool
		moves    bool
	}{
		{"removed dest", false, false, true},
		{"quiesced dest keeps persistent clients", true, false, false},
		{"quiesced dest with expire_quiescent_template", true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, Config{MaxEntries: 1000})
			set := DefaultSettings()
			set.ExpireQuiescentTemplate = tt.expireQT
			v.ct.SetSettings(set)
			v.service(persistent(web, 32), ipvs.Masq, rip1, rip2)
			a := v.schedule(v.svc(web), tcpKey(cli, 1000, 80), SYN, start)
			if tt.quiesce {
				v.must(v.tbl.EditDest(web, ipvs.DestSpec{Addr: a.Real().Addr(), Port: 80, Weight: 0}))
			} else {
				v.must(v.tbl.DeleteDest(web, a.Real().Addr(), 80))
			}
			b := v.schedule(v.svc(web), tcpKey(cli, 1001, 80), SYN, start+sec)
			if moved := b.Real() != a.Real(); moved != tt.moves {
				t.Errorf("new connection to %v (old %v): moved=%v, want %v", b.Real(), a.Real(), moved, tt.moves)
			}
			if tt.moves && v.ct.Stats().Invalid != 1 {
				t.Errorf("Stats.Invalid = %d", v.ct.Stats().Invalid)
			}
			check(t, v.ct, v.reg)
		})
	}
}
