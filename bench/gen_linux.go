//go:build linux

package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Frame layout of the flood: Ethernet + IPv4 + UDP + payload.
const (
	payloadBytes = 64
	frameBytes   = 14 + 20 + 8 + payloadBytes // 106, as in the reference probe
	genBatch     = 64                         // frames per sendmmsg
)

// flood is the raw-frame UDP generator: one AF_PACKET socket on a client
// interface with PACKET_QDISC_BYPASS, sending frames with final checksums
// with sendmmsg. Frames go straight to the director's MAC, so the client's
// own stack does no work per packet. Flow i comes from source address
// sources+i/floodPortsPerAddr, port floodPortLo+i%floodPortsPerAddr. Up to
// ringFrames flows are prebuilt; beyond that each batch is rewritten in
// place for the next flows (source address, port and both checksums from
// precomputed partial sums), so a million flows need no million frames.
type flood struct {
	frames          [][]byte
	iovs            []unix.Iovec
	msgs            []unix.Mmsghdr // one per frame, so a batch is a slice of it
	flows           int
	src             netip.Prefix
	rewrite         bool
	v6              bool          // IPv6 frames (gen6_linux.go)
	ipBase, udpBase uint32        // partial checksums without the source address and port
	next            int           // next flow to write (rewrite mode)
	limit           uint64        // stop after this many frames (0: no limit)
	sent            atomic.Uint64 // frames the kernel accepted so far
	stop            atomic.Bool
}

// ringFrames is the most frames a flood prebuilds.
const ringFrames = 4096

// flowSource is flow i's source address and port (IPv4 or IPv6: the
// address's last 32 bits count the addresses).
func flowSource(base netip.Prefix, i int) netip.AddrPort {
	port := uint16(floodPortLo + i%floodPortsPerAddr)
	if base.Addr().Is6() {
		a := base.Addr().As16()
		binary.BigEndian.PutUint32(a[12:], binary.BigEndian.Uint32(a[12:])+uint32(i/floodPortsPerAddr))
		return netip.AddrPortFrom(netip.AddrFrom16(a), port)
	}
	a := base.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) + uint32(i/floodPortsPerAddr)
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrPortFrom(netip.AddrFrom4(a), port)
}

// newFlood builds the frames of flows flows along p to dst. An IPv6 dst
// gets IPv6 frames from the flows of floodNet6 (ipv6_linux.go).
func newFlood(p genPath, dst netip.AddrPort, flows int) *flood {
	flows = max(flows, 1)
	n := (min(flows, ringFrames) + genBatch - 1) / genBatch * genBatch
	frame := udpFrame
	if dst.Addr().Is6() {
		p.sources, frame = floodNet6, udpFrame6
	}
	f := &flood{frames: make([][]byte, n), iovs: make([]unix.Iovec, n), msgs: make([]unix.Mmsghdr, n),
		flows: flows, src: p.sources, rewrite: flows > n, v6: dst.Addr().Is6()}
	for i := range n {
		f.frames[i] = frame(p.srcMAC, p.dstMAC, flowSource(p.sources, i%flows),
			dst, make([]byte, payloadBytes))
		f.iovs[i].Base = &f.frames[i][0]
		f.iovs[i].SetLen(len(f.frames[i]))
		f.msgs[i].Hdr.Iov = &f.iovs[i]
		f.msgs[i].Hdr.SetIovlen(1)
	}
	if f.v6 {
		f.base6(f.frames[0]) // gen6_linux.go
		return f
	}
	// Partial sums of frame 0 without its source address and port.
	b := slices.Clone(f.frames[0])
	ip, u := b[14:34], b[34:]
	clear(ip[10:16])
	clear(u[0:2])
	clear(u[6:8])
	f.ipBase = sum(ip, 0)
	f.udpBase = sum(u, sum(ip[16:20], uint32(unix.IPPROTO_UDP)+uint32(len(u))))
	return f
}

// fill rewrites frames[off:off+n] for the next n flows.
func (f *flood) fill(off, n int) {
	if f.v6 {
		f.fill6(off, n)
		return
	}
	for _, b := range f.frames[off : off+n] {
		s := flowSource(f.src, f.next)
		f.next = (f.next + 1) % f.flows
		a := s.Addr().As4()
		copy(b[26:30], a[:])
		binary.BigEndian.PutUint16(b[34:], s.Port())
		w := uint32(binary.BigEndian.Uint16(a[0:])) + uint32(binary.BigEndian.Uint16(a[2:]))
		binary.BigEndian.PutUint16(b[24:], ^fold(f.ipBase+w))
		c := ^fold(f.udpBase + w + uint32(s.Port()))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(b[40:], c)
	}
}

// udpFrame builds an Ethernet/IPv4/UDP frame with valid checksums.
func udpFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.AddrPort, payload []byte) []byte {
	b := make([]byte, 14+20+8+len(payload))
	copy(b[0:6], dstMAC)
	copy(b[6:12], srcMAC)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IP)
	ip := b[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))
	u := b[34:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	pseudo := sum(ip[12:20], uint32(unix.IPPROTO_UDP)+uint32(len(u)))
	c := ^fold(sum(u, pseudo))
	if c == 0 {
		c = 0xffff // RFC 768: a computed 0 is sent as all ones
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return b
}

// sum adds b as big-endian 16-bit words to acc (RFC 1071).
func sum(b []byte, acc uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		acc += uint32(b[len(b)-1]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// openPacket opens the generator's socket on ifindex; call it inside the
// client's namespace.
func openPacket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: never receives
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: htons(unix.ETH_P_IP)}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("binding AF_PACKET to ifindex %d: %w", ifindex, err)
	}
	unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// run sends until deadline or stop: as fast as possible when rate is 0,
// else paced at rate frames/s in batches.
// It runs on the calling thread, which the caller has put in the client's
// namespace and pinned.
func (f *flood) run(fd int, deadline time.Time, rate float64) error {
	defer runtime.KeepAlive(f)
	start := time.Now()
	var total uint64
	// When ahead of a paced rate, sleep about half a batch's worth, so each
	// sendmmsg still carries ~32 frames rather than one or two.
	nap := unix.NsecToTimespec(int64(min(max(float64(genBatch)/2/max(rate, 1), 20e-6), 1e-3) * 1e9))
	off := 0
	for !f.stop.Load() {
		now := time.Now()
		if now.After(deadline) {
			return nil
		}
		n := genBatch
		if rate > 0 {
			target := uint64(now.Sub(start).Seconds() * rate)
			if target <= total {
				unix.Nanosleep(&nap, nil)
				continue
			}
			n = int(min(target-total, genBatch))
		}
		n = min(n, len(f.msgs)-off)
		if f.limit > 0 {
			if total >= f.limit {
				return nil
			}
			n = int(min(uint64(n), f.limit-total))
		}
		if f.rewrite {
			f.fill(off, n)
		}
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&f.msgs[off])), uintptr(n), 0, 0, 0)
		switch {
		case errno == 0:
			total += uint64(r)
			f.sent.Add(uint64(r))
			if f.rewrite && int(r) < n { // unsent frames: their flows come again later
				f.next = (f.next - (n - int(r)) + f.flows) % f.flows
			}
		case errors.Is(errno, unix.ENOBUFS), errors.Is(errno, unix.EAGAIN), errors.Is(errno, unix.EINTR):
			// a full backlog: the frames are lost, try the next batch
			if f.rewrite {
				f.next = (f.next - n + f.flows) % f.flows
			}
		default:
			return fmt.Errorf("sendmmsg: %w", errno)
		}
		off = (off + n) % len(f.msgs)
	}
	return nil
}
