package afpacket

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lvs/dataplane"
	"lvs/dataplane/internal/nstest"
	"lvs/dataplane/linktest"
	"lvs/internal/testutil"
)

// TestLinkContractProtocols: a Link of per-protocol sockets keeps the
// contract (its test frames carry linktest.EtherTypeTest, its Meta frames
// are IPv4), reading several rings in turn.
func TestLinkContractProtocols(t *testing.T) {
	linktest.TestPair(t, func(t *testing.T) (dataplane.Link, dataplane.Link) {
		ns, a, b := vethNS(t)
		protos := []uint16{unix.ETH_P_ARP, linktest.EtherTypeTest, unix.ETH_P_IP}
		return openIn(t, ns, Config{Interface: a, Protocols: protos}),
			openIn(t, ns, Config{Interface: b, Ring: RingV2, Promisc: true, Protocols: protos})
	}, true)
}

// udpTo is linktest's UDP frame with tag, to dstMAC and IPv4 address dst.
func udpTo(tag uint32, dstMAC net.HardwareAddr, dst [4]byte) []byte {
	f, _ := linktest.UDPFrame(tag, 16)
	copy(f[0:6], dstMAC)
	copy(f[30:34], dst[:])
	return f
}

// udpTag returns the tag of a udpTo frame.
func udpTag(f []byte) (uint32, bool) {
	if len(f) < 46 || binary.BigEndian.Uint16(f[12:]) != unix.ETH_P_IP || f[23] != 17 {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[42:]), true
}

// arpFrame is a broadcast ARP request from 02:00:00:00:00:0a.
func arpFrame() []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0x0a})
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_ARP)
	copy(f[14:22], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	copy(f[22:28], f[6:12])
	copy(f[28:32], []byte{192, 0, 2, 1})
	copy(f[38:42], []byte{192, 0, 2, 2})
	return f
}

// macOf returns the MAC address of interface ifname in ns.
func macOf(t *testing.T, ns *nstest.NS, ifname string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// readUntil reads l, keeping copies of the frames, until done says the
// frames read so far are all it waits for, or linktest.Timeout passes.
func readUntil(t *testing.T, l *Link, done func([][]byte) bool) [][]byte {
	t.Helper()
	var got [][]byte
	deadline := time.AfterFunc(linktest.Timeout, func() { l.Close() })
	defer deadline.Stop()
	frames := make([][]byte, l.BatchSize())
	for !done(got) {
		n, err := l.ReadBatch(frames)
		if err != nil {
			t.Fatalf("ReadBatch: %v (after %d frames; timeout %v)", err, len(got), linktest.Timeout)
		}
		for _, f := range frames[:n] {
			got = append(got, bytes.Clone(f))
		}
	}
	return got
}

// tags returns the tags of the udpTo frames among got.
func tags(got [][]byte) map[uint32]bool {
	out := map[uint32]bool{}
	for _, f := range got {
		if tag, ok := udpTag(f); ok {
			out[tag] = true
		}
	}
	return out
}

// TestProtocolsAfterIngress: a socket bound to ETH_P_IP is delivered a
// frame only after the netdev ingress hook (and tc ingress) passed it on,
// where an ETH_P_ALL tap has it before: a frame the hook drops reaches
// only the tap. This is what keeps the frames lvsd's tcx program forwards
// out of its rings.
func TestProtocolsAfterIngress(t *testing.T) {
	testutil.RequireCommand(t, "nft")
	ns, a, b := vethNS(t)
	rules := fmt.Sprintf("table netdev lvsdpt {\n chain in {\n  type filter hook ingress device %q priority 0; policy accept;\n  ip daddr 192.0.2.99 drop\n }\n}\n", b)
	if out, err := ns.Run(context.Background(), rules, "nft", "-f", "-"); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	mac := macOf(t, ns, b)
	tx := openIn(t, ns, Config{Interface: a, TXOnly: true})
	tap := openIn(t, ns, Config{Interface: b})
	rx := openIn(t, ns, Config{Interface: b, Protocols: []uint16{unix.ETH_P_IP}})
	linktest.WriteAll(t, tx, [][]byte{udpTo(1, mac, [4]byte{192, 0, 2, 99}), udpTo(2, mac, [4]byte{192, 0, 2, 2})})
	if got := tags(readUntil(t, rx, func(g [][]byte) bool { return tags(g)[2] })); got[1] {
		t.Errorf("the ETH_P_IP socket was delivered the frame the ingress hook dropped: %v", got)
	}
	if got := tags(readUntil(t, tap, func(g [][]byte) bool { return tags(g)[2] })); !got[1] {
		t.Errorf("the ETH_P_ALL tap did not see the frame before the ingress hook dropped it: %v", got)
	}
}

// TestProtocolsAcceptMark: a frame a netdev ingress rule marked and made
// one for another host (lvsd's kernel guard, which so hides it from the
// kernel's IP receive) reaches a Link with that AcceptMark, and not one
// without.
func TestProtocolsAcceptMark(t *testing.T) {
	testutil.RequireCommand(t, "nft")
	ns, a, b := vethNS(t)
	const mark = 0x6c767364
	rules := fmt.Sprintf("table netdev lvsdpt {\n chain in {\n  type filter hook ingress device %q priority 0; policy accept;\n"+
		"  ip daddr 192.0.2.99 meta mark set %#x meta pkttype set other\n }\n}\n", b, mark)
	if out, err := ns.Run(context.Background(), rules, "nft", "-f", "-"); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	mac := macOf(t, ns, b)
	tx := openIn(t, ns, Config{Interface: a, TXOnly: true})
	with := openIn(t, ns, Config{Interface: b, Protocols: []uint16{unix.ETH_P_IP}, AcceptMark: mark})
	without := openIn(t, ns, Config{Interface: b, Protocols: []uint16{unix.ETH_P_IP}})
	linktest.WriteAll(t, tx, [][]byte{udpTo(1, mac, [4]byte{192, 0, 2, 99}), udpTo(2, mac, [4]byte{192, 0, 2, 2})})
	if got := tags(readUntil(t, with, func(g [][]byte) bool { return tags(g)[1] && tags(g)[2] })); len(got) != 2 {
		t.Errorf("with AcceptMark: tags %v, want 1 (marked) and 2", got)
	}
	if got := tags(readUntil(t, without, func(g [][]byte) bool { return tags(g)[2] })); got[1] {
		t.Errorf("without AcceptMark the marked frame for another host arrived: %v", got)
	}
}

// TestProtocolsOnlyTheirs: a Link receives the EtherTypes it is bound to,
// each through its ring, and without Promisc refuses frames for another
// host and VLAN-tagged frames (which the kernel hands such a socket
// untagged, as PACKET_OTHERHOST): frames sent before the ones that arrive
// would have arrived before them.
func TestProtocolsOnlyTheirs(t *testing.T) {
	ns, a, b := vethNS(t)
	mac := macOf(t, ns, b)
	tx := openIn(t, ns, Config{Interface: a, TXOnly: true})
	rx := openIn(t, ns, Config{Interface: b, Protocols: []uint16{unix.ETH_P_IP, unix.ETH_P_ARP}})
	dst := [4]byte{192, 0, 2, 2}
	other := udpTo(3, net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}, dst)
	plain := udpTo(4, mac, dst)
	tagged := append(append(append([]byte{}, plain[:12]...), 0x81, 0, 0, 7), plain[12:]...) // VID 7
	ipv6 := udpTo(5, mac, dst)
	binary.BigEndian.PutUint16(ipv6[12:], unix.ETH_P_IPV6)
	linktest.WriteAll(t, tx, [][]byte{other, tagged, ipv6, arpFrame(), udpTo(6, mac, dst)})
	got := readUntil(t, rx, func(g [][]byte) bool {
		arp := false
		for _, f := range g {
			arp = arp || bytes.Equal(f, arpFrame())
		}
		return arp && tags(g)[6]
	})
	if tg := tags(got); len(tg) != 1 {
		t.Errorf("received tags %v, want only 6 (3: another host's, 4: VLAN-tagged, 5: IPv6, not bound)", tg)
	}
	for _, f := range got {
		if binary.BigEndian.Uint16(f[12:]) == unix.ETH_P_8021Q {
			t.Errorf("received a tagged frame % x", f[:18])
		}
	}
}

// TestProtocolsTransmit: a Link of per-protocol sockets sends frames of
// every EtherType intact through its socket bound to none, also those of
// EtherTypes it does not receive.
func TestProtocolsTransmit(t *testing.T) {
	ns, a, b := vethNS(t)
	tx := openIn(t, ns, Config{Interface: a, Protocols: []uint16{unix.ETH_P_IP}})
	rx := openIn(t, ns, Config{Interface: b, Promisc: true})
	want := [][]byte{arpFrame(), linktest.TestFrame(7, 100), udpTo(8, net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}, [4]byte{192, 0, 2, 2})}
	linktest.WriteAll(t, tx, want)
	got := readUntil(t, rx, func(g [][]byte) bool { return tags(g)[8] })
	for _, w := range want {
		found := false
		for _, f := range got {
			found = found || bytes.Equal(f, w)
		}
		if !found {
			t.Errorf("frame of EtherType %#04x did not arrive intact", binary.BigEndian.Uint16(w[12:]))
		}
	}
}
