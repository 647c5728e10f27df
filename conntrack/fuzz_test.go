package conntrack

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"lvs/ipvs"
)

// fuzzWorld is a small director: four services of every kind in each
// family (IPv4 and IPv6 flows share the table), two real servers each, a
// handful of clients so that flows collide and ports are reused.
type fuzzWorld struct {
	*env
	keys  []ipvs.ServiceKey
	now   ipvs.Tick
	conns []Handle
}

var (
	https  = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 443}
	mark7  = ipvs.MarkKey(7)
	web6   = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 80}
	https6 = ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip6, Port: 443}
	dns6   = ipvs.ServiceKey{Proto: ipvs.UDP, Addr: vip6, Port: 53}
	mark8  = ipvs.MarkKey6(8) // the IPv6 bundle
)

func newFuzzWorld(t testing.TB, max int) *fuzzWorld {
	v := newEnv(t, Config{MaxEntries: max})
	w := &fuzzWorld{env: v, keys: []ipvs.ServiceKey{web, https, dns, mark7, web6, https6, dns6, mark8}, now: start}
	v.service(ipvs.ServiceSpec{Key: web}, ipvs.Masq, rip1, rip2)
	v.service(persistent(https, 24), ipvs.Route, rip1, rip2)
	v.service(ipvs.ServiceSpec{Key: dns}, ipvs.Masq, rip1, rip2)
	v.service(ipvs.ServiceSpec{Key: web6}, ipvs.Masq, rip61, rip62)
	v.service(persistent(https6, 64), ipvs.Route, rip61, rip62)
	v.service(ipvs.ServiceSpec{Key: dns6}, ipvs.Masq, rip61, rip62)
	for _, m := range []struct {
		k    ipvs.ServiceKey
		rips []netip.Addr
	}{{mark7, []netip.Addr{rip1, rip2}}, {mark8, []netip.Addr{rip61, rip62}}} {
		v.must(v.tbl.AddService(persistent(m.k, 32)))
		for _, r := range m.rips {
			v.must(v.tbl.AddDest(m.k, ipvs.DestSpec{Addr: r, Weight: 1, Method: ipvs.Masq}))
		}
	}
	return w
}

// six reports whether service i is an IPv6 one.
func (w *fuzzWorld) six(i int) bool { return i >= 4 }

// rips returns the real servers of service i's family.
func (w *fuzzWorld) rips(i int) []netip.Addr {
	if w.six(i) {
		return []netip.Addr{rip61, rip62}
	}
	return []netip.Addr{rip1, rip2}
}

// key builds the flow of client c, port p to service i.
func (w *fuzzWorld) key(i int, c, p byte) Key {
	client := ap(netip.AddrFrom4([4]byte{172, 16, c % 3, c % 4}), 1000+uint16(p%4))
	v := vip
	if w.six(i) {
		client = ap(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 5: 0x01, 7: c % 3, 15: c % 4}), 1000+uint16(p%4))
		v = vip6
	}
	switch w.keys[i] {
	case dns, dns6:
		return Key{Proto: ipvs.UDP, Client: client, Virtual: ap(v, 53)}
	case mark7, mark8:
		return Key{Proto: ipvs.TCP, Client: client, Virtual: ap(v, 8080+uint16(p%2))}
	}
	return Key{Proto: ipvs.TCP, Client: client, Virtual: ap(v, w.keys[i].Port)}
}

// real returns the real server of c, read from the table for IPv6.
func (w *fuzzWorld) real(c Conn) netip.AddrPort {
	a, _ := w.ct.Addrs(c)
	return a.Real
}

// step runs one event described by four bytes.
func (w *fuzzWorld) step(op, a, b, c byte) {
	i := int(a) % len(w.keys)
	sk := w.keys[i]
	k := w.key(i, b, c)
	fl := TCPFlags(c) & (SYN | FIN | RST | ACK)
	switch op % 10 {
	case 0, 1:
		if s := w.tbl.Service(sk); s != nil {
			if cn, st := w.ct.Schedule(s, k, sk.FWMark, SYN, w.now); st == Scheduled && cn.Handle != 0 {
				w.conns = append(w.conns, cn.Handle)
			}
		}
	case 2, 3:
		w.ct.In(k, fl, w.now)
	case 4:
		if cn, ok := w.ct.Lookup(k); ok {
			w.ct.Out(ReplyKey{Proto: k.Proto, Real: w.real(cn), Client: k.Client}, fl, w.now)
		}
	case 5:
		w.now += ipvs.Tick(b) * sec
		w.ct.Expire(w.now, int(c)*8)
	case 6: // a real server fails and comes back (new DestID), or is quiesced
		rip := w.rips(i)[b%2]
		s := w.tbl.Service(sk)
		port := sk.Port
		d := s.Dest(rip, port)
		switch {
		case d == nil:
			w.must(w.tbl.AddDest(sk, ipvs.DestSpec{Addr: rip, Port: port, Weight: 1, Method: s.Dests[0].Method}))
		case c%3 == 0:
			w.must(w.tbl.DeleteDest(sk, rip, port))
		default:
			w.must(w.tbl.EditDest(sk, ipvs.DestSpec{Addr: rip, Port: port, Weight: int32(c % 2), Method: d.Method}))
		}
		if len(w.tbl.Service(sk).Dests) == 0 {
			w.must(w.tbl.AddDest(sk, ipvs.DestSpec{Addr: rip, Port: port, Weight: 1}))
		}
	case 7:
		if len(w.conns) > 0 {
			w.ct.Delete(w.conns[int(b)%len(w.conns)])
		}
	case 8:
		set := DefaultSettings()
		set.ExpireNodestConn, set.ExpireQuiescentTemplate = b&1 != 0, b&2 != 0
		set.ConnReuseMode, set.SecureTCP = int(b>>2)%4, int(b>>4)%3
		w.ct.SetSettings(set)
	case 9: // sync a record back in, as a backup receiving its own stream
		if len(w.conns) > 0 {
			if r, ok := w.ct.Record(w.conns[int(b)%len(w.conns)], w.now); ok {
				r.State = State(c) % numStates
				if r.Proto != ipvs.TCP {
					r.State = StateNone
				}
				w.ct.Import(r, w.tbl, w.now)
			}
		}
	}
}

// FuzzEvents drives random packets, expiry, server failures, setting
// changes and syncs, and checks the invariants after every event.
func FuzzEvents(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 2, 0, 1, 0x10, 4, 0, 1, 0x11, 5, 0, 200, 255})
	f.Add([]byte{0, 1, 3, 3, 0, 1, 4, 3, 6, 1, 0, 0, 0, 1, 4, 3, 5, 0, 250, 255})
	f.Add([]byte{0, 3, 1, 0, 0, 3, 1, 1, 6, 3, 1, 0, 0, 3, 1, 2, 9, 0, 0, 5, 7, 0, 0, 0})
	f.Add([]byte{8, 0, 0xff, 0, 0, 0, 1, 1, 2, 0, 1, 2, 2, 0, 1, 2, 6, 0, 0, 1, 2, 0, 0, 2})
	// The same kinds of events on the IPv6 services, then both families.
	f.Add([]byte{0, 4, 1, 2, 2, 4, 1, 0x10, 4, 4, 1, 0x11, 5, 0, 200, 255})
	f.Add([]byte{0, 5, 3, 3, 0, 5, 4, 3, 6, 5, 0, 0, 0, 5, 4, 3, 5, 0, 250, 255})
	f.Add([]byte{0, 7, 1, 0, 0, 7, 1, 1, 6, 7, 1, 0, 0, 7, 1, 2, 9, 0, 0, 5, 7, 0, 0, 0})
	f.Add([]byte{0, 0, 1, 2, 0, 4, 1, 2, 0, 6, 2, 1, 0, 2, 2, 1, 9, 1, 3, 0, 9, 2, 0, 0, 4, 4, 1, 0x10, 5, 0, 90, 255})
	f.Fuzz(func(t *testing.T, ops []byte) {
		w := newFuzzWorld(t, 6+len(ops)%20)
		for len(ops) >= 4 {
			w.step(ops[0], ops[1], ops[2], ops[3])
			ops = ops[4:]
			check(t, w.ct, w.reg)
			if t.Failed() {
				t.FailNow()
			}
		}
		w.now += 24 * 3600 * sec
		for range 3 { // connections first, then the templates they held
			w.ct.Expire(w.now, 1<<20)
			w.now += 3600 * sec
		}
		if w.ct.Len() != 0 {
			t.Errorf("%d entries left a day after the last packet", w.ct.Len())
		}
		check(t, w.ct, w.reg)
	})
}

// TestConcurrent runs packets, expiry and table edits from several
// goroutines (run it with -race) and then checks the invariants.
func TestConcurrent(t *testing.T) {
	w := newFuzzWorld(t, 1<<16)
	var mu sync.Mutex // guards w.tbl and the edits through w
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := start
			for i := range 3000 {
				x := byte(i*7 + g)
				mu.Lock()
				s := w.tbl.Service(w.keys[int(x)%len(w.keys)])
				mu.Unlock()
				k := w.key(int(x)%len(w.keys), byte(i), byte(i>>2)+byte(g))
				switch i % 4 {
				case 0:
					w.ct.Schedule(s, k, s.Key.FWMark, SYN, now)
				case 1, 2:
					w.ct.In(k, TCPFlags(x)&(SYN|FIN|ACK|RST), now)
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
		for i := range 200 {
			w.ct.Expire(start+ipvs.Tick(i)*sec, 512)
			if i%20 == 0 {
				mu.Lock()
				w.step(6, byte(i), byte(i/20), byte(i/7))
				mu.Unlock()
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	wg.Wait()
	check(t, w.ct, w.reg)
}
