package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"lvs/dataplane"
)

// Link is a dataplane.MetaLink on one AF_PACKET socket bound to an
// interface. Ownership, concurrency and lifetime are those of
// dataplane.Link: frames returned by ReadBatch point into the receive ring and
// their block (RingV2: their frame slots) goes back to the kernel at the next
// ReadBatch. If the interface
// goes away, one ReadBatch returns an error wrapping ENETDOWN.
type Link struct {
	txOnly bool
	ifname string
	batch  int
	vnet   bool
	spin   time.Duration // Config.BusyPoll
	closed atomic.Bool
	efd    int // eventfd: Close writes it to wake a reader blocked in poll

	rmu  sync.Mutex // serialises ReadBatch; guards rx, next and the srcs' rx
	rx   ring
	srcs []*Link       // the Links whose rings ReadBatch reads: l, or Protocols' (protocols_linux.go)
	next int           // the src a read starts with
	pfd  []unix.PollFd // the srcs' sockets, then the eventfd

	wmu      sync.Mutex // serialises WriteBatch; guards fd, tx, stats
	fd       int        // -1 once released
	tx       tx
	stats    Stats // totals of PACKET_STATISTICS, which resets on each read
	discards atomic.Uint64
}

var _ dataplane.MetaLink = (*Link)(nil)

// Open binds a Link to c.Interface in the caller's network namespace (the
// socket stays there whichever thread uses it later). It needs CAP_NET_RAW.
func Open(c Config) (*Link, error) {
	c = c.withDefaults()
	if len(c.Protocols) > 0 && !c.TXOnly {
		return openProtocols(c) // protocols_linux.go
	}
	ifi, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return nil, fmt.Errorf("looking up interface %q: %w", c.Interface, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening AF_PACKET socket for %s: %w", c.Interface, err)
	}
	l := &Link{txOnly: c.TXOnly, ifname: c.Interface, batch: c.BatchSize, vnet: !c.DisableVNetHdr, spin: c.BusyPoll, fd: fd, efd: -1}
	if err := l.setup(c, ifi.Index); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// setup configures the socket: options that must precede the ring, the ring,
// then bind, membership and fanout.
func (l *Link) setup(c Config, ifindex int) error {
	opt := func(name string, level, o, v int) error {
		if err := unix.SetsockoptInt(l.fd, level, o, v); err != nil {
			return fmt.Errorf("setting %s on AF_PACKET socket for %s: %w", name, l.ifname, err)
		}
		return nil
	}
	version := unix.TPACKET_V3
	if c.Ring > RingV2 {
		return fmt.Errorf("opening %s: unknown Ring %d", l.ifname, c.Ring)
	}
	if c.Ring == RingV2 {
		version = unix.TPACKET_V2
	}
	if err := opt("PACKET_VERSION", unix.SOL_PACKET, unix.PACKET_VERSION, version); err != nil {
		return err
	}
	if l.vnet {
		if err := opt("PACKET_VNET_HDR", unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return err
		}
	}
	if !l.txOnly {
		setup := l.rx.setup
		if c.Ring == RingV2 {
			setup = l.rx.setup2
		}
		if err := setup(l.fd, c); err != nil {
			return fmt.Errorf("mapping the receive ring of %s: %w", l.ifname, err)
		}
	}
	if err := opt("PACKET_QDISC_BYPASS", unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return err
	}
	// Kernels before 4.20 lack it; the ring then skips outgoing frames itself.
	if err := opt("PACKET_IGNORE_OUTGOING", unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil &&
		!errors.Is(err, unix.ENOPROTOOPT) {
		return err
	}
	// Room for a few 64 KiB super-frames in flight; the kernel caps
	// SO_SNDBUF at wmem_max, SO_SNDBUFFORCE (root) does not.
	if unix.SetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
		unix.SetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	}
	if c.Filter > 0 && !l.txOnly {
		if err := opt("SO_ATTACH_BPF", unix.SOL_SOCKET, unix.SO_ATTACH_BPF, c.Filter); err != nil {
			return err
		}
	}
	proto := htons(unix.ETH_P_ALL)
	if c.bind != 0 {
		proto = htons(c.bind)
		if err := l.dropOtherHost(c); err != nil { // protocols_linux.go
			return err
		}
	}
	if l.txOnly {
		proto = 0 // receive nothing
	}
	sa := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}
	if err := unix.Bind(l.fd, sa); err != nil {
		return fmt.Errorf("binding AF_PACKET to %s: %w", l.ifname, err)
	}
	if c.Promisc {
		mr := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(l.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mr); err != nil {
			return fmt.Errorf("setting %s promiscuous: %w", l.ifname, err)
		}
	}
	if c.Fanout != FanoutNone && !l.txOnly {
		if err := opt("PACKET_FANOUT", unix.SOL_PACKET, unix.PACKET_FANOUT, fanoutArg(c, ifindex)); err != nil {
			return err
		}
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("creating eventfd for %s: %w", l.ifname, err)
	}
	l.efd = efd
	l.srcs = []*Link{l}
	l.pfd = []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN | unix.POLLERR}, {Fd: int32(efd), Events: unix.POLLIN}}
	l.tx.init(l.batch, l.vnet)
	return nil
}

// fanoutArg is the PACKET_FANOUT argument: group id | mode << 16.
func fanoutArg(c Config, ifindex int) int {
	mode := map[FanoutMode]int{
		FanoutHash: unix.PACKET_FANOUT_HASH,
		FanoutCPU:  unix.PACKET_FANOUT_CPU,
		FanoutLB:   unix.PACKET_FANOUT_LB,
		FanoutQM:   unix.PACKET_FANOUT_QM,
	}[c.Fanout]
	group := c.FanoutGroup
	if group == 0 {
		group = fanoutGroup(ifindex)
	}
	return int(group) | mode<<16
}

// fanoutGroup is the fanout group id every Link of this process on
// interface ifindex shares when Config.FanoutGroup is 0.
func fanoutGroup(ifindex int) uint16 {
	return (uint16(os.Getpid())*31 + uint16(ifindex)*0x9e37) | 1
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// BatchSize implements dataplane.Link.
func (l *Link) BatchSize() int { return l.batch }

// Interface returns the name of the interface the Link is bound to.
func (l *Link) Interface() string { return l.ifname }

// Close implements dataplane.Link. It wakes a blocked ReadBatch, waits for a
// WriteBatch in progress, and releases the socket and the ring, or leaves the
// ring to the next ReadBatch while frames of the last one are still out.
func (l *Link) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(l.efd, one[:])
	l.wmu.Lock() // a WriteBatch in progress finishes; later ones see closed
	l.wmu.Unlock()
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if !l.out() {
		l.release()
	}
	return nil
}

// out reports whether frames of the last ReadBatch are still with the
// caller. The caller holds rmu.
func (l *Link) out() bool {
	for _, s := range l.srcs {
		if s.rx.out {
			return true
		}
	}
	return false
}

// release unmaps the ring and closes the descriptors. The caller holds rmu
// (or owns the Link alone, in Open).
func (l *Link) release() {
	l.wmu.Lock()
	if l.fd >= 0 {
		l.readStats()
		unix.Close(l.fd)
		l.fd = -1
	}
	l.wmu.Unlock()
	if l.efd >= 0 {
		unix.Close(l.efd)
		l.efd = -1
	}
	l.rx.unmap()
	for _, s := range l.srcs {
		if s != l {
			s.release()
		}
	}
}

// Stats returns the Link's counters; safe for concurrent use, also after
// Close. Reading them costs a getsockopt(2).
func (l *Link) Stats() Stats {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.fd >= 0 {
		l.readStats()
	}
	s := l.stats
	s.Discarded = l.discards.Load()
	for _, src := range l.srcs {
		if src != l {
			t := src.Stats()
			s.Packets, s.Drops, s.FreezeQ, s.Discarded = s.Packets+t.Packets, s.Drops+t.Drops, s.FreezeQ+t.FreezeQ, s.Discarded+t.Discarded
		}
	}
	return s
}

// readStats adds PACKET_STATISTICS (which resets on read) to l.stats. The
// caller holds wmu.
func (l *Link) readStats() {
	var st unix.TpacketStatsV3
	n := uint32(unsafe.Sizeof(st))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(l.fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return
	}
	l.stats.Packets += uint64(st.Packets)
	l.stats.Drops += uint64(st.Drops)
	l.stats.FreezeQ += uint64(st.Freeze_q_cnt)
}
