package conntrack

import (
	"net/netip"
	"testing"

	"lvs/ipvs"
)

// TestReal6 covers an IPv4 flow tunnelled to an IPv6 real server (IPv4 in
// IPv6, as IPVS allows for the tunnel method): the entry is an IPv4 one
// (found by the IPv4 lookup, Conn.IPv6 false) whose real server is in an
// address record: Conn.Real6, Addrs, the reply lookup by the IPv6 real
// server and the IPv4 client, Walk, the sync record and its import, and
// the record freed with the entry.
func TestReal6(t *testing.T) {
	tests := []struct {
		name    string
		spec    ipvs.ServiceSpec
		method  ipvs.Method
		wantSt  Status
		persist bool
	}{
		{"tunnel", ipvs.ServiceSpec{Key: web}, ipvs.Tunnel, Scheduled, false},
		{"tunnel persistent", persistent(web, 24), ipvs.Tunnel, Scheduled, true},
		{"NAT refused", ipvs.ServiceSpec{Key: web}, ipvs.Masq, Unsupported, false},
		{"direct refused", ipvs.ServiceSpec{Key: web}, ipvs.Route, Unsupported, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEnv(t, Config{MaxEntries: 1000})
			s := v.service(tt.spec, tt.method, rip61)
			k := tcpKey(cli, 40000, 80)
			c, st := v.ct.Schedule(s, k, 0, SYN, start)
			if st != tt.wantSt {
				t.Fatalf("Schedule(%v) = %v, want %v", k, st, tt.wantSt)
			}
			if st != Scheduled {
				if v.ct.Len() != 0 {
					t.Errorf("Len() = %d after a refused flow, want 0", v.ct.Len())
				}
				check(t, v.ct, v.reg)
				return
			}
			if c.IPv6() || !c.Real6() || c.Real().Addr().IsValid() || c.Real().Port() != 80 || c.Client() != k.Client || c.Virtual() != k.Virtual {
				t.Fatalf("Schedule(%v) = %v IPv6 %v Real6 %v, want an IPv4 flow with an IPv6 real server", k, c, c.IPv6(), c.Real6())
			}
			want := Addrs{Client: k.Client, Virtual: k.Virtual, Real: ap(rip61, 80)}
			if a, ok := v.ct.Addrs(c); !ok || a != want {
				t.Errorf("Addrs = %v %v, want %v", a, ok, want)
			}
			if got, ok := v.ct.Lookup(k); !ok || got.Handle != c.Handle || !got.Real6() {
				t.Errorf("Lookup(%v) = %v %v, want the flow", k, got, ok)
			}
			if got, ok := v.ct.LookupReply(ReplyKey{Proto: ipvs.TCP, Real: ap(rip61, 80), Client: k.Client}); !ok || got.Handle != c.Handle {
				t.Errorf("LookupReply(IPv6 real, IPv4 client) = %v %v, want the flow", got, ok)
			}
			// The IPv4 reply lookup never matches it, whatever its d word holds.
			r4 := netip.AddrFrom4([4]byte{0xff, 0, 0, 1})
			if got, ok := v.ct.LookupReply(ReplyKey{Proto: ipvs.TCP, Real: ap(r4, 80), Client: k.Client}); ok {
				t.Errorf("LookupReply(%v) = %v, want none", r4, got)
			}
			// An IPv6 client with the IPv4-mapped address of the client is another flow.
			mapped := netip.AddrFrom16(cli.As16())
			if got, ok := v.ct.LookupReply(ReplyKey{Proto: ipvs.TCP, Real: ap(rip61, 80), Client: ap(mapped, 40000)}); ok {
				t.Errorf("LookupReply(mapped client) = %v, want none", got)
			}
			if c2, _ := v.ct.In(k, ACK, start+sec); c2.State() != StateEstablished || !c2.Real6() {
				t.Errorf("In(ACK) = %v, want ESTABLISHED", c2)
			}
			in := infoOf(t, v.ct, c.Handle, start+sec)
			if in.Real() != ap(rip61, 80) || in.Client() != k.Client {
				t.Errorf("Walk: %v, want real %v", in, ap(rip61, 80))
			}
			if tt.persist {
				// The template steers the client's next connection to the same server.
				n := v.schedule(s, tcpKey(cli, 40001, 80), SYN, start+2*sec)
				if a, _ := v.ct.Addrs(n); a.Real.Addr() != rip61 || !n.Real6() {
					t.Errorf("second connection to %v, want %v", a.Real, rip61)
				}
			}
			check(t, v.ct, v.reg)

			// Sync: the records go as version 2 and recreate the entries.
			backup := newEnv(t, Config{MaxEntries: 1000})
			backup.service(tt.spec, tt.method, rip61)
			var stream []byte
			n := 0
			v.ct.Records(start+sec, func(r Record) bool {
				stream = AppendRecord(stream, r)
				n++
				return true
			})
			if len(stream) != n*RecordLen6 {
				t.Fatalf("exported %d bytes for %d records, want version 2 (%d each)", len(stream), n, RecordLen6)
			}
			for len(stream) > 0 {
				r, m, err := ParseRecord(stream)
				if err != nil {
					t.Fatal(err)
				}
				if !r.Client.Addr().Is4() || !r.Virtual.Addr().Is4() || r.Real.Addr() != rip61 {
					t.Errorf("ParseRecord = %+v, want IPv4 client and virtual, real %v", r, rip61)
				}
				if err := backup.ct.Import(r, backup.tbl, start+sec); err != nil {
					t.Fatalf("Import(%+v): %v", r, err)
				}
				stream = stream[m:]
			}
			got, ok := backup.ct.Lookup(k)
			if a, _ := backup.ct.Addrs(got); !ok || !got.Real6() || a != want || got.State() != StateEstablished {
				t.Errorf("imported %v %v addrs %v, want %v ESTABLISHED", got, ok, a, want)
			}
			check(t, backup.ct, backup.reg)

			// Deleting every entry frees every record (check counts them).
			v.ct.Walk(start, func(in Info) bool {
				if in.Flags()&FlagTemplate == 0 {
					v.ct.Delete(in.Handle)
				}
				return true
			})
			v.ct.Expire(start+3600*sec, 1<<20)
			if v.ct.Len() != 0 {
				t.Errorf("Len() = %d after deleting and expiring all, want 0", v.ct.Len())
			}
			check(t, v.ct, v.reg)
		})
	}
}

// TestReal6Mixed schedules IPv4 flows over a tunnel service with an IPv4
// and an IPv6 real server: each flow is bound to one, with the address
// kind its server has, and both kinds live side by side.
func TestReal6Mixed(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1000})
	s := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Tunnel, rip1, rip61)
	seen := map[netip.Addr]int{}
	for i := range 64 {
		k := tcpKey(cli, uint16(20000+i), 80)
		c := v.schedule(s, k, SYN, start)
		a, ok := v.ct.Addrs(c)
		if !ok || a.Client != k.Client || a.Virtual != k.Virtual || c.Real6() != a.Real.Addr().Is6() {
			t.Fatalf("flow %d: %v Real6 %v, addrs %v %v", i, c, c.Real6(), a, ok)
		}
		if !c.Real6() && c.Real() != a.Real {
			t.Errorf("flow %d: Real() = %v, Addrs %v", i, c.Real(), a.Real)
		}
		seen[a.Real.Addr()]++
	}
	if seen[rip1] != 32 || seen[rip61] != 32 {
		t.Errorf("flows per real server %v, want 32 each (rr)", seen)
	}
	check(t, v.ct, v.reg)
	v.ct.Expire(start+3600*sec, 1<<20)
	if v.ct.Len() != 0 {
		t.Errorf("Len() = %d after expiry, want 0", v.ct.Len())
	}
	check(t, v.ct, v.reg)
}

// TestReal6Churn fills the table with IPv4 flows on a tunnel service with
// an IPv4 and an IPv6 real server, IPv6 flows beside them (their records
// share the slabs), deletes every third, lets the rest expire and fills
// again: the chains grow and are rehashed, records are freed and reused,
// and every invariant holds at each stage (check: every flow found by its
// key and its reply key, counts, every record held once or free).
func TestReal6Churn(t *testing.T) {
	v := newEnv(t, Config{MaxEntries: 1 << 16})
	s4 := v.service(ipvs.ServiceSpec{Key: web}, ipvs.Tunnel, rip1, rip61)
	s6 := v.service(ipvs.ServiceSpec{Key: web6}, ipvs.Tunnel, rip61, rip1)
	fill := func(now ipvs.Tick, round int) []Handle {
		var hs []Handle
		for i := range 6000 {
			c4 := netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})
			hs = append(hs, v.schedule(s4, Key{Proto: ipvs.TCP, Client: ap(c4, uint16(1000+round)), Virtual: ap(vip, 80)}, SYN, now).Handle)
			if i%3 == 0 {
				c6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
				hs = append(hs, v.schedule(s6, Key{Proto: ipvs.TCP, Client: ap(c6, uint16(1000+round)), Virtual: ap(vip6, 80)}, SYN, now).Handle)
			}
		}
		return hs
	}
	hs := fill(start, 0)
	check(t, v.ct, v.reg)
	for i, h := range hs {
		if i%3 == 0 && !v.ct.Delete(h) {
			t.Fatalf("Delete(%#x) of a live flow = false", h)
		}
	}
	check(t, v.ct, v.reg)
	later := start + 3600*sec
	for v.ct.Expire(later, 1<<20) > 0 {
	}
	if v.ct.Len() != 0 {
		t.Fatalf("Len() = %d after expiry, want 0", v.ct.Len())
	}
	check(t, v.ct, v.reg)
	fill(later, 1)
	check(t, v.ct, v.reg)
}
