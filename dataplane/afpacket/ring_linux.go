package afpacket

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"lvs/dataplane"
)

// Offsets into the TPACKET_V3 ring (include/uapi/linux/if_packet.h).
const (
	// struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1.
	blockStatus   = 8
	blockNumPkts  = 12
	blockFirstPkt = 16

	// struct tpacket3_hdr, then struct sockaddr_ll at TPACKET_ALIGN(48).
	pktNextOffset = 0
	pktSnaplen    = 12
	pktLen        = 16
	pktStatus     = 20
	pktMac        = 24
	pktVLANTCI    = 32
	pktVLANTPID   = 36
	pktSllPktType = 48 + 10
	pktHdrEnd     = 48 + 20 // end of tpacket3_hdr + sockaddr_ll: the room before it is ours

	frameSize    = 2048 // tp_frame_size: only checked by the kernel for V3
	packetOutgng = 4    // PACKET_OUTGOING
	vlanHdrLen   = 4
)

// ring is the receive side of a Link: a TPACKET_V3 ring read block by block.
// A block with TP_STATUS_USER belongs to us until we store TP_STATUS_KERNEL;
// blocks whose frames were handed out are stored back at the next read. With
// v2 set the ring is a TPACKET_V2 frame ring instead, read through f2.
type ring struct {
	mem        []byte
	v2         bool
	f2         ring2
	blockSize  int
	blockCount int

	cur     int  // block being read
	off     int  // offset in mem of the next frame of cur
	left    int  // frames of cur not yet read; 0: cur is not open yet
	release int  // first block to hand back
	pending int  // blocks from release on that were read to the end
	out     bool // frames of the last ReadBatch are with the caller
}

func (r *ring) setup(fd int, c Config) error {
	if c.BlockSize%unix.Getpagesize() != 0 {
		return fmt.Errorf("block size %d is not a multiple of the page size %d", c.BlockSize, unix.Getpagesize())
	}
	tov := uint32((c.BlockTimeout + 999_999) / 1_000_000) // ms, rounded up
	req := unix.TpacketReq3{
		Block_size:     uint32(c.BlockSize),
		Block_nr:       uint32(c.BlockCount),
		Frame_size:     frameSize,
		Frame_nr:       uint32(c.BlockSize / frameSize * c.BlockCount),
		Retire_blk_tov: tov,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("setting PACKET_RX_RING (%d blocks of %d bytes): %w", c.BlockCount, c.BlockSize, err)
	}
	mem, err := unix.Mmap(fd, 0, c.BlockSize*c.BlockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap of %d bytes: %w", c.BlockSize*c.BlockCount, err)
	}
	r.mem, r.blockSize, r.blockCount = mem, c.BlockSize, c.BlockCount
	return nil
}

func (r *ring) unmap() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}

func (r *ring) status(block int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[block*r.blockSize+blockStatus]))
}

// handBack returns the blocks read to the end to the kernel.
func (r *ring) handBack() {
	for ; r.pending > 0; r.pending-- {
		atomic.StoreUint32(r.status(r.release), unix.TP_STATUS_KERNEL)
		r.release = (r.release + 1) % r.blockCount
	}
}

// handBack returns what the last read consumed to the kernel.
func (l *Link) handBack() {
	if l.rx.v2 {
		l.rx.f2.handBack(l.rx.mem)
	} else {
		l.rx.handBack()
	}
}

// ReadBatch implements dataplane.Link.
func (l *Link) ReadBatch(frames [][]byte) (int, error) {
	return l.read(frames, nil)
}

// ReadBatchMeta implements dataplane.MetaLink. Without PACKET_VNET_HDR
// (Config.DisableVNetHdr), Meta carries only the NeedsCsum and DataValid
// flags of the ring's packet status.
func (l *Link) ReadBatchMeta(frames [][]byte, meta []dataplane.Meta) (int, error) {
	return l.read(frames, meta[:len(frames)])
}

// waitClose blocks a read on a transmit-only Link until Close.
func (l *Link) waitClose() error {
	for !l.closed.Load() {
		pfd := []unix.PollFd{{Fd: int32(l.efd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
			return err
		}
	}
	return net.ErrClosed
}

func (l *Link) read(frames [][]byte, meta []dataplane.Meta) (int, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if l.txOnly {
		return 0, l.waitClose()
	}
	if l.srcs[0].rx.mem == nil {
		return 0, net.ErrClosed
	}
	for _, s := range l.srcs {
		s.rx.out = false
		s.handBack()
	}
	if l.closed.Load() {
		l.release()
		return 0, net.ErrClosed
	}
	if len(frames) == 0 {
		return 0, nil
	}
	var spinUntil time.Time // zero until the rings are first found empty
	for {
		if n := l.fillSrcs(frames, meta); n > 0 {
			return n, nil
		}
		for _, s := range l.srcs {
			s.handBack() // empty blocks (or frames not delivered) skipped by fill
		}
		if l.spin > 0 {
			now := time.Now()
			if spinUntil.IsZero() {
				spinUntil = now.Add(l.spin)
			}
			if now.Before(spinUntil) {
				continue
			}
		}
		if err := l.wait(); err != nil {
			return 0, err
		}
		if l.closed.Load() {
			return 0, net.ErrClosed // Close, waiting for rmu, releases the rings
		}
	}
}

// fillSrcs fills frames from the srcs' rings, starting with a different
// one at each call so that none waits behind a busy other, and returns how
// many it filled.
func (l *Link) fillSrcs(frames [][]byte, meta []dataplane.Meta) int {
	n := 0
	for k := range l.srcs {
		if n == len(frames) {
			break
		}
		s := l.srcs[(l.next+k)%len(l.srcs)]
		var m []dataplane.Meta
		if meta != nil {
			m = meta[n:]
		}
		var got int
		if s.rx.v2 {
			got = s.fill2(frames[n:], m)
		} else {
			got = s.fill(frames[n:], m)
		}
		if got > 0 {
			s.rx.out = true
			n += got
		}
	}
	l.next = (l.next + 1) % len(l.srcs)
	return n
}

// wait sleeps in poll(2) until a block (RingV2: a frame) of a src is ready
// or Close writes the eventfd.
func (l *Link) wait() error {
	for i := range l.pfd {
		l.pfd[i].Revents = 0
	}
	// ppoll with no timeout: SYS_POLL does not exist on every architecture.
	_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&l.pfd[0])), uintptr(len(l.pfd)), 0, 0, 0, 0)
	if e != 0 && e != unix.EINTR {
		return fmt.Errorf("polling AF_PACKET socket of %s: %w", l.ifname, e)
	}
	for i, s := range l.srcs {
		if l.pfd[i].Revents&unix.POLLERR != 0 {
			// A pending socket error (the interface went away): report it once.
			if v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
				return fmt.Errorf("reading %s: %w", l.ifname, unix.Errno(v))
			}
		}
	}
	return nil
}

// fill points frames at the ready frames of the ring, in order, and returns
// how many. It stops at the first block the kernel still owns.
func (l *Link) fill(frames [][]byte, meta []dataplane.Meta) int {
	r := &l.rx
	n := 0
	for n < len(frames) {
		if r.left == 0 {
			base := r.cur * r.blockSize
			// With every block read and not yet handed back, cur is the
			// oldest of them again: stop rather than read it twice.
			if r.pending == r.blockCount || atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER == 0 {
				break
			}
			r.left = int(binary.NativeEndian.Uint32(r.mem[base+blockNumPkts:]))
			r.off = base + int(binary.NativeEndian.Uint32(r.mem[base+blockFirstPkt:]))
			if r.left == 0 {
				r.next()
				continue
			}
		}
		off := r.off
		r.left--
		if r.left == 0 {
			r.next()
		} else {
			r.off += int(binary.NativeEndian.Uint32(r.mem[off+pktNextOffset:]))
		}
		if l.frame(off, &frames[n], meta, n) {
			n++
		}
	}
	return n
}

// next finishes the current block: it is handed back at the next ReadBatch.
func (r *ring) next() {
	r.left = 0
	r.pending++
	r.cur = (r.cur + 1) % r.blockCount
}

// pktHdr is what deliver needs of a ring frame's headers, read from the
// tpacket3_hdr (RingV3) or tpacket2_hdr (RingV2) that precedes it.
type pktHdr struct {
	snap, length, status uint32
	mac                  int  // offset in mem of the frame's first byte
	hdrEnd               int  // end of the ring headers: the room from here to mac is ours
	limit                int  // end of the room the frame may occupy
	pktType              byte // sockaddr_ll sll_pkttype
	tci, tpid            uint16
}

// frame decodes the TPACKET_V3 frame at off into *f (and meta[i] if meta is
// not nil), and reports whether it is one to deliver.
func (l *Link) frame(off int, f *[]byte, meta []dataplane.Meta, i int) bool {
	mem := l.rx.mem
	return l.deliver(mem, pktHdr{
		snap:    binary.NativeEndian.Uint32(mem[off+pktSnaplen:]),
		length:  binary.NativeEndian.Uint32(mem[off+pktLen:]),
		status:  binary.NativeEndian.Uint32(mem[off+pktStatus:]),
		mac:     off + int(binary.NativeEndian.Uint16(mem[off+pktMac:])),
		hdrEnd:  off + pktHdrEnd,
		limit:   len(mem),
		pktType: mem[off+pktSllPktType],
		tci:     uint16(binary.NativeEndian.Uint32(mem[off+pktVLANTCI:])),
		tpid:    binary.NativeEndian.Uint16(mem[off+pktVLANTPID:]),
	}, f, meta, i)
}

// deliver points *f at the frame h describes (and fills meta[i] if meta is
// not nil), and reports whether it is one to deliver.
func (l *Link) deliver(mem []byte, h pktHdr, f *[]byte, meta []dataplane.Meta, i int) bool {
	snap, mac, status := int(h.snap), h.mac, h.status
	if h.pktType == packetOutgng {
		return false // only without PACKET_IGNORE_OUTGOING
	}
	if h.snap < h.length || mac+snap > h.limit {
		l.discards.Add(1)
		return false
	}
	var m dataplane.Meta
	if l.vnet {
		m = dataplane.DecodeVirtioNetHdr(mem[mac-dataplane.VirtioNetHdrLen:])
	} else {
		if status&unix.TP_STATUS_CSUMNOTREADY != 0 {
			m.Flags |= dataplane.NeedsCsum
		}
		if status&unix.TP_STATUS_CSUM_VALID != 0 {
			m.Flags |= dataplane.DataValid
		}
	}
	end := mac + snap
	if status&unix.TP_STATUS_VLAN_VALID != 0 {
		// The NIC stripped an 802.1Q tag into the ring header: put it back
		// in front of the EtherType, in the headroom before the frame.
		if mac-vlanHdrLen < h.hdrEnd || snap < 14 {
			l.discards.Add(1)
			return false
		}
		tpid := uint16(unix.ETH_P_8021Q)
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = h.tpid
		}
		copy(mem[mac-vlanHdrLen:mac+8], mem[mac:mac+12])
		mac -= vlanHdrLen
		binary.BigEndian.PutUint16(mem[mac+12:], tpid)
		binary.BigEndian.PutUint16(mem[mac+14:], h.tci)
		m.Shift(vlanHdrLen)
	}
	*f = mem[mac:end:end]
	if meta != nil {
		meta[i] = m
	}
	return true
}
