package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"lvs/frame"
)

// The hostile step's frames (issue 17): malformed and hostile IPv4, ARP
// and random frames, written by a hostileGen per kind and side and sent at
// a bounded rate from the hostile peer (hostile.go runs the step).

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
		// A TCP SYN, then a UDP datagram: a byte of the checksum changed,
		// then (every other pair) the checksum replaced by the
		// pseudo-header's sum, which is what a partial checksum holds in
		// a frame whose checksum is left to offload; these are not.
		forged := g.n%4 >= 2
		n, field, proto := 0, 0, byte(unix.IPPROTO_TCP)
		if g.n%2 == 0 {
			n, field = g.tcp(b, 0x02, true), 34+16
		} else {
			n, field, proto = g.udp(b, 32, 0, false), 34+6, unix.IPPROTO_UDP
		}
		if !forged {
			b[field+1] ^= 0x5a
			return n
		}
		s := g.side
		ph := frame.PseudoHeaderSum(s.src, s.dst, proto, n-34)
		binary.BigEndian.PutUint16(b[field:], frame.Fold(ph))
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
