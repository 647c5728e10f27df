package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/dataplane"
	"lvs/dataplane/internal/nstest"
	"lvs/dataplane/linktest"
	"lvs/internal/testutil"
)

// vethNS creates a namespace holding both ends of a veth pair.
func vethNS(t *testing.T) (ns *nstest.NS, a, b string) {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "sysctl")
	ns = nstest.New(t, "veth")
	u := nstest.Unique()
	a, b = nstest.Prefix+u+"a", nstest.Prefix+u+"b"
	nstest.Veth(t, ns, a, ns, b)
	return ns, a, b
}

// openIn opens a Link inside ns and closes it when the test ends.
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
	linktest.TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
		ns, a, b := vethNS(t)
		return openIn(t, ns, Config{Interface: a}), openIn(t, ns, Config{Interface: b, Promisc: true})
	}, true)
}

// TestLinkContractNoVNetHdr: the other options (small ring, spinning reads)
// keep the contract too.
func TestLinkContractNoVNetHdr(t *testing.T) {
	linktest.TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
		ns, a, b := vethNS(t)
		c := Config{DisableVNetHdr: true, BlockSize: 64 << 10, BlockCount: 16, BatchSize: 16, BusyPoll: 50 * time.Microsecond}
		ca, cb := c, c
		ca.Interface, cb.Interface = a, b
		return openIn(t, ns, ca), openIn(t, ns, cb)
	}, false)
}

// TestLinkContractV2: the TPACKET_V2 ring keeps the contract, with and
// without the virtio-net header, with small frames (the ring still holds
// the 256-frame burst of the order test) and spinning reads too.
func TestLinkContractV2(t *testing.T) {
	linktest.TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
		ns, a, b := vethNS(t)
		return openIn(t, ns, Config{Interface: a, Ring: RingV2}),
			openIn(t, ns, Config{Interface: b, Ring: RingV2, Promisc: true})
	}, true)
}

func TestLinkContractV2NoVNetHdr(t *testing.T) {
	linktest.TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
		ns, a, b := vethNS(t)
		c := Config{Ring: RingV2, DisableVNetHdr: true, FrameSize: 2048, FrameCount: 512, BatchSize: 16, BusyPoll: 50 * time.Microsecond}
		ca, cb := c, c
		ca.Interface, cb.Interface = a, b
		return openIn(t, ns, ca), openIn(t, ns, cb)
	}, false)
}

func TestGeometry2(t *testing.T) {
	for _, c := range []Config{
		{FrameSize: defaultFrameSize, FrameCount: defaultFrameCount},
		{FrameSize: 2048, FrameCount: 16},
		{FrameSize: 1000, FrameCount: 1},
		{FrameSize: 9000, FrameCount: 512},
	} {
		fs, bs, blocks, err := geometry2(c)
		if err != nil {
			t.Fatalf("geometry2(%d, %d): %v", c.FrameSize, c.FrameCount, err)
		}
		per := bs / fs
		used := per * fs
		if fs < c.FrameSize || fs%tpacketAlign != 0 || bs%4096 != 0 || bs&(bs-1) != 0 || per*blocks < c.FrameCount ||
			used < bs-bs/8 {
			t.Errorf("geometry2(%d, %d) = frames of %d, %d blocks of %d (%d per block)",
				c.FrameSize, c.FrameCount, fs, blocks, bs, per)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ns, a, _ := vethNS(t)
	for _, c := range []Config{
		{Interface: "lvsdp-nonexistent"},
		{Interface: a, BlockSize: 1000},
		{Interface: a, Ring: RingV2, FrameSize: 100},
		{Interface: a, Ring: RingV2 + 1},
	} {
		err := ns.Do(func() error {
			l, err := Open(c)
			if err == nil {
				l.Close()
			}
			return err
		})
		if err == nil {
			t.Errorf("Open(%+v) succeeded, want an error", c)
		}
	}
}

// TestWriteErrors: the frame that cannot go out is reported, the ones
// before it are sent.
func TestWriteErrors(t *testing.T) {
	ns, a, b := vethNS(t)
	la := openIn(t, ns, Config{Interface: a})
	lb := openIn(t, ns, Config{Interface: b})
	big := linktest.TestFrame(2, 3000) // over the 1500 MTU and not marked GSO
	n, err := la.WriteBatch([][]byte{linktest.TestFrame(1, 100), big, linktest.TestFrame(3, 100)})
	if n != 1 || !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("WriteBatch(ok, 3000 bytes, ok) = %d, %v; want 1, EMSGSIZE", n, err)
	}
	if n, err := la.WriteBatch([][]byte{{}}); n != 0 || err == nil {
		t.Errorf("WriteBatch(empty frame) = %d, %v; want 0, an error", n, err)
	}
	got, _ := linktest.Collect(t, lb, 1)
	if !bytes.Equal(got[0], linktest.TestFrame(1, 100)) {
		t.Errorf("frame before the failing one did not arrive intact")
	}

	ns2, c, _ := vethNS(t)
	plain := openIn(t, ns2, Config{Interface: c, DisableVNetHdr: true})
	f, m := linktest.UDPFrame(1, 64)
	if n, err := plain.WriteBatchMeta([][]byte{f}, []dataplane.Meta{m}); n != 0 || !errors.Is(err, ErrNoVNetHdr) {
		t.Errorf("WriteBatchMeta(partial checksum) without PACKET_VNET_HDR = %d, %v; want 0, ErrNoVNetHdr", n, err)
	}
}

// udpFlow returns a UDP frame of flow i (source port 10000+i), tagged seq.
func udpFlow(i int, seq uint32) []byte {
	f, _ := linktest.UDPFrame(seq, 64)
	binary.BigEndian.PutUint16(f[34:], uint16(10000+i))
	binary.BigEndian.PutUint16(f[40:], 0) // no UDP checksum
	return f
}

// collectTags reads UDPFrame tags from every link until want distinct tags
// arrived in total, or Timeout.
func collectTags(t *testing.T, links []*Link, want int) [][]uint32 {
	t.Helper()
	got := make([][]uint32, len(links))
	var mu sync.Mutex
	total := 0
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames := make([][]byte, l.BatchSize())
			for {
				n, err := l.ReadBatch(frames)
				if err != nil {
					return
				}
				mu.Lock()
				for _, f := range frames[:n] {
					if len(f) >= 46 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 17 {
						got[i] = append(got[i], binary.BigEndian.Uint32(f[42:]))
						total++
					}
				}
				if total >= want {
					select {
					case <-done:
					default:
						close(done)
					}
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(linktest.Timeout):
		t.Errorf("fanout: %d of %d frames after %v", total, want, linktest.Timeout)
	}
	for _, l := range links {
		l.Close()
	}
	wg.Wait()
	return got
}

func TestFanout(t *testing.T) {
	for _, mode := range []FanoutMode{FanoutHash, FanoutLB} {
		t.Run(map[FanoutMode]string{FanoutHash: "hash", FanoutLB: "lb"}[mode], func(t *testing.T) {
			ns, a, b := vethNS(t)
			tx := openIn(t, ns, Config{Interface: a})
			c := Config{Interface: b, Fanout: mode, BlockSize: 64 << 10, BlockCount: 8}
			workers := []*Link{openIn(t, ns, c), openIn(t, ns, c)}
			const total = 512
			frames := make([][]byte, total)
			for i := range frames {
				frames[i] = udpFlow(i%64, uint32(i))
			}
			linktest.WriteAll(t, tx, frames)
			got := collectTags(t, workers, total)
			seen := map[uint32]int{}
			for w, tags := range got {
				if len(tags) == 0 {
					t.Errorf("worker %d received no frame of %d; want the group to share them", w, total)
				}
				for _, tag := range tags {
					seen[tag]++
				}
			}
			for i := range uint32(total) {
				if seen[i] != 1 {
					t.Fatalf("frame %d received %d times by the group, want once (per worker: %d, %d)",
						i, seen[i], len(got[0]), len(got[1]))
				}
			}
		})
	}
}

// TestTCPSuperFrames runs a TCP stream with default offloads from a client
// namespace through a userspace bridge of two Links to a server namespace:
// the Links see TSO super-frames with partial checksums, and re-sending them
// with their Meta delivers the stream intact.
func TestTCPSuperFrames(t *testing.T) {
	forRings(t, testTCPSuperFrames)
}

// forRings runs test once per ring version, as subtests v3 and v2.
func forRings(t *testing.T, test func(t *testing.T, ring RingVersion)) {
	t.Run("v3", func(t *testing.T) { test(t, RingV3) })
	t.Run("v2", func(t *testing.T) { test(t, RingV2) })
}

func testTCPSuperFrames(t *testing.T, ring RingVersion) {
	testutil.RequireRoot(t)
	testutil.RequireCommand(t, "ip", "sysctl")
	cli, rtr, srv := nstest.New(t, "cli"), nstest.New(t, "rtr"), nstest.New(t, "srv")
	u := nstest.Unique()
	c0, r0, r1, s0 := "dpc"+u, "dpr"+u+"a", "dpr"+u+"b", "dps"+u
	nstest.Veth(t, cli, c0, rtr, r0)
	nstest.Veth(t, rtr, r1, srv, s0)
	nstest.Addr(t, cli, c0, "192.0.2.1/24")
	nstest.Addr(t, srv, s0, "192.0.2.2/24")
	a := openIn(t, rtr, Config{Interface: r0, Ring: ring})
	b := openIn(t, rtr, Config{Interface: r1, Ring: ring})
	st := nstest.Bridge(t, a, b)

	nstest.TCPStream(t, cli, srv, "192.0.2.2:8080", 8<<20, 30*time.Second)

	t.Logf("bridge: %d frames, %d GSO, %d partial checksum, longest %d bytes, %d rejected",
		st.Frames.Load(), st.GSO.Load(), st.Partial.Load(), st.MaxLen.Load(), st.Rejected.Load())
	if st.GSO.Load() == 0 || st.MaxLen.Load() <= 1514 {
		t.Errorf("no GSO super-frame seen (longest frame %d bytes); want TSO frames from the sender", st.MaxLen.Load())
	}
	if st.Partial.Load() == 0 {
		t.Errorf("no frame with a partial checksum seen; want NeedsCsum from TX checksum offload")
	}
	if n := st.BadMeta.Load(); n != 0 {
		t.Errorf("%d GSO frames with inconsistent Meta (want NeedsCsum at the TCP header, offset 16)", n)
	}
	if n := st.Rejected.Load(); n != 0 {
		t.Errorf("WriteBatchMeta refused %d frames; first error: %v", n, st.FirstErr.Load())
	}
}

// TestVLANTagRestored: the kernel moves an 802.1Q tag out of the frame
// before packet sockets see it (skb_vlan_untag); the Link puts it back before
// the EtherType and shifts the checksum offsets of Meta to match.
func TestVLANTagRestored(t *testing.T) {
	forRings(t, func(t *testing.T, ring RingVersion) {
		forVNet(t, func(t *testing.T, noVNet bool) { testVLANTagRestored(t, ring, noVNet) })
	})
}

// forVNet runs test with PACKET_VNET_HDR (subtest vnet) and without (plain).
func forVNet(t *testing.T, test func(t *testing.T, noVNet bool)) {
	t.Run("vnet", func(t *testing.T) { test(t, false) })
	t.Run("plain", func(t *testing.T) { test(t, true) })
}

func testVLANTagRestored(t *testing.T, ring RingVersion, noVNet bool) {
	ns, a, b := vethNS(t)
	tx := openIn(t, ns, Config{Interface: a})
	rx := openIn(t, ns, Config{Interface: b, Ring: ring, DisableVNetHdr: noVNet})
	plain, m := linktest.UDPFrame(9, 100)
	tagged := append(append(append([]byte{}, plain[:12]...), 0x81, 0, 0x20, 7), plain[12:]...) // PCP 1, VID 7
	m.Shift(4)
	if n, err := tx.WriteBatchMeta([][]byte{tagged}, []dataplane.Meta{m}); n != 1 || err != nil {
		t.Fatalf("WriteBatchMeta(tagged frame) = %d, %v", n, err)
	}
	frames := make([][]byte, rx.BatchSize())
	meta := make([]dataplane.Meta, rx.BatchSize())
	deadline := time.AfterFunc(linktest.Timeout, func() { rx.Close() })
	defer deadline.Stop()
	for {
		n, err := rx.ReadBatchMeta(frames, meta)
		if err != nil {
			t.Fatalf("ReadBatchMeta: %v (timeout %v)", err, linktest.Timeout)
		}
		for i, f := range frames[:n] {
			if len(f) < 18 || !bytes.Equal(f[6:12], plain[6:12]) {
				continue
			}
			if !bytes.Equal(f, tagged) {
				t.Fatalf("received % x..., want % x...", f[:min(len(f), 22)], tagged[:22])
			}
			if !noVNet && (meta[i].CsumStart != m.CsumStart || meta[i].CsumOffset != m.CsumOffset) {
				t.Errorf("Meta = %+v, want CsumStart %d CsumOffset %d", meta[i], m.CsumStart, m.CsumOffset)
			}
			return
		}
	}
}

// TestStats: frames that find the ring full are counted as drops, and the
// totals survive Close.
func TestStats(t *testing.T) {
	forRings(t, testStats)
}

func testStats(t *testing.T, ring RingVersion) {
	ns, a, b := vethNS(t)
	tx := openIn(t, ns, Config{Interface: a})
	// A few frames fit.
	rx := openIn(t, ns, Config{Interface: b, Ring: ring, BlockSize: 4096, BlockCount: 2, FrameSize: 2048, FrameCount: 4})
	const total = 64
	frames := make([][]byte, total)
	for i := range frames {
		frames[i] = linktest.TestFrame(uint32(i), 1000)
	}
	linktest.WriteAll(t, tx, frames)
	st := rx.Stats()
	if st.Packets < total || st.Drops == 0 || st.Drops >= st.Packets {
		t.Errorf("Stats() after %d frames into a tiny ring nobody read = %+v; want Packets ≥ %d, 0 < Drops < Packets",
			total, st, total)
	}
	rx.Close()
	if after := rx.Stats(); after.Packets < st.Packets || after.Drops < st.Drops {
		t.Errorf("Stats() after Close = %+v, want the totals %+v kept", after, st)
	}
}

// A transmit-only Link sends like any other, receives nothing (its socket is
// bound to no protocol), and a read on it blocks until Close.
func TestTXOnly(t *testing.T) {
	ns, a, b := vethNS(t)
	tx := openIn(t, ns, Config{Interface: a, TXOnly: true})
	rx := openIn(t, ns, Config{Interface: b, Promisc: true})
	frames := make([][]byte, 8)
	for i := range frames {
		frames[i] = linktest.TestFrame(uint32(i), 100)
	}
	if n, err := tx.WriteBatch(frames); n != len(frames) || err != nil {
		t.Fatalf("WriteBatch = %d, %v; want %d, nil", n, err, len(frames))
	}
	got, _ := linktest.Collect(t, rx, len(frames))
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("frame %d differs after the transmit-only link", i)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := tx.ReadBatch(make([][]byte, 4))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("ReadBatch on a transmit-only link returned early: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	tx.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadBatch after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a read on a transmit-only link")
	}
}

// TestV2FrameTooLarge: a frame that does not fit a RingV2 slot is skipped and
// counted as Discarded, and the ring stays in step for the frames after it.
func TestV2FrameTooLarge(t *testing.T) {
	ns, a, b := vethNS(t)
	tx := openIn(t, ns, Config{Interface: a})
	rx := openIn(t, ns, Config{Interface: b, Ring: RingV2, FrameSize: 512, FrameCount: 8})
	small := linktest.TestFrame(2, 100)
	linktest.WriteAll(t, tx, [][]byte{linktest.TestFrame(1, 1000), small})
	got, _ := linktest.Collect(t, rx, 1)
	if !bytes.Equal(got[0], small) {
		t.Errorf("first frame read is %d bytes, want the 100-byte frame after the oversized one", len(got[0]))
	}
	if d := rx.Stats().Discarded; d == 0 {
		t.Errorf("Stats().Discarded = 0 after a 1000-byte frame into 512-byte slots, want ≥ 1")
	}
}
