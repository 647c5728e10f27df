package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"lvs/frame"
)

// hostileKind is one kind of malformed or hostile frame.
type hostileKind struct {
	name string
	put  func(g *hostileGen, b []byte) int
}

// hostileSide is where a hostile peer's frames go: one of lvsd's
// interfaces, from the peer's interface on the same segment.
type hostileSide struct {
	iface          string
	srcMAC, dstMAC net.HardwareAddr
	src, dst       [4]byte // the peer's address; the VIP (public side) or a client (private side, as a real server's reply)
	sport, dport   uint16
	vip            [4]byte
}

// hostileGen writes the frames of one kind for one side.
type hostileGen struct {
	side *hostileSide
	rng  *rand.Rand
	n    int // frames written so far (tcp-flags walks the 256 combinations)
}

// hostileRate bounds the frames per second of a hostile step: it probes
// the parser, it is not a flood.
const hostileRate = 4000

// hostileKinds are the frame kinds of issue 17, each sent for its share of
// the step at both of lvsd's interfaces.
var hostileKinds = []hostileKind{
	{"truncated", func(g *hostileGen, b []byte) int {
		n := g.tcp(b, 0x02, true)
		return 15 + g.rng.IntN(n-15) // cut anywhere in the IPv4 or TCP header
	}},
	{"bad-ihl", func(g *hostileGen, b []byte) int {
		n := g.tcp(b, 0x02, true)
		ihl := byte(g.rng.IntN(15))
		if ihl >= 5 {
			ihl++
		}
		b[14] = 0x40 | ihl
		g.ipSum(b)
		return n
	}},
	{"bad-length", func(g *hostileGen, b []byte) int {
		n := g.tcp(b, 0x02, true)
		l := uint16(g.rng.IntN(20))
		if g.rng.IntN(2) == 0 {
			l = uint16(n - 14 + 1 + g.rng.IntN(1400))
		}
		binary.BigEndian.PutUint16(b[16:], l)
		g.ipSum(b)
		return n
	}},
	{"bad-ip-checksum", func(g *hostileGen, b []byte) int {
		n := g.tcp(b, 0x02, true)
		b[24] ^= 0x5a
		return n
	}},
	{"bad-l4-checksum", func(g *hostileGen, b []byte) int {
		if g.n%2 == 0 {
			n := g.tcp(b, 0x02, true)
			b[34+17] ^= 0x5a
			return n
		}
		n := g.udp(b, 32, 0, false)
		b[34+7] ^= 0x5a
		return n
	}},
	{"overlapping-fragments", func(g *hostileGen, b []byte) int {
		// A UDP datagram's first 24 bytes (MF), then a last fragment at
		// offset 16 that overlaps them.
		if g.n%2 == 0 {
			return g.udp(b, 64, 0, true)
		}
		g.n-- // the first part's IP ID
		n := g.udp(b, 64, 0, true)
		g.n++ // the next datagram
		return g.fragment(b, n, 2, false)
	}},
	{"incomplete-fragments", func(g *hostileGen, b []byte) int {
		return g.udp(b, 64, 0, true) // a first fragment whose rest never comes
	}},
	{"tiny-fragments", func(g *hostileGen, b []byte) int {
		first := g.n%2 == 0
		if !first {
			g.n-- // the first part's IP ID
		}
		n := g.tcp(b, 0x02, false)
		if first { // 8 bytes of TCP header, MF
			g.setFrag(b, 0, true)
			return g.truncIP(b, 34+8)
		}
		g.n++                 // the next datagram
		copy(b[34:], b[42:n]) // the other 12 bytes at offset 1
		g.setFrag(b, 1, false)
		return g.truncIP(b, n-8)
	}},
	{"icmp-garbage", func(g *hostileGen, b []byte) int {
		l4 := b[34 : 34+8+28]
		l4[0], l4[1] = [][2]byte{{3, 4}, {3, 3}, {11, 0}, {12, 0}, {3, 1}}[g.rng.IntN(5)][0], 0
		for i := 4; i < len(l4); i++ {
			l4[i] = byte(g.rng.Uint32())
		}
		if g.rng.IntN(2) == 0 { // a plausible IPv4 header quoting garbage
			l4[8], l4[17] = 0x45, byte([]int{6, 17, 1}[g.rng.IntN(3)])
			copy(l4[20:24], g.side.vip[:])
		}
		l4[1] = byte(g.rng.IntN(16))
		l4[2], l4[3] = 0, 0
		binary.BigEndian.PutUint16(l4[2:], frame.Checksum(l4, 0))
		s := g.side
		putEthIPv4(b, s.dstMAC, s.srcMAC, s.src, s.dst, unix.IPPROTO_ICMP, len(l4), uint16(g.n), 64)
		return 34 + len(l4)
	}},
	{"arp-vip", func(g *hostileGen, b []byte) int {
		s := g.side
		copy(b[0:6], s.dstMAC)
		copy(b[6:12], s.srcMAC)
		binary.BigEndian.PutUint16(b[12:], unix.ETH_P_ARP)
		a := b[14:42]
		binary.BigEndian.PutUint16(a[0:], 1)
		binary.BigEndian.PutUint16(a[2:], 0x0800)
		a[4], a[5] = 6, 4
		binary.BigEndian.PutUint16(a[6:], 2) // reply: the VIP is at the peer's MAC
		copy(a[8:14], s.srcMAC)
		copy(a[14:18], s.vip[:])
		copy(a[18:24], s.dstMAC)
		copy(a[24:28], s.dst[:])
		return 42
	}},
	{"tcp-flags", func(g *hostileGen, b []byte) int {
		return g.tcp(b, byte(g.n%256), true)
	}},
	{"random", func(g *hostileGen, b []byte) int {
		s := g.side
		n := 15 + g.rng.IntN(200)
		for i := 14; i < n; i++ {
			b[i] = byte(g.rng.Uint32())
		}
		copy(b[0:6], s.dstMAC)
		copy(b[6:12], s.srcMAC)
		binary.BigEndian.PutUint16(b[12:], []uint16{0x0800, 0x0800, 0x0806, 0x86dd}[g.rng.IntN(4)])
		if g.rng.IntN(2) == 0 {
			b[14] = 0x40 | b[14]&0x0f
		}
		return n
	}},
}

// tcp writes a TCP segment with flags from the side's source to its
// destination port, a random source port unless the side has one.
func (g *hostileGen) tcp(b []byte, flags byte, sum bool) int {
	s := g.side
	l4 := b[34:54]
	clear(l4)
	sport := s.sport
	if sport == 0 {
		sport = uint16(1024 + g.rng.IntN(60000))
	}
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], s.dport)
	binary.BigEndian.PutUint32(l4[4:], g.rng.Uint32())
	binary.BigEndian.PutUint32(l4[8:], g.rng.Uint32())
	l4[12], l4[13] = 5<<4, flags
	binary.BigEndian.PutUint16(l4[14:], 64240)
	if sum {
		binary.BigEndian.PutUint16(l4[16:], frame.Checksum(l4, frame.PseudoHeaderSum(s.src, s.dst, unix.IPPROTO_TCP, len(l4))))
	}
	putEthIPv4(b, s.dstMAC, s.srcMAC, s.src, s.dst, unix.IPPROTO_TCP, len(l4), uint16(g.n), 64)
	g.n++
	return 54
}

// udp writes a UDP datagram of payload bytes to the echo port (7); with
// first, only its first 24 bytes go, as a first fragment (MF).
func (g *hostileGen) udp(b []byte, payload int, sport uint16, first bool) int {
	s := g.side
	l4 := b[34 : 34+8+payload]
	if sport == 0 {
		sport = uint16(1024 + g.rng.IntN(60000))
	}
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], 7)
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	for i := 8; i < len(l4); i++ {
		l4[i] = 'x'
	}
	l4[6], l4[7] = 0, 0
	binary.BigEndian.PutUint16(l4[6:], frame.Checksum(l4, frame.PseudoHeaderSum(s.src, s.dst, unix.IPPROTO_UDP, len(l4))))
	putEthIPv4(b, s.dstMAC, s.srcMAC, s.src, s.dst, unix.IPPROTO_UDP, len(l4), uint16(g.n), 64)
	g.n++
	if first {
		g.setFrag(b, 0, true)
		return g.truncIP(b, 34+24)
	}
	return 34 + len(l4)
}

// fragment turns the n-byte datagram in b into the fragment from offset
// off (in 8-byte units) to its end.
func (g *hostileGen) fragment(b []byte, n, off int, more bool) int {
	copy(b[34:], b[34+off*8:n])
	g.setFrag(b, off, more)
	return g.truncIP(b, n-off*8)
}

func (g *hostileGen) setFrag(b []byte, off int, more bool) {
	v := uint16(off)
	if more {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(b[20:], v)
	g.ipSum(b)
}

// truncIP makes the frame n bytes long with a matching IPv4 total length.
func (g *hostileGen) truncIP(b []byte, n int) int {
	binary.BigEndian.PutUint16(b[16:], uint16(n-14))
	g.ipSum(b)
	return n
}

func (g *hostileGen) ipSum(b []byte) {
	b[24], b[25] = 0, 0
	binary.BigEndian.PutUint16(b[24:], frame.Checksum(b[14:34], 0))
}

// kindResult is what lvsd counted while one kind was sent.
type kindResult struct {
	name     string
	sent     uint64
	rx       float64 // frames lvsd's workers read meanwhile (real traffic included)
	drops    string
	verdicts string
}

// hostile is the hostile step: f.Target, a peer with an interface on each
// of the active router's segments, sends every hostileKind in turn at both
// of lvsd's interfaces for a.Duration in all, while a.Legit requests and
// downloads and the real servers capture what lvsd forwards to them.
func (s *Site) hostile(ctx context.Context, f *Fault) (string, error) {
	a := f.Attack
	rn, err := s.lvsdNode()
	if err != nil {
		return "", err
	}
	sides, err := s.hostileSides(f.Target, rn, a)
	if err != nil {
		return "", err
	}
	lvsdMAC := map[string]bool{}
	for _, ifc := range s.Topo.Node(rn).Interfaces {
		if m, err := s.macOf(rn, ifc.Name); err == nil {
			lvsdMAC[m.String()] = true
		}
	}
	base, err := s.sample(ctx, rn)
	if err != nil {
		return "", err
	}
	// A segment is a switch, which forwards a malformed IPv4 header as it
	// came; the switch namespace's bridges would validate it first
	// (br_netfilter, on by default in every namespace where the module is
	// loaded) and drop it before lvsd sees it.
	if err := s.sw.Sysctl("net.bridge.bridge-nf-call-iptables", "0"); err == nil {
		defer s.sw.Sysctl("net.bridge.bridge-nf-call-iptables", "1")
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pk *peaks
	wg.Go(func() { pk = s.watch(ctx, rn, stop) })
	caps := s.captureReals(stop, lvsdMAC, &wg)
	var lg legitResult
	var lwg sync.WaitGroup
	lwg.Go(func() { lg = s.legit(ctx, a, a.Duration) })
	time.Sleep(time.Second)
	peer, err := s.node(f.Target)
	if err != nil {
		return "", err
	}
	share := (a.Duration - time.Second) / time.Duration(len(hostileKinds))
	var kinds []kindResult
	var sendErr error
	for _, k := range hostileKinds {
		before, err := s.sample(ctx, rn)
		if err != nil {
			sendErr = err
			break
		}
		var sent uint64
		err = peer.Do(func() error {
			var err error
			sent, err = sendHostile(ctx, k, sides, share)
			return err
		})
		if err != nil {
			sendErr = err
			break
		}
		time.Sleep(200 * time.Millisecond) // the workers count what they read
		after, err := s.sample(ctx, rn)
		if err != nil {
			sendErr = err
			break
		}
		kinds = append(kinds, kindResult{name: k.name, sent: sent, rx: after.RX - before.RX,
			drops: deltas(before.Drops, after.Drops), verdicts: deltas(before.Verdicts, after.Verdicts)})
	}
	lwg.Wait()
	end, endErr := s.sample(ctx, rn)
	close(stop)
	wg.Wait()
	if err := s.lvsdAlive(rn); err != nil {
		return "", err
	}
	if endErr == nil && end.Entries > pk.entries {
		pk.entries = end.Entries
	}
	var errs []string
	if sendErr != nil {
		errs = append(errs, sendErr.Error())
	}
	if endErr != nil {
		errs = append(errs, endErr.Error())
	}
	errs = lg.check(errs)
	var checked, bad int
	var bads []string
	for _, c := range caps {
		if c.err != nil {
			errs = append(errs, c.err.Error())
		}
		checked += c.checked
		bad += len(c.bad)
		bads = append(bads, c.bad...)
	}
	if bad > 0 {
		errs = append(errs, fmt.Sprintf("%d frames forwarded to the real servers with a bad checksum (of %d checked): %s",
			bad, checked, strings.Join(bads[:min(len(bads), 5)], "; ")))
	}
	if checked == 0 {
		errs = append(errs, "no frame forwarded by lvsd was captured on the real servers")
	}
	if pk.rss > base.RSS+nearRSS(base.RSS) {
		errs = append(errs, fmt.Sprintf("RSS grew from %s to %s (bound: + %s)", mib(base.RSS), mib(pk.rss), mib(nearRSS(base.RSS))))
	}
	var per []string
	for _, k := range kinds {
		per = append(per, fmt.Sprintf("%s (%d sent, lvsd read %.0f): drops %s; verdicts %s", k.name, k.sent, k.rx, k.drops, k.verdicts))
	}
	detail := fmt.Sprintf("hostile frames from %s at both of lvsd's interfaces for %.0fs: %s; %d forwarded frames checked on the real servers, %d with a bad checksum; "+
		"RSS baseline %s, peak %s; table peak %.0f entries; per kind: %s",
		f.Target, a.Duration.Seconds(), lg, checked, bad, mib(base.RSS), mib(pk.rss), pk.entries, strings.Join(per, " | "))
	s.logf("        %s", detail)
	if len(errs) > 0 {
		return "", fmt.Errorf("%s — %s", strings.Join(errs, "; "), detail)
	}
	return detail, nil
}

// hostileSides pairs each interface of peer with the router's interface on
// the same segment.
func (s *Site) hostileSides(peer, router string, a *Attack) ([]*hostileSide, error) {
	pn, rnode := s.Topo.Node(peer), s.Topo.Node(router)
	if pn == nil {
		return nil, fmt.Errorf("unknown node %s", peer)
	}
	var client [4]byte
	if ln := s.Topo.Node(a.Legit); ln != nil && len(ln.Interfaces) > 0 && len(ln.Interfaces[0].Addresses) > 0 {
		client = ln.Interfaces[0].Addresses[0].Addr().As4()
	}
	var out []*hostileSide
	for _, pi := range pn.Interfaces {
		for _, ri := range rnode.Interfaces {
			if ri.Segment != pi.Segment || len(pi.Addresses) == 0 {
				continue
			}
			src, err := s.macOf(peer, pi.Name)
			if err != nil {
				return nil, err
			}
			dst, err := s.macOf(router, ri.Name)
			if err != nil {
				return nil, err
			}
			sd := &hostileSide{iface: pi.Name, srcMAC: src, dstMAC: dst, src: pi.Addresses[0].Addr().As4(),
				vip: a.Web.Addr().As4()}
			if slices.ContainsFunc(ri.Addresses, func(p netip.Prefix) bool { return p.Contains(a.Web.Addr()) }) {
				sd.dst, sd.dport = sd.vip, a.Web.Port() // toward the VIP, as a client
			} else {
				sd.dst, sd.sport, sd.dport = client, a.Web.Port(), uint16(40000) // toward a client, as a real server's reply
			}
			out = append(out, sd)
		}
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("hostile peer %s needs an interface on each of %s's segments (has %d in common)", peer, router, len(out))
	}
	return out, nil
}

// sendHostile sends kind k alternately on every side for d, at most
// hostileRate frames a second, in the calling thread's namespace.
func sendHostile(ctx context.Context, k hostileKind, sides []*hostileSide, d time.Duration) (uint64, error) {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var gens []*hostileGen
	for _, sd := range sides {
		fd, err := openPacketSocket(sd.iface)
		if err != nil {
			return 0, err
		}
		fds = append(fds, fd)
		gens = append(gens, &hostileGen{side: sd, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))})
	}
	var sent uint64
	slice := d / time.Duration(len(sides))
	for i, g := range gens {
		limit := uint64(slice.Seconds()*hostileRate) + 1
		for t0 := time.Now(); time.Since(t0) < slice && ctx.Err() == nil; {
			st, err := sendFrames(ctx, fds[i], slice-time.Since(t0), min(genBatch, limit), func(b []byte) int {
				clear(b[:256])
				return k.put(g, b)
			})
			if err != nil && !errors.Is(err, unix.EINVAL) {
				return sent, err
			}
			sent += st.sent
			time.Sleep(time.Second * genBatch / hostileRate)
		}
	}
	return sent, nil
}

// capture is what one real server saw lvsd forward to it.
type capture struct {
	checked int
	bad     []string
	err     error
}

// captureReals captures, on every real server's first interface, the
// IPv4 frames whose source MAC is lvsd's until stop is closed, and checks
// their checksums with gopacket: the IPv4 header always, TCP, UDP and
// ICMP unless the frame is a fragment or the kernel marks its checksum as
// not yet computed (an offloaded partial checksum, completed on transmit).
func (s *Site) captureReals(stop <-chan struct{}, lvsdMAC map[string]bool, wg *sync.WaitGroup) []*capture {
	var out []*capture
	for _, n := range s.Topo.Nodes {
		if n.Role != RoleReal || len(n.Interfaces) == 0 {
			continue
		}
		ns := s.nodes[n.Name]
		c := &capture{}
		out = append(out, c)
		ready := make(chan struct{})
		iface := n.Interfaces[0].Name
		wg.Go(func() {
			c.err = ns.Do(func() error { return c.run(iface, lvsdMAC, stop, ready) })
		})
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
		}
	}
	return out
}

func (c *capture) run(iface string, lvsdMAC map[string]bool, stop <-chan struct{}, ready chan<- struct{}) error {
	defer close(ready)
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("opening a capture socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("binding the capture socket to %s: %w", iface, err)
	}
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	ready <- struct{}{}
	buf, oob := make([]byte, 65536), make([]byte, 256)
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_TRUNC)
		if err != nil || n > len(buf) || n < 34 {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if !lvsdMAC[net.HardwareAddr(buf[6:12]).String()] || binary.BigEndian.Uint16(buf[12:]) != 0x0800 {
			continue
		}
		partial := false
		if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, cm := range cms {
				if cm.Header.Level == unix.SOL_PACKET && cm.Header.Type == unix.PACKET_AUXDATA && len(cm.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
					aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&cm.Data[0]))
					partial = aux.Status&unix.TP_STATUS_CSUMNOTREADY != 0
				}
			}
		}
		c.checked++
		if why := badChecksum(buf[:n], partial); why != "" {
			c.bad = append(c.bad, why)
		}
	}
}

// badChecksum decodes an Ethernet frame with gopacket and says what is
// wrong with its checksums, or "".
func badChecksum(b []byte, partial bool) string {
	p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		return "undecodable IPv4 frame"
	}
	if onesSum(ip.Contents, 0) != 0xffff {
		return fmt.Sprintf("IPv4 header checksum %#04x wrong (%v → %v)", ip.Checksum, ip.SrcIP, ip.DstIP)
	}
	if partial || ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		return ""
	}
	pseudo := func(l4 []byte) uint32 {
		var s uint32
		for _, a := range [][]byte{ip.SrcIP.To4(), ip.DstIP.To4()} {
			s += (uint32(a[0])<<8 | uint32(a[1])) + (uint32(a[2])<<8 | uint32(a[3]))
		}
		return s + uint32(ip.Protocol) + uint32(len(l4))
	}
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		l4 := ip.Payload
		if onesSum(l4, pseudo(l4)) != 0xffff {
			return fmt.Sprintf("TCP checksum %#04x wrong (%v:%d → %v:%d)", l.Checksum, ip.SrcIP, l.SrcPort, ip.DstIP, l.DstPort)
		}
	case *layers.UDP:
		l4 := ip.Payload
		if l.Checksum != 0 && onesSum(l4, pseudo(l4)) != 0xffff {
			return fmt.Sprintf("UDP checksum %#04x wrong (%v:%d → %v:%d)", l.Checksum, ip.SrcIP, l.SrcPort, ip.DstIP, l.DstPort)
		}
	}
	if ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ic != nil {
		if err, _ := ic.VerifyChecksum(); err != nil {
			return fmt.Sprintf("ICMP checksum wrong (%v → %v): %v", ip.SrcIP, ip.DstIP, err)
		}
	}
	return ""
}

// onesSum is the folded ones'-complement sum of b plus acc (0xffff over
// data that includes a correct checksum). It is the checker's own, not
// lvsd's frame.Sum.
func onesSum(b []byte, acc uint32) uint16 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
