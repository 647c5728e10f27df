package ha

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"lvs/conntrack"
	"lvs/ipvs"
)

var (
	sync6VIP  = netip.MustParseAddr("2001:db8:18::10")
	sync6RIP  = netip.MustParseAddr("fd00:18:12::1")
	sync6Node = netip.MustParseAddr("2001:db8:18::1")
)

// syncRec6 returns a distinct established IPv6 TCP record for i.
func syncRec6(i int) conntrack.Record {
	cli := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xcc, 15: byte(i), 14: byte(i >> 8)})
	return conntrack.Record{Proto: ipvs.TCP, State: conntrack.StateEstablished, Method: ipvs.Masq,
		Client: netip.AddrPortFrom(cli, uint16(1024+i%50000)), Virtual: netip.AddrPortFrom(sync6VIP, 80),
		Real: netip.AddrPortFrom(sync6RIP, 8080), Timeout: 900 * time.Second}
}

// TestSyncDatagramSizeIPv6: IPv6 records (76 bytes) are packed by bytes,
// so no datagram the sender writes exceeds MaxSyncDatagram, whether the
// records are queued by Add or sent by a bulk dump, alone or mixed with
// IPv4 ones; and every datagram but the last of a stream is full (the
// next record would not fit).
func TestSyncDatagramSizeIPv6(t *testing.T) {
	mixed := func(i int) conntrack.Record {
		if i%3 == 0 {
			return syncRec(i)
		}
		return syncRec6(i)
	}
	for _, tc := range []struct {
		name string
		key  []byte
		rec  func(int) conntrack.Record
		bulk bool
	}{
		{"ipv6 add", nil, syncRec6, false},
		{"ipv6 add auth", syncTestKey, syncRec6, false},
		{"ipv6 bulk", nil, syncRec6, true},
		{"mixed add auth", syncTestKey, mixed, false},
		{"mixed bulk auth", syncTestKey, mixed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			ca, _ := syncCfgs(tc.key)
			pa, pb := NewSyncPipe(syncAddrA, syncAddrB, 0)
			s, err := NewSyncSender(ca, pa)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]conntrack.Record, n)
			for i := range want {
				want[i] = tc.rec(i)
			}
			if tc.bulk {
				s.Bulk(slices.Clone(want))
				for s.Stats().Pending > 0 {
					s.flush(true)
				}
			} else {
				for _, r := range want {
					s.Add(r)
					s.flushFull() // what Run does when Add kicks it
				}
				s.flush(false)
			}
			pb.Close() // reads return what was queued, then net.ErrClosed
			room := syncRoom(len(tc.key) > 0)
			var got []conntrack.Record
			buf := make([]byte, SyncRecvBuffer)
			for i := 1; ; i++ {
				k, _, err := pb.ReadFromUDPAddrPort(buf)
				if err != nil {
					break
				}
				if k > MaxSyncDatagram {
					t.Fatalf("datagram %d is %d bytes, over MaxSyncDatagram %d", i, k, MaxSyncDatagram)
				}
				_, recs, err := DecodeSync(buf[:k], tc.key, nil)
				if err != nil {
					t.Fatalf("DecodeSync: %v", err)
				}
				used := 0
				for _, r := range recs {
					used += recordLen(r)
				}
				if len(got)+len(recs) < n && used+recordLen(want[len(got)+len(recs)]) <= room {
					t.Errorf("datagram %d with %d records (%d bytes) had room for the next one", i, len(recs), used)
				}
				got = append(got, recs...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("received %d records, want the %d sent in order", len(got), n)
			}
			if st := s.Stats(); st.Pending != 0 || st.Records != n {
				t.Errorf("sender stats %+v, want %d records sent and none pending", st, n)
			}
		})
	}
}

// TestSyncBytesTracked: the sender's byte count follows replacements and
// drops, so a full queue is recognised whatever mix it holds.
func TestSyncBytesTracked(t *testing.T) {
	ca, _ := syncCfgs(nil)
	ca.QueueLen = 5
	pa, _ := NewSyncPipe(syncAddrA, syncAddrB, 0)
	s, err := NewSyncSender(ca, pa)
	if err != nil {
		t.Fatal(err)
	}
	sum := func() int {
		n := 0
		for _, r := range s.pend {
			n += recordLen(r)
		}
		return n
	}
	steps := []conntrack.Record{syncRec6(1), syncRec(2), syncRec6(3), syncRec6(1), syncRec(4), syncRec6(5), syncRec6(6), syncRec(7)}
	steps[3].State = conntrack.StateTimeWait // replaces flow 1
	for i, r := range steps {
		s.Add(r)
		if s.bytes != sum() {
			t.Fatalf("after Add %d: bytes = %d, want %d", i, s.bytes, sum())
		}
	}
	s.mu.Lock()
	s.takeLocked()
	s.mu.Unlock()
	if s.bytes != 0 || sum() != 0 || len(s.out) != 5 {
		t.Errorf("after taking all: bytes = %d, %d records out; want 0 and 5", s.bytes, len(s.out))
	}
}

func TestSyncEncodeDecodeIPv6(t *testing.T) {
	recs := []conntrack.Record{syncRec6(1), syncRec(2), syncRec6(3)}
	recs[2].Template, recs[2].Proto, recs[2].Client = true, ipvs.ProtoAny, netip.AddrPortFrom(recs[2].Client.Addr(), 0)
	h := SyncHeader{Node: sync6Node, Boot: 9, Seq: 3}
	b := EncodeSync(nil, h, recs, syncTestKey)
	if want := SyncHeaderLen + 2*conntrack.RecordLen6 + conntrack.RecordLen + 32; len(b) != want {
		t.Errorf("EncodeSync: %d bytes, want %d", len(b), want)
	}
	got, grecs, err := DecodeSync(b, syncTestKey, nil)
	h.Count = 3
	if err != nil || got != h || !slices.Equal(grecs, recs) {
		t.Fatalf("DecodeSync = %+v, %v, %v; want %+v, %v", got, grecs, err, h, recs)
	}
}

// TestUDPTransportIPv6 sends heartbeats between two transports on ::1.
func TestUDPTransportIPv6(t *testing.T) {
	loop6 := netip.IPv6Loopback()
	var cfg UDPConfig
	cfg.Local[ChannelPublic] = netip.AddrPortFrom(loop6, 0)
	a, err := ListenUDP(cfg)
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer a.Close()
	b, err := ListenUDP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.SetPeer(ChannelPublic, b.LocalAddr(ChannelPublic))
	m := testMsg()
	m.Node = sync6Node
	want := m.Encode(nil, testKey)
	if err := a.Send(ChannelPublic, want); err != nil {
		t.Fatal(err)
	}
	got, from := recvTimeout(t, b, ChannelPublic)
	if !bytes.Equal(got, want) || from != loop6 {
		t.Errorf("Recv = %x from %v, want %x from %v", got, from, want, loop6)
	}
	if dm, err := Decode(got, testKey); err != nil || dm.Node != sync6Node {
		t.Errorf("Decode(received) = %+v, %v; want node %v", dm, err, sync6Node)
	}
}

// TestSettingsIPv6: IPv6 heartbeat addresses give IPv6 sockets and node
// ids, and the role is found among IPv6 host addresses.
func TestSettingsIPv6(t *testing.T) {
	p, b := netip.MustParseAddr("2001:db8:18::1"), netip.MustParseAddr("2001:db8:18::2")
	pp, bp := netip.MustParseAddr("fd00:18:1::1"), netip.MustParseAddr("fd00:18:1::2")
	s := Settings{Primary: p, Backup: b, PrimaryPrivate: pp, BackupPrivate: bp}
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	u := UDPConfigFor(s, RoleBackup)
	if want := (UDPConfig{Local: [numChannels]netip.AddrPort{netip.AddrPortFrom(b, 539), netip.AddrPortFrom(bp, 539)},
		Peer: [numChannels]netip.AddrPort{netip.AddrPortFrom(p, 539), netip.AddrPortFrom(pp, 539)}}); u != want {
		t.Errorf("UDPConfigFor = %+v, want %+v", u, want)
	}
	c := SyncConfigFor(s, RolePrimary)
	if c.Node != p || c.Peer != b || c.Local != netip.AddrPortFrom(pp, 540) || c.PeerAddr != netip.AddrPortFrom(bp, 540) {
		t.Errorf("SyncConfigFor = %+v", c)
	}
	for _, tc := range []struct {
		own  []netip.Addr
		want Role
	}{
		{[]netip.Addr{netip.MustParseAddr("192.0.2.1"), b}, RoleBackup},
		{[]netip.Addr{p, pp}, RolePrimary},
	} {
		if r, err := FindRole(p, b, tc.own); r != tc.want || err != nil {
			t.Errorf("FindRole(%v) = %v, %v; want %v", tc.own, r, err, tc.want)
		}
	}
	if _, err := FindRole(p, b, []netip.Addr{netip.MustParseAddr("2001:db8:18::3")}); err == nil {
		t.Error("FindRole with neither address succeeded")
	}
}

// TestConfigPushIPv6 pushes a file to a receiver on ::1 that accepts ::1
// only as the partner.
func TestConfigPushIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	l.Close()
	key := []byte("secret")
	p := &cfgPeer{text: []byte("serial_no = 1\n"), serial: 1}
	startReceiverOn(t, "[::1]:0", key, []netip.Addr{netip.IPv6Loopback()}, p)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := PushConfig(ctx, p.addr, netip.IPv6Loopback(), key, []byte("serial_no = 2\n"), 2)
	if err != nil || !res.Pushed || res.Message != "applied" {
		t.Fatalf("PushConfig over ::1 = %+v, %v", res, err)
	}
	if text, serial, n := p.get(); text != "serial_no = 2\n" || serial != 2 || n != 1 {
		t.Errorf("peer has %q serial %d after %d applies", text, serial, n)
	}
	// A receiver that knows the partner by its IPv4 address refuses ::1.
	q := &cfgPeer{text: []byte("serial_no = 1\n"), serial: 1}
	startReceiverOn(t, "[::1]:0", key, loop, q)
	if _, err := PushConfig(ctx, q.addr, netip.Addr{}, key, []byte("x"), 3); err == nil {
		t.Errorf("push from ::1 to a receiver expecting %v succeeded", loop)
	}
}
