package fastpath

import (
	"testing"

	"github.com/vishvananda/netlink"

	"lvs/frame"
	"lvs/internal/frametest"
	"lvs/internal/netlab"
)

// TestResizeKeepsFlows: Resize moves every flow to the bigger maps, and
// what happens while it copies — installs and withdrawals by lvsd, and
// the old program's own changes (an RST's deletion, a handshake's ACK
// mark, a flow it schedules) — is what the new maps hold after the swap.
// Frames run through the fast path's program, the old one in the hook
// and the new one after.
func TestResizeKeepsFlows(t *testing.T) {
	f := openForTest(t) // 64 IPv4 entries
	tcpKey := func(i int) Key { return Key{Src: clientN(i), Dst: vip, Proto: frame.ProtoTCP} }
	const n = 40
	for i := range n {
		a := natAction(tcpKey(i))
		a.Syn = i == 3 // its next segment completes the handshake
		if err := f.Install(tcpKey(i), a); err != nil {
			t.Fatal(err)
		}
	}
	k6 := Key{Src: client6, Dst: vip6, Proto: frame.ProtoUDP}
	if err := f.Install(k6, nat6Action(k6)); err != nil {
		t.Fatal(err)
	}
	data := func(i int) []byte {
		return frametest.TCP(clientN(i), vip, frame.ACK|frame.PSH, []byte("GET"), frametest.WithDstMAC(hostMAC))
	}
	const withdrawn, reset, acked, installed, scheduled = 1, 2, 3, 50, 51
	hooked := false
	f.resizeHook = func() {
		hooked = true
		if err := f.Install(tcpKey(installed), natAction(tcpKey(installed))); err != nil {
			t.Error(err)
		}
		if err := f.Withdraw(tcpKey(withdrawn)); err != nil {
			t.Error(err)
		}
		rst := frametest.TCP(clientN(reset), vip, frame.RST|frame.ACK, nil, frametest.WithDstMAC(hostMAC))
		if ret, _ := run(t, f.tcx, rst); ret != tcActRedirect {
			t.Errorf("RST in the old program: verdict %#x, want redirect", ret)
		}
		if _, ok := f.Idle(tcpKey(reset)); ok {
			t.Error("the old program kept the flow after its RST")
		}
		if ret, _ := run(t, f.tcx, data(acked)); ret != tcActRedirect {
			t.Errorf("the handshake's ACK in the old program: verdict %#x, want redirect", ret)
		}
		if a, ok := f.Acked(tcpKey(acked)); !a || !ok {
			t.Errorf("Acked after the old program forwarded the ACK = %v, %v", a, ok)
		}
		// A flow the old program scheduled: written to its map alone.
		var key [keyLen]byte
		var val [valueLen]byte
		k := tcpKey(scheduled)
		k.marshal(&key)
		natAction(k).marshal(k, &val)
		if err := f.flows.Update(&key, &val, 0); err != nil {
			t.Error(err)
		}
	}
	// The maps of the sizes asked for are reserved, with their program:
	// Resize takes them.
	if err := f.Reserve(256, 512); err != nil {
		t.Fatal(err)
	}
	reserved, reserved6, reservedProg, old := f.spare, f.spare6, f.spareProg, f.tcx
	if err := f.Resize(256, 512); err != nil {
		t.Fatalf("Resize: %v", err)
	}
	if f.flows != reserved || f.flows6 != reserved6 || f.tcx != reservedProg || f.spare != nil || f.spare6 != nil || f.spareProg != nil {
		t.Error("Resize did not take the reserved maps and program")
	}
	if !hooked {
		t.Fatal("Resize did not copy before swapping")
	}
	if f.tcx == old {
		t.Fatal("Resize kept the old program")
	}
	if c4, c6 := f.Capacity(); c4 != 256 || c6 != 512 {
		t.Errorf("Capacity() = %d, %d, want 256, 512", c4, c6)
	}
	if m := f.flows.MaxEntries(); m != 256 {
		t.Errorf("the flow map has %d entries, want 256", m)
	}
	if a, ok := f.Acked(tcpKey(acked)); !a || !ok {
		t.Errorf("after the resize Acked = %v, %v: the old program's mark was lost", a, ok)
	}
	for i := range 60 { // a frame of flow acked would mark it again: after Acked
		want := i < n && i != withdrawn && i != reset || i == installed || i == scheduled
		ret, out := run(t, f.tcx, data(i))
		switch {
		case want && ret != tcActRedirect:
			t.Errorf("flow %d after the resize: verdict %#x, want redirect", i, ret)
		case want:
			frametest.Check(t, out, frametest.DstAddr(rip.Addr()), frametest.DstPort(rip.Port()), frametest.SumsOK())
		case ret != tcxNextRet:
			t.Errorf("flow %d after the resize: verdict %#x, want it passed on (no entry)", i, ret)
		}
	}
	ret, _ := run(t, f.tcx, frametest.UDP(client6, vip6, []byte("x"), frametest.WithDstMAC(hostMAC)))
	if ret != tcActRedirect {
		t.Errorf("the IPv6 flow after the resize: verdict %#x, want redirect", ret)
	}
	// The writers write the new maps alone again.
	if f.shadow != nil || f.shadow6 != nil {
		t.Error("a shadow map is left after the resize")
	}
	if err := f.Withdraw(tcpKey(0)); err != nil {
		t.Fatal(err)
	}
	if ret := toSocket(t, f.tcx, data(0)); ret != 1 {
		t.Error("a flow withdrawn after the resize is still forwarded")
	}
	if err := f.Resize(256, 0); err != nil { // both sizes kept: nothing to do
		t.Errorf("Resize to the same sizes: %v", err)
	}
}

// TestResizeSwapsAttached: on a veth in a namespace of its own, with
// either hook, Resize puts the new program where the old one was.
func TestResizeSwapsAttached(t *testing.T) {
	lab := netlab.NewT(t, "lvsfprs-") // root, or skipped
	name := lab.NS("rs")
	ns := lab.Get(name)
	for _, hook := range []Hook{HookTCX, HookTC} {
		t.Run(string(hook), func(t *testing.T) {
			a, b := "rs"+netlab.NewID()[:4]+"a", "rs"+netlab.NewID()[:4]+"b"
			lab.Veth(name, a, name, b)
			var fp *FastPath
			var ifindex int
			if err := ns.Do(func() (err error) {
				l, err := netlink.LinkByName(b)
				if err != nil {
					return err
				}
				ifindex = l.Attrs().Index
				if fp, err = Open(Config{MaxFlows: 256, MaxFlows6: 256, Slots: 64, Hook: hook}); err != nil {
					return err
				}
				return fp.Attach(ifindex)
			}); err != nil {
				t.Skipf("skipped: %v (needs a kernel with BPF and %s)", err, hook)
			}
			t.Cleanup(func() { ns.Do(fp.Close) })
			if err := ns.Do(func() error { return fp.Resize(1024, 0) }); err != nil {
				t.Fatalf("Resize: %v", err)
			}
			info, err := fp.tcx.Info()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := info.ID()
			var got int
			if hook == HookTCX {
				li, err := fp.links[0].Info()
				if err != nil {
					t.Fatal(err)
				}
				got = int(li.Program)
			} else {
				ns.Do(func() error {
					l, err := netlink.LinkByIndex(ifindex)
					if err != nil {
						return err
					}
					fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
					if len(fs) == 1 {
						got = fs[0].(*netlink.BpfFilter).Id
					} else {
						t.Errorf("%d ingress filters after the resize, want 1", len(fs))
					}
					return err
				})
			}
			if got != int(want) {
				t.Errorf("the interface runs program %d after the resize, want the new one, %d", got, want)
			}
		})
	}
}
