package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

var (
	syncNodeA   = netip.MustParseAddr("192.168.26.1")
	syncNodeB   = netip.MustParseAddr("192.168.26.2")
	syncAddrA   = netip.MustParseAddrPort("10.0.0.1:540")
	syncAddrB   = netip.MustParseAddrPort("10.0.0.2:540")
	syncVIP     = netip.MustParseAddr("192.168.26.10")
	syncRIP1    = netip.MustParseAddr("10.11.12.1")
	syncRIP2    = netip.MustParseAddr("10.11.12.2")
	syncTestKey = []byte("correct horse battery staple")
)

// syncRec returns a distinct established TCP record for i.
func syncRec(i int) conntrack.Record {
	cli := netip.AddrFrom4([4]byte{172, 16, byte(i >> 16), byte(i >> 8)})
	return conntrack.Record{Proto: ipvs.TCP, State: conntrack.StateEstablished, Method: ipvs.Masq,
		Client: netip.AddrPortFrom(cli, uint16(1024+i%50000)), Virtual: netip.AddrPortFrom(syncVIP, 80),
		Real: netip.AddrPortFrom(syncRIP1, 8080), Timeout: 900 * time.Second}
}

// syncCfgs returns the configs of sender A and receiver B.
func syncCfgs(key []byte) (SyncConfig, SyncConfig) {
	a := SyncConfig{Node: syncNodeA, Peer: syncNodeB, Local: syncAddrA, PeerAddr: syncAddrB, Key: key,
		Interval: 2 * time.Millisecond}
	b := SyncConfig{Node: syncNodeB, Peer: syncNodeA, Local: syncAddrB, PeerAddr: syncAddrA, Key: key,
		Interval: 2 * time.Millisecond}
	return a, b
}

func TestSyncEncodeDecode(t *testing.T) {
	for _, key := range [][]byte{nil, syncTestKey} {
		n := SyncCapacity(len(key) > 0)
		recs := make([]conntrack.Record, n)
		for i := range recs {
			recs[i] = syncRec(i)
		}
		recs[1] = conntrack.Record{Proto: ipvs.ProtoAny, Template: true, Method: ipvs.Route,
			Flags: conntrack.FlagNoOutput, Client: netip.AddrPortFrom(syncRIP2, 0), FWMark: 7, Timeout: time.Minute,
			Virtual: netip.AddrPortFrom(netip.AddrFrom4([4]byte{0, 0, 0, 7}), 0), Real: netip.AddrPortFrom(syncRIP1, 0)}
		h := SyncHeader{Flags: SyncBulk | SyncBulkEnd, SyncID: 9, Node: syncNodeA, Boot: 42, Seq: 7}
		b := EncodeSync(nil, h, recs, key)
		if len(b) > MaxSyncDatagram {
			t.Fatalf("key %q: %d records make %d bytes, over %d", key, n, len(b), MaxSyncDatagram)
		}
		if len(b)+conntrack.RecordLen <= MaxSyncDatagram {
			t.Errorf("key %q: capacity %d leaves room for another record", key, n)
		}
		got, grecs, err := DecodeSync(b, key, nil)
		h.Count = n
		if err != nil || got != h || !slices.Equal(grecs, recs) {
			t.Fatalf("key %q: DecodeSync = %+v, %d records, %v; want %+v", key, got, len(grecs), err, h)
		}
	}
	// An empty datagram is valid (a bulk end after superseded records).
	if _, recs, err := DecodeSync(EncodeSync(nil, SyncHeader{Seq: 1}, nil, nil), nil, nil); err != nil || len(recs) != 0 {
		t.Errorf("empty datagram: %v %v", recs, err)
	}
}

func TestSyncDecodeErrors(t *testing.T) {
	good := EncodeSync(nil, SyncHeader{Node: syncNodeA, Boot: 1, Seq: 1}, []conntrack.Record{syncRec(1), syncRec(2)}, nil)
	signed := EncodeSync(nil, SyncHeader{Node: syncNodeA, Boot: 1, Seq: 1}, []conntrack.Record{syncRec(1)}, syncTestKey)
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(slices.Clone(b)) }
	// A record of a later version's protocol is skipped; the rest are kept.
	skip := mod(good, func(b []byte) []byte { b[SyncHeaderLen+4] = 99; return b })
	if h, recs, err := DecodeSync(skip, nil, nil); err != nil || h.Count != 2 || len(recs) != 1 || recs[0] != syncRec(2) {
		t.Errorf("skippable record: %+v %v %v", h, recs, err)
	}
	tests := []struct {
		name string
		b    []byte
		key  []byte
		want error
	}{
		{"short", good[:SyncHeaderLen-1], nil, ErrSyncShort},
		{"magic", mod(good, func(b []byte) []byte { b[0] = 'X'; return b }), nil, ErrSyncMagic},
		{"version", mod(good, func(b []byte) []byte { b[syVersion] = 2; return b }), nil, ErrSyncVersion},
		{"flags", mod(good, func(b []byte) []byte { b[syFlags] = 0x80; return b }), nil, ErrSyncMalformed},
		{"bulk end alone", mod(good, func(b []byte) []byte { b[syFlags] = byte(SyncBulkEnd); return b }), nil, ErrSyncMalformed},
		{"seq 0", mod(good, func(b []byte) []byte { b[sySeq+7] = 0; return b }), nil, ErrSyncMalformed},
		{"count high", mod(good, func(b []byte) []byte { b[syCount+1] = 3; return b }), nil, ErrSyncMalformed},
		{"count low", mod(good, func(b []byte) []byte { b[syCount+1] = 1; return b }), nil, ErrSyncMalformed},
		{"truncated record", good[:len(good)-1], nil, ErrSyncMalformed},
		{"trailing", append(slices.Clone(good), 0), nil, ErrSyncMalformed},
		{"record length", mod(good, func(b []byte) []byte { b[SyncHeaderLen+3] = 200; return b }), nil, ErrSyncMalformed},
		{"unsigned, key here", good, syncTestKey, ErrSyncNoAuth},
		{"signed, no key here", signed, nil, ErrSyncAuthNoKey},
		{"wrong key", signed, []byte("another key"), ErrSyncAuth},
		{"forged record", mod(signed, func(b []byte) []byte { b[SyncHeaderLen+36] ^= 1; return b }), syncTestKey, ErrSyncAuth},
		{"forged seq", mod(signed, func(b []byte) []byte { b[sySeq+7]++; return b }), syncTestKey, ErrSyncAuth},
		{"signed short", signed[:SyncHeaderLen+10], syncTestKey, ErrSyncShort},
	}
	for _, tc := range tests {
		if _, recs, err := DecodeSync(tc.b, tc.key, nil); !errors.Is(err, tc.want) || len(recs) != 0 {
			t.Errorf("%s: DecodeSync = %d records, %v; want %v", tc.name, len(recs), err, tc.want)
		}
	}
}

// FuzzDecodeSync: DecodeSync never panics, and whatever it accepts
// re-encodes to a datagram that decodes to the same header and records.
func FuzzDecodeSync(f *testing.F) {
	recs := []conntrack.Record{syncRec(1), {Proto: ipvs.ProtoAny, Template: true, FWMark: 3}}
	f.Add(EncodeSync(nil, SyncHeader{Node: syncNodeA, Boot: 1, Seq: 1}, recs, nil), false)
	f.Add(EncodeSync(nil, SyncHeader{Flags: SyncBulk, Node: syncNodeA, Boot: 1, Seq: 2}, recs, syncTestKey), true)
	f.Add(EncodeSync(nil, SyncHeader{Seq: 1}, nil, nil), false)
	f.Add([]byte("LVSY\x01"), false)
	f.Fuzz(func(t *testing.T, b []byte, signed bool) {
		var key []byte
		if signed {
			key = syncTestKey
		}
		h, recs, err := DecodeSync(b, key, nil)
		if err != nil {
			if len(recs) != 0 {
				t.Fatalf("error %v with %d records", err, len(recs))
			}
			return
		}
		if len(recs) > h.Count {
			t.Fatalf("%d records of %d declared", len(recs), h.Count)
		}
		enc := EncodeSync(nil, h, recs, key)
		h2, recs2, err := DecodeSync(enc, key, nil)
		h.Count = len(recs)
		if err != nil || h2 != h || !slices.Equal(recs, recs2) {
			t.Fatalf("round trip: %+v %v → %+v %v (%v)", h, recs, h2, recs2, err)
		}
	})
}

func TestSyncPolicy(t *testing.T) {
	p := DefaultSyncPolicy()
	const (
		es  = conntrack.StateEstablished
		syn = conntrack.StateSynRecv
		fw  = conntrack.StateFinWait
		tw  = conntrack.StateTimeWait
		cw  = conntrack.StateCloseWait
		cl  = conntrack.StateClose
		la  = conntrack.StateLastAck
		no  = conntrack.StateNone
	)
	tests := []struct {
		proto       ipvs.Proto
		flags       conntrack.Flags
		prev, state conntrack.State
		pkts        uint32
		want        bool
	}{
		{ipvs.TCP, 0, syn, syn, 3, false},     // not a synced state
		{ipvs.TCP, 0, syn, es, 2, false},      // ES reached, not at threshold
		{ipvs.TCP, 0, es, es, 3, true},        // threshold
		{ipvs.TCP, 0, syn, es, 3, true},       // threshold on the state change
		{ipvs.TCP, 0, es, es, 53, true},       // periodic refresh
		{ipvs.TCP, 0, es, es, 52, false},      //
		{ipvs.TCP, 0, es, fw, 7, true},        // state change forces
		{ipvs.TCP, 0, fw, tw, 8, true},        //
		{ipvs.TCP, 0, es, cw, 9, true},        //
		{ipvs.TCP, 0, cw, cl, 10, true},       //
		{ipvs.TCP, 0, fw, fw, 9, false},       // no change, not at threshold
		{ipvs.TCP, 0, fw, fw, 103, true},      // refresh
		{ipvs.TCP, 0, cw, la, 3, false},       // LAST_ACK is not synced
		{ipvs.UDP, 0, no, no, 3, true},        // UDP: threshold only
		{ipvs.UDP, 0, no, no, 4, false},       //
		{conntrack.ICMP, 0, no, no, 53, true}, //
		{ipvs.TCP, conntrack.FlagTemplate, no, no, 1, true},
		{ipvs.ProtoAny, conntrack.FlagTemplate, no, no, 17, true},
		{ipvs.UDP, conntrack.FlagOnePacket, no, no, 3, false},
	}
	for _, tc := range tests {
		if got := p.Needed(tc.proto, tc.flags, tc.prev, tc.state, tc.pkts); got != tc.want {
			t.Errorf("Needed(%v, %v, %v→%v, %d) = %v, want %v", tc.proto, tc.flags, tc.prev, tc.state, tc.pkts, got, tc.want)
		}
	}
	once := SyncPolicy{Threshold: 3}
	if !once.Needed(ipvs.UDP, 0, no, no, 3) || once.Needed(ipvs.UDP, 0, no, no, 53) {
		t.Error("period 0: want a send at the threshold only")
	}
}

// collector gathers the batches a receiver hands over.
type collector struct {
	mu      sync.Mutex
	recs    []conntrack.Record
	batches []SyncBatch
}

func (c *collector) handle(b SyncBatch) {
	c.mu.Lock()
	c.recs = append(c.recs, b.Records...)
	c.batches = append(c.batches, b)
	c.mu.Unlock()
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// wait waits until n records arrived.
func (c *collector) wait(t *testing.T, n int) []conntrack.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("received %d records, want %d", c.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// settle waits until the receiver has every record the sender sent.
func settle(t *testing.T, s *SyncSender, r *SyncReceiver) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if st.Pending == 0 && r.Stats().Records == st.Records {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled: sender %+v, receiver %+v", st, r.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// syncPair runs a sender on a and a receiver on b until the test ends.
// The receiver hands batches to handle, or to the returned collector.
func syncPair(t *testing.T, ca, cb SyncConfig, a, b SyncPacketConn, handle func(SyncBatch)) (*SyncSender, *SyncReceiver, *collector) {
	t.Helper()
	s, err := NewSyncSender(ca, a)
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	if handle == nil {
		handle = col.handle
	}
	r, err := NewSyncReceiver(cb, b, handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := r.Run(); err != nil {
			t.Errorf("receiver: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		b.Close()
		a.Close()
		wg.Wait()
	})
	return s, r, col
}

func TestSyncSenderReceiverPipe(t *testing.T) {
	for _, key := range [][]byte{nil, syncTestKey} {
		t.Run(fmt.Sprintf("auth=%v", key != nil), func(t *testing.T) {
			ca, cb := syncCfgs(key)
			pa, pb := NewSyncPipe(syncAddrA, syncAddrB, 0)
			s, r, col := syncPair(t, ca, cb, pa, pb, nil)
			var want []conntrack.Record
			for i := range 100 {
				want = append(want, syncRec(i))
				s.Add(syncRec(i))
			}
			// A newer record of a queued flow replaces it (may already be sent).
			upd := syncRec(99)
			upd.State, upd.Timeout = conntrack.StateTimeWait, 2*time.Minute
			s.Add(upd)
			settle(t, s, r)
			got := col.wait(t, 100)
			if !slices.Contains(got, upd) {
				t.Fatalf("update of flow 99 not received")
			}
			for _, w := range want[:99] {
				if !slices.Contains(got, w) {
					t.Fatalf("record %+v not received", w)
				}
			}
			st, rs := s.Stats(), r.Stats()
			if st.Queued != 101 || st.Dropped != 0 || st.Errors != 0 || st.Records != uint64(len(got)) {
				t.Errorf("sender stats %+v, %d received", st, len(got))
			}
			if rs.Accepted != st.Datagrams || rs.Records != uint64(len(got)) || rs.Refused != ([NumSyncRefusals]uint64{}) {
				t.Errorf("receiver stats %+v, sender %+v", rs, st)
			}
		})
	}
}

func TestSyncSenderQueue(t *testing.T) {
	ca, _ := syncCfgs(nil)
	ca.QueueLen = 4
	pa, pb := NewSyncPipe(syncAddrA, syncAddrB, 0)
	s, err := NewSyncSender(ca, pa)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		s.Add(syncRec(i))
	}
	s.Add(syncRec(8)) // coalesced with the queued one
	if st := s.Stats(); st.Dropped != 6 || st.Coalesced != 1 || st.Pending != 4 {
		t.Fatalf("stats %+v, want 6 dropped, 1 coalesced, 4 pending", st)
	}
	s.flush(false)
	buf := make([]byte, SyncRecvBuffer)
	n, from, _ := pb.ReadFromUDPAddrPort(buf)
	_, recs, err := DecodeSync(buf[:n], nil, nil)
	if err != nil || from != syncAddrA {
		t.Fatal(from, err)
	}
	if want := []conntrack.Record{syncRec(6), syncRec(7), syncRec(8), syncRec(9)}; !slices.Equal(recs, want) {
		t.Errorf("sent %v, want the newest four in order", recs)
	}
	if _, err := NewSyncSender(SyncConfig{}, pa); err == nil {
		t.Error("sender without a peer address accepted")
	}
	if _, err := NewSyncReceiver(SyncConfig{Peer: syncNodeA}, pb, nil); err == nil {
		t.Error("receiver without a handler accepted")
	}
	if _, err := NewSyncReceiver(SyncConfig{}, pb, func(SyncBatch) {}); err == nil {
		t.Error("receiver without a peer accepted")
	}
	// A sender made again (failback) has a later boot, so the receiver
	// takes its sequence numbers from 1 again.
	s2, _ := NewSyncSender(ca, pa)
	if s2.Boot() <= s.Boot() {
		t.Errorf("boot ids %d then %d", s.Boot(), s2.Boot())
	}
}

func TestSyncReceiverRefuses(t *testing.T) {
	ca, cb := syncCfgs(syncTestKey)
	cb.SyncID = 5
	col := &collector{}
	r, err := NewSyncReceiver(cb, nil, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(node netip.Addr, id uint8, boot, seq uint64, key []byte) []byte {
		return EncodeSync(nil, SyncHeader{SyncID: id, Node: node, Boot: boot, Seq: seq}, []conntrack.Record{syncRec(int(seq))}, key)
	}
	good := enc(ca.Node, 5, 100, 10, syncTestKey)
	forged := slices.Clone(good)
	forged[SyncHeaderLen+28] ^= 0xff // the client address
	tests := []struct {
		name string
		b    []byte
		from netip.AddrPort
		want error
	}{
		{"good", good, syncAddrA, nil},
		{"replayed", good, syncAddrA, ErrSyncReplay},
		{"forged", forged, syncAddrA, ErrSyncAuth},
		{"wrong key", enc(ca.Node, 5, 100, 11, []byte("guess")), syncAddrA, ErrSyncAuth},
		{"unsigned", enc(ca.Node, 5, 100, 12, nil), syncAddrA, ErrSyncNoAuth},
		{"other sync id", enc(ca.Node, 6, 100, 13, syncTestKey), syncAddrA, ErrSyncWrongID},
		{"other node", enc(netip.MustParseAddr("192.168.26.99"), 5, 100, 14, syncTestKey), syncAddrA, ErrSyncWrongPeer},
		{"other source", enc(ca.Node, 5, 100, 15, syncTestKey), netip.MustParseAddrPort("10.0.0.9:540"), ErrSyncWrongPeer},
		{"garbage", []byte("hello"), syncAddrA, ErrSyncShort},
		{"older boot", enc(ca.Node, 5, 99, 100, syncTestKey), syncAddrA, ErrSyncOldBoot},
		{"next", enc(ca.Node, 5, 100, 16, syncTestKey), syncAddrA, nil},
		{"older in window", enc(ca.Node, 5, 100, 11, syncTestKey), syncAddrA, nil}, // refused above for its key only
		{"new boot", enc(ca.Node, 5, 200, 1, syncTestKey), syncAddrA, nil},
		{"previous boot", enc(ca.Node, 5, 100, 17, syncTestKey), syncAddrA, ErrSyncOldBoot},
		{"far behind", enc(ca.Node, 5, 200, 1, syncTestKey), syncAddrA, ErrSyncReplay},
	}
	for _, tc := range tests {
		if err := r.Handle(tc.b, tc.from); !errors.Is(err, tc.want) {
			t.Errorf("%s: Handle = %v, want %v", tc.name, err, tc.want)
		}
	}
	st := r.Stats()
	want := [NumSyncRefusals]uint64{RefusedMalformed: 1, RefusedAuth: 2, RefusedAuthMode: 1, RefusedReplay: 2,
		RefusedOldBoot: 2, RefusedWrongPeer: 2, RefusedSyncID: 1}
	if st.Accepted != 4 || st.Records != 4 || st.Refused != want || col.count() != 4 || st.LastPeerSeq != 1 {
		t.Errorf("stats %+v (%d handled), want 4 accepted, refused %v", st, col.count(), want)
	}
	for i := range NumSyncRefusals {
		if i.String() == "unknown" {
			t.Errorf("refusal %d has no name", i)
		}
	}
}

// udpPair binds two sync sockets on 127.0.0.1 and returns configs for them.
func udpPair(t *testing.T, key []byte) (SyncConfig, SyncConfig, *net.UDPConn, *net.UDPConn) {
	t.Helper()
	ca, cb := syncCfgs(key)
	ca.Local = netip.MustParseAddrPort("127.0.0.1:0")
	cb.Local = ca.Local
	a, err := ListenSync(ca)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ListenSync(cb)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ca.PeerAddr = b.LocalAddr().(*net.UDPAddr).AddrPort()
	cb.PeerAddr = a.LocalAddr().(*net.UDPAddr).AddrPort()
	return ca, cb, a, b
}

func TestSyncUDP(t *testing.T) {
	ca, cb, a, b := udpPair(t, syncTestKey)
	s, r, col := syncPair(t, ca, cb, a, b, nil)
	for i := range 500 {
		s.Add(syncRec(i))
	}
	got := col.wait(t, 500)
	for i := range 500 {
		if !slices.Contains(got, syncRec(i)) {
			t.Fatalf("record %d not received", i)
		}
	}
	if rs := r.Stats(); rs.Refused != ([NumSyncRefusals]uint64{}) {
		t.Errorf("refused %v", rs.Refused)
	}
	// A stranger on the segment with the right format but no key changes nothing.
	x, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	forged := EncodeSync(nil, SyncHeader{Node: syncNodeA, Boot: 1 << 62, Seq: 1}, []conntrack.Record{syncRec(9999)}, []byte("guess"))
	if _, err := x.WriteToUDPAddrPort(forged, ca.PeerAddr); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Refused[RefusedAuth] != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if rs := r.Stats(); rs.Refused[RefusedAuth] != 1 || col.count() != 500 {
		t.Errorf("forged datagram: refused %v, %d records", rs.Refused, col.count())
	}
}

func TestSyncBulk(t *testing.T) {
	const n = 10_000
	recs := make([]conntrack.Record, n)
	for i := range recs {
		recs[i] = syncRec(i)
	}
	check := func(t *testing.T, s *SyncSender, r *SyncReceiver, col *collector) {
		s.Bulk(slices.Clone(recs))
		got := col.wait(t, n)
		seen := make(map[conntrack.Record]bool, n)
		for _, g := range got {
			seen[g] = true
		}
		for i, w := range recs {
			if !seen[w] {
				t.Fatalf("record %d missing from the bulk", i)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for r.Stats().Bulks != 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		st, rs := s.Stats(), r.Stats()
		if len(got) != n || st.BulkRecords != n || rs.Bulks != 1 || st.Pending != 0 || rs.Refused != ([NumSyncRefusals]uint64{}) {
			t.Errorf("got %d; sender %+v; receiver %+v", len(got), st, rs)
		}
		col.mu.Lock()
		last := col.batches[len(col.batches)-1].Header.Flags
		col.mu.Unlock()
		if last != SyncBulk|SyncBulkEnd {
			t.Errorf("last datagram flags %#x, want bulk end", last)
		}
	}
	t.Run("pipe", func(t *testing.T) {
		ca, cb := syncCfgs(syncTestKey)
		pa, pb := NewSyncPipe(syncAddrA, syncAddrB, 0)
		s, r, col := syncPair(t, ca, cb, pa, pb, nil)
		check(t, s, r, col)
	})
	t.Run("udp", func(t *testing.T) {
		ca, cb, a, b := udpPair(t, syncTestKey)
		ca.BulkBurst = 8
		s, r, col := syncPair(t, ca, cb, a, b, nil)
		check(t, s, r, col)
	})
}

// TestSyncBulkSuperseded: a record Add gives during a dump wins over the
// dump's older copy of the same flow.
func TestSyncBulkSuperseded(t *testing.T) {
	ca, _ := syncCfgs(nil)
	ca.BulkBurst = 1
	pa, pb := NewSyncPipe(syncAddrA, syncAddrB, 0)
	s, err := NewSyncSender(ca, pa)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]conntrack.Record, 100)
	for i := range recs {
		recs[i] = syncRec(i)
	}
	s.Bulk(recs)
	upd := syncRec(90)
	upd.State = conntrack.StateFinWait
	s.Add(upd)
	for range 10 {
		s.flush(true)
	}
	pb.Close()
	var got []conntrack.Record
	buf := make([]byte, SyncRecvBuffer)
	var flags []SyncFlags
	for {
		n, _, err := pb.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		h, r, err := DecodeSync(buf[:n], nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r...)
		flags = append(flags, h.Flags)
	}
	if len(got) != 100 || !slices.Contains(got, upd) || slices.Contains(got, syncRec(90)) {
		t.Errorf("got %d records; update present %v, stale copy present %v", len(got), slices.Contains(got, upd),
			slices.Contains(got, syncRec(90)))
	}
	if st := s.Stats(); st.Superseded != 1 || st.BulkRecords != 99 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
	if flags[len(flags)-1] != SyncBulk|SyncBulkEnd || flags[0] != 0 {
		t.Errorf("flags %v", flags)
	}
}

func TestSyncConfigFor(t *testing.T) {
	s := Settings{Primary: syncNodeA, Backup: syncNodeB, Key: syncTestKey}
	p := SyncConfigFor(s, RolePrimary)
	if p.Node != syncNodeA || p.Peer != syncNodeB || p.Local != netip.AddrPortFrom(syncNodeA, 540) ||
		p.PeerAddr != netip.AddrPortFrom(syncNodeB, 540) || string(p.Key) != string(syncTestKey) {
		t.Errorf("public: %+v", p)
	}
	s.PrimaryPrivate, s.BackupPrivate, s.Port = syncAddrA.Addr(), syncAddrB.Addr(), 1539
	b := SyncConfigFor(s, RoleBackup)
	if b.Node != syncNodeB || b.Peer != syncNodeA || b.Local != netip.AddrPortFrom(syncAddrB.Addr(), 1540) ||
		b.PeerAddr != netip.AddrPortFrom(syncAddrA.Addr(), 1540) {
		t.Errorf("private: %+v", b)
	}
}

// TestSyncSenderRestart: a sender made again on the same socket (the
// daemon's next StartSync{SyncMaster}) is accepted by a long-lived
// receiver, though its sequence numbers start again from 1.
func TestSyncSenderRestart(t *testing.T) {
	ca, cb := syncCfgs(syncTestKey)
	pa, pb := NewSyncPipe(syncAddrA, syncAddrB, 0)
	col := &collector{}
	r, err := NewSyncReceiver(cb, pb, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, SyncRecvBuffer)
	for i := range 3 {
		s, err := NewSyncSender(ca, pa)
		if err != nil {
			t.Fatal(err)
		}
		s.Add(syncRec(i))
		s.flush(false)
		n, from, err := pb.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Handle(buf[:n], from); err != nil {
			t.Fatalf("sender %d: %v", i, err)
		}
	}
	if col.count() != 3 {
		t.Errorf("%d records", col.count())
	}
}
