package tap

import (
	"testing"
	"time"

	"lvs/dataplane"
	"lvs/dataplane/afpacket"
	"lvs/dataplane/internal/nstest"
	"lvs/dataplane/linktest"
	"lvs/internal/testutil"
)

// tapNS creates a namespace holding an up TAP device opened with c, and an
// AF_PACKET Link on the same device: what one writes, the other reads.
func tapNS(t testing.TB, c Config) (*Link, *afpacket.Link) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "sysctl")
	ns := nstest.New(t, "tap")
	c.Name = nstest.Prefix + nstest.Unique() + "t"
	tl := openIn(t, ns, c)
	if err := ns.Up(tl.Name()); err != nil {
		t.Fatal(err)
	}
	var pl *afpacket.Link
	if err := ns.Do(func() (err error) { pl, err = afpacket.Open(afpacket.Config{Interface: tl.Name()}); return err }); err != nil {
		t.Fatalf("afpacket.Open(%s): %v", tl.Name(), err)
	}
	t.Cleanup(func() { pl.Close() })
	return tl, pl
}

func openIn(t testing.TB, ns *nstest.NS, c Config) *Link {
	t.Helper()
	var l *Link
	if err := ns.Do(func() (err error) { l, err = Open(c); return err }); err != nil {
		t.Fatalf("Open(%+v): %v", c, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLinkContract(t *testing.T) {
	for _, vnet := range []bool{false, true} {
		name := map[bool]string{false: "water", true: "vnethdr"}[vnet]
		t.Run(name+"/tap-to-kernel", func(t *testing.T) {
			linktest.TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
				tl, pl := tapNS(t, Config{VNetHdr: vnet})
				return tl, pl
			}, vnet)
		})
		t.Run(name+"/kernel-to-tap", func(t *testing.T) {
			linktest.TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
				tl, pl := tapNS(t, Config{VNetHdr: vnet})
				return pl, tl
			}, vnet)
		})
	}
}

func TestWriteMetaWithoutVNetHdr(t *testing.T) {
	tl, _ := tapNS(t, Config{})
	f, m := linktest.UDPFrame(1, 64)
	if n, err := tl.WriteBatchMeta([][]byte{f}, []dataplane.Meta{m}); n != 0 || err != ErrNoVNetHdr {
		t.Errorf("WriteBatchMeta(partial checksum) without VNetHdr = %d, %v; want 0, ErrNoVNetHdr", n, err)
	}
}

// TestTCPSuperFrames: two namespaces, each with a TAP device carrying its
// address, joined by a userspace bridge of the two TAP Links. A TCP stream
// crosses it as TSO super-frames with partial checksums and arrives intact.
func TestTCPSuperFrames(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "sysctl")
	cli, srv := nstest.New(t, "cli"), nstest.New(t, "srv")
	u := nstest.Unique()
	a := openIn(t, cli, Config{Name: "dpt" + u + "a", VNetHdr: true})
	b := openIn(t, srv, Config{Name: "dpt" + u + "b", VNetHdr: true})
	nstest.Addr(t, cli, a.Name(), "192.0.2.1/24")
	nstest.Addr(t, srv, b.Name(), "192.0.2.2/24")
	st := nstest.Bridge(t, a, b)

	nstest.TCPStream(t, cli, srv, "192.0.2.2:8080", 8<<20, 30*time.Second)

	t.Logf("bridge: %d frames, %d GSO, %d partial checksum, longest %d bytes, %d rejected",
		st.Frames.Load(), st.GSO.Load(), st.Partial.Load(), st.MaxLen.Load(), st.Rejected.Load())
	if st.GSO.Load() == 0 || st.MaxLen.Load() <= 1514 {
		t.Errorf("no GSO super-frame seen (longest frame %d bytes); want TSO frames from the kernel", st.MaxLen.Load())
	}
	if n := st.BadMeta.Load(); n != 0 {
		t.Errorf("%d GSO frames with inconsistent Meta", n)
	}
	if n := st.Rejected.Load(); n != 0 {
		t.Errorf("WriteBatchMeta refused %d frames; first error: %v", n, st.FirstErr.Load())
	}
}
