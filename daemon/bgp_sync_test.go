package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"lvs/config"
	"lvs/conntrack"
	"lvs/ipvs"
	"lvs/sched"
)

// TestSyncMesh runs the sync mesh of three ECMP directors on loopback
// addresses: a connection one director learns reaches the other two, once
// each, and is not sent back and forth.
func TestSyncMesh(t *testing.T) {
	dirs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	c := config.NewConfig()
	c.Primary, c.Redundancy, c.SyncDaemon, c.Directors = dirs[0], config.RedundancyECMP, true, dirs
	c.HeartbeatKey = "0123456789abcdef0123"
	c.HeartbeatPort = uint16(20000 + time.Now().UnixNano()%20000) // sync ports HeartbeatPort+1+i
	vip, rip := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("10.0.0.1")
	type director struct {
		m   *syncMesh
		ct  *conntrack.Table
		tbl *ipvs.Table
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ds []director
	for _, a := range dirs {
		m, err := startMesh(c, []netip.Prefix{netip.PrefixFrom(a, 8)}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("startMesh(%v): %v", a, err)
		}
		reg := ipvs.NewRegistry()
		key := ipvs.ServiceKey{Proto: ipvs.TCP, Addr: vip, Port: 80}
		tbl, err := ipvs.NewTable(reg, sched.New).AddService(ipvs.ServiceSpec{Key: key, SchedSpec: ipvs.SchedSpec{SchedName: "mh", PMaskBits: 32}})
		if err == nil {
			tbl, err = tbl.AddDest(key, ipvs.DestSpec{Addr: rip, Port: 80, Method: ipvs.Masq, Weight: 1})
		}
		if err != nil {
			t.Fatal(err)
		}
		ct := conntrack.NewTable(reg, conntrack.Config{})
		ct.LogChanges(true)
		done := make(chan error, 1)
		go func() { done <- m.run(ctx, ct) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("mesh of %v: %v", a, err)
			}
		})
		ds = append(ds, director{m, ct, tbl})
	}
	now := ipvs.Tick(1)
	rec := conntrack.Record{Proto: ipvs.TCP, State: conntrack.StateEstablished, Method: ipvs.Masq,
		Client: netip.MustParseAddrPort("203.0.113.5:40000"), Virtual: netip.AddrPortFrom(vip, 80),
		Real: netip.AddrPortFrom(rip, 80), Timeout: 900 * time.Second}
	if err := ds[0].ct.Import(rec, ds[0].tbl, now); err != nil {
		t.Fatal(err)
	}
	// Turn every director's control loop until the others hold the entry.
	imported := make([]int, len(ds))
	deadline := time.Now().Add(30 * time.Second)
	for ds[1].ct.Len() == 0 || ds[2].ct.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s, entries per director = %d %d %d; want 1 each", ds[0].ct.Len(), ds[1].ct.Len(), ds[2].ct.Len())
		}
		for i, d := range ds {
			d.m.tick(d.ct, now)
			select {
			case b := <-d.m.in:
				for _, r := range b.Records {
					if err := d.ct.Import(r, d.tbl, now); err != nil {
						t.Errorf("director %d: Import: %v", i, err)
					}
					imported[i]++
				}
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	for i, d := range ds {
		var got []conntrack.Record
		d.ct.Records(now, func(r conntrack.Record) bool { got = append(got, r); return true })
		if len(got) != 1 || got[0].Client != rec.Client || got[0].Real != rec.Real {
			t.Errorf("director %d holds %+v, want the one connection to %v", i, got, rec.Real)
		}
	}
	if imported[0] > 2 {
		t.Errorf("director 0 imported its own connection back %d times, want at most once from each other director", imported[0])
	}
}
