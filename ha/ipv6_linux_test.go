package ha

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/conntrack"
	"lvs/internal/netlab"
)

// routerPair6 is two router namespaces joined by two veth pairs, the public
// and the private heartbeat networks, with IPv6 addresses only.
type routerPair6 struct {
	lab  *netlab.T
	p, b string // namespace names of the primary and the backup
	set  Settings
}

func newRouterPair6(t *testing.T) *routerPair6 {
	lab := netlab.NewT(t, "lvst-")
	r := &routerPair6{lab: lab, p: lab.NS("p"), b: lab.NS("b")}
	for _, ns := range []string{r.p, r.b} {
		// No duplicate address detection: the addresses are usable (bindable)
		// at once, and nothing else is on these links.
		lab.Sysctl(ns, "net.ipv6.conf.default.accept_dad", "0")
		lab.Sysctl(ns, "net.ipv6.conf.all.accept_dad", "0")
	}
	lab.Veth(r.p, "pub0", r.b, "pub0")
	lab.Veth(r.p, "priv0", r.b, "priv0")
	r.set = Settings{
		Primary: netip.MustParseAddr("fd00:18:1::1"), Backup: netip.MustParseAddr("fd00:18:1::2"),
		PrimaryPrivate: netip.MustParseAddr("fd00:18:2::1"), BackupPrivate: netip.MustParseAddr("fd00:18:2::2"),
		Keepalive: 20 * time.Millisecond, Deadtime: 300 * time.Millisecond,
		FailbackDelay: 40 * time.Millisecond, HandoverTimeout: 2 * time.Second, GARPInterval: 5 * time.Millisecond,
		Key: testKey, Failback: true, SyncDaemon: true,
	}
	for _, a := range []struct {
		ns, dev string
		addr    netip.Addr
	}{{r.p, "pub0", r.set.Primary}, {r.b, "pub0", r.set.Backup}, {r.p, "priv0", r.set.PrimaryPrivate}, {r.b, "priv0", r.set.BackupPrivate}} {
		if err := lab.Get(a.ns).AddAddr(a.dev, netip.PrefixFrom(a.addr, 64)); err != nil {
			t.Fatal(err)
		}
	}
	// An IPv6 address stays tentative (not bindable) until its link has a
	// carrier, even without DAD: wait until none is.
	for _, ns := range []string{r.p, r.b} {
		h := lab.Get(ns).Netlink()
		err := netlab.WaitFor(context.Background(), 10*time.Second, nil, func() error {
			addrs, err := h.AddrList(nil, unix.AF_INET6)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if a.Flags&unix.IFA_F_TENTATIVE != 0 {
					return fmt.Errorf("%v is tentative in %s", a.IPNet, ns)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// ns returns the namespace of role.
func (r *routerPair6) ns(role Role) string {
	if role == RolePrimary {
		return r.p
	}
	return r.b
}

// TestHeartbeatIPv6Netns runs a primary and a backup Runner over real UDP
// sockets on IPv6 addresses, in two namespaces joined by a public and a
// private link: the backup alone takes over, the primary takes the addresses
// back once the backup released them, both channels are heard, and a
// stopping primary hands over at once.
func TestHeartbeatIPv6Netns(t *testing.T) {
	r := newRouterPair6(t)
	var trs [2]*UDP
	for i, role := range []Role{RolePrimary, RoleBackup} {
		r.lab.Do(r.ns(role), func() {
			tr, err := ListenUDP(UDPConfigFor(r.set, role))
			if err != nil {
				t.Errorf("ListenUDP(%s): %v", role, err)
				return
			}
			trs[i] = tr
		})
	}
	if t.Failed() {
		t.FailNow()
	}
	var j journal
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	nb, err := NewNode(r.set, RoleBackup)
	if err != nil {
		t.Fatal(err)
	}
	rb, berr := runNode(t, ctx, &wg, &j, nb, trs[1], 0)
	eventually(t, &j, "backup takes over alone", func() bool { return rb.Status().State == StateActive })

	np, err := NewNode(r.set, RolePrimary)
	if err != nil {
		t.Fatal(err)
	}
	pctx, pstop := context.WithCancel(ctx)
	rp, perr := runNode(t, pctx, &wg, &j, np, trs[0], 0)
	eventually(t, &j, "failback to the primary", func() bool { return j.index("primary claimed") >= 0 })
	if rl, c := j.index("backup released"), j.index("primary claimed"); rl < 0 || rl > c {
		t.Fatalf("primary claimed before the backup released:\n%s", &j)
	}
	eventually(t, &j, "both channels heard by the primary", func() bool {
		st := rp.Status()
		return len(st.Channels) == 2 && st.Channels[0].Age >= 0 && st.Channels[1].Age >= 0
	})
	st := rp.Status()
	if !st.Peer.Alive || st.Channels[0].Peer != r.set.Backup || st.Channels[1].Peer != r.set.BackupPrivate {
		t.Errorf("primary Status = %+v, want the backup alive on %v and %v", st, r.set.Backup, r.set.BackupPrivate)
	}
	if n := st.Refused; len(n) != 0 {
		t.Errorf("primary refused heartbeats: %v", n)
	}

	pstop()
	if err := <-perr; err != nil {
		t.Errorf("primary Run = %v", err)
	}
	eventually(t, &j, "backup takes over from a stopping primary", func() bool { return rb.Status().State == StateActive })
	if why := rb.Status().Reason; why != "partner stopping" {
		t.Errorf("backup became active because %q, want partner stopping\n%s", why, &j)
	}
	cancel()
	if err := <-berr; err != nil {
		t.Errorf("backup Run = %v", err)
	}
}

// TestSyncIPv6Netns streams IPv6 connection records from the primary to
// the backup over the private IPv6 link on SyncConfigFor's addresses and
// port, incrementally and as a bulk dump, and pushes lvs.cf over the
// public one.
func TestSyncIPv6Netns(t *testing.T) {
	r := newRouterPair6(t)
	ca, cb := SyncConfigFor(r.set, RolePrimary), SyncConfigFor(r.set, RoleBackup)
	var conns [2]*net.UDPConn
	for i, c := range []SyncConfig{ca, cb} {
		r.lab.Do(r.ns([]Role{RolePrimary, RoleBackup}[i]), func() {
			conn, err := ListenSync(c)
			if err != nil {
				t.Errorf("ListenSync(%v): %v", c.Local, err)
				return
			}
			conns[i] = conn
		})
	}
	if t.Failed() {
		t.FailNow()
	}
	s, rcv, col := syncPair(t, ca, cb, conns[0], conns[1], nil)
	const n = 200
	var want []conntrack.Record
	for i := range n {
		want = append(want, syncRec6(i))
		s.Add(syncRec6(i))
	}
	bulk := make([]conntrack.Record, n)
	for i := range bulk {
		bulk[i] = syncRec6(n + i)
	}
	s.Bulk(slices.Clone(bulk))
	want = append(want, bulk...)
	got := col.wait(t, len(want))
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Fatalf("record %+v not received", w)
		}
	}
	if rs := rcv.Stats(); rs.Refused != ([NumSyncRefusals]uint64{}) || rs.Bulks != 1 {
		t.Errorf("receiver stats %+v, want nothing refused and one bulk", rs)
	}

	// Config sync: the backup listens on its public address, heartbeat_port.
	p := &cfgPeer{text: []byte("serial_no = 1\n"), serial: 1}
	r.lab.Do(r.b, func() {
		startReceiverOn(t, netip.AddrPortFrom(r.set.Backup, DefaultPort).String(), testKey,
			[]netip.Addr{r.set.Primary, r.set.PrimaryPrivate}, p)
	})
	var res PushResult
	var err error
	r.lab.Do(r.p, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err = PushConfig(ctx, netip.AddrPortFrom(r.set.Backup, DefaultPort), r.set.Primary, testKey, []byte("serial_no = 2\n"), 2)
	})
	if err != nil || !res.Pushed {
		t.Fatalf("PushConfig over IPv6 = %+v, %v", res, err)
	}
	if text, serial, _ := p.get(); text != "serial_no = 2\n" || serial != 2 {
		t.Errorf("backup runs %q serial %d, want the pushed file", text, serial)
	}
}
