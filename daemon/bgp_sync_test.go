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

// TestSyncMesh runs the sync mesh of ECMP directors on loopback addresses:
// a connection one of three directors learns reaches the other two and is
// not sent back and forth; a fourth director that starts later gets it
// from the others' dumps, with no new change.
func TestSyncMesh(t *testing.T) {
	dirs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"),
		netip.MustParseAddr("127.0.0.4")}
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
	start := func(a netip.Addr) {
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
	for _, a := range dirs[:3] {
		start(a)
	}
	now := ipvs.Tick(1)
	rec := conntrack.Record{Proto: ipvs.TCP, State: conntrack.StateEstablished, Method: ipvs.Masq,
		Client: netip.MustParseAddrPort("203.0.113.5:40000"), Virtual: netip.AddrPortFrom(vip, 80),
		Real: netip.AddrPortFrom(rip, 80), Timeout: 900 * time.Second}
	if err := ds[0].ct.Import(rec, ds[0].tbl, now); err != nil {
		t.Fatal(err)
	}
	// Turn every director's control loop until the others hold the entry.
	imported := make([]int, len(dirs))
	turn := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s", what)
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
	}
	turn("the connection reaching directors 1 and 2", func() bool { return ds[1].ct.Len() == 1 && ds[2].ct.Len() == 1 })
	if imported[0] > 2 {
		t.Errorf("director 0 imported its own connection back %d times, want at most once from each other director", imported[0])
	}
	rounds := 0 // let every change in flight arrive first, so only a dump can bring it to director 3
	turn("the changes in flight", func() bool { rounds++; return rounds > 30 })
	start(dirs[3])
	turn("the connection reaching director 3, started later", func() bool { return ds[3].ct.Len() == 1 })
	for i, d := range ds {
		var got []conntrack.Record
		d.ct.Records(now, func(r conntrack.Record) bool { got = append(got, r); return true })
		if len(got) != 1 || got[0].Client != rec.Client || got[0].Real != rec.Real {
			t.Errorf("director %d holds %+v, want the one connection to %v", i, got, rec.Real)
		}
	}
}
