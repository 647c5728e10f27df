package afpacket

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"lvs/dataplane"
)

// Offsets into a TPACKET_V2 frame (include/uapi/linux/if_packet.h).
const (
	// struct tpacket2_hdr, then struct sockaddr_ll at TPACKET_ALIGN(32).
	pkt2Status     = 0
	pkt2Len        = 4
	pkt2Snaplen    = 8
	pkt2Mac        = 12
	pkt2VLANTCI    = 24
	pkt2VLANTPID   = 26
	pkt2SllPktType = 32 + 10
	pkt2HdrEnd     = 32 + 20 // end of tpacket2_hdr + sockaddr_ll: the room before the frame is ours

	tpacketAlign = 16       // TPACKET_ALIGNMENT: tp_frame_size is a multiple of it
	minFrame2    = 256      // smallest FrameSize: the headers and a minimal Ethernet frame
	maxFrame2    = 16 << 20 // largest FrameSize we ask the kernel for
	maxBlock2    = 4 << 20  // largest block geometry2 picks to fit frames densely
)

// ring2 is the receive side of a Link opened with RingV2: a TPACKET_V2 ring
// of fixed-size frames, each with its own tp_status. The kernel wakes the
// reader for every frame (sk_data_ready) rather than every block, so no
// frame waits for a block timer. A frame with TP_STATUS_USER is ours until we
// store TP_STATUS_KERNEL; the kernel fills frames in ring order and drops
// (tp_drops) rather than skip one it does not own, so reading and handing
// back in ring order keeps us in step with it.
type ring2 struct {
	frameSize int
	perBlock  int // frames per block: frames never straddle blocks
	blockSize int
	count     int // frames in the ring

	cur     int // next frame to read
	release int // first frame to hand back
	pending int // frames from release on that were read (delivered or skipped)
}

// geometry2 returns the TPACKET_V2 ring layout for c: the frame size rounded
// up to TPACKET_ALIGNMENT; a block of a power of two pages (the kernel
// allocates each block as one) large enough that at most an eighth of it is
// lost to the frames' fit, up to maxBlock2; and enough blocks for
// c.FrameCount frames.
func geometry2(c Config) (frameSize, blockSize, blocks int, err error) {
	frameSize = (c.FrameSize + tpacketAlign - 1) &^ (tpacketAlign - 1)
	if frameSize < minFrame2 || frameSize > maxFrame2 {
		return 0, 0, 0, fmt.Errorf("frame size %d is outside [%d, %d]", c.FrameSize, minFrame2, maxFrame2)
	}
	blockSize = unix.Getpagesize()
	for blockSize < frameSize {
		blockSize <<= 1
	}
	for blockSize < maxBlock2 && blockSize/frameSize*frameSize < blockSize-blockSize/8 {
		blockSize <<= 1
	}
	per := blockSize / frameSize
	blocks = (c.FrameCount + per - 1) / per
	return frameSize, blockSize, blocks, nil
}

// setup2 asks for and maps the TPACKET_V2 ring; PACKET_VERSION is set.
func (r *ring) setup2(fd int, c Config) error {
	frameSize, blockSize, blocks, err := geometry2(c)
	if err != nil {
		return err
	}
	per := blockSize / frameSize
	req := unix.TpacketReq{
		Block_size: uint32(blockSize),
		Block_nr:   uint32(blocks),
		Frame_size: uint32(frameSize),
		Frame_nr:   uint32(per * blocks),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("setting PACKET_RX_RING (%d frames of %d bytes in %d blocks of %d): %w",
			per*blocks, frameSize, blocks, blockSize, err)
	}
	mem, err := unix.Mmap(fd, 0, blockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap of %d bytes: %w", blockSize*blocks, err)
	}
	r.mem, r.v2 = mem, true
	r.f2 = ring2{frameSize: frameSize, perBlock: per, blockSize: blockSize, count: per * blocks}
	return nil
}

// offset returns where frame i starts in the mapped ring.
func (q *ring2) offset(i int) int {
	return i/q.perBlock*q.blockSize + i%q.perBlock*q.frameSize
}

func (q *ring2) status(mem []byte, i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&mem[q.offset(i)+pkt2Status]))
}

// handBack returns the frames read since the last call to the kernel.
func (q *ring2) handBack(mem []byte) {
	for ; q.pending > 0; q.pending-- {
		atomic.StoreUint32(q.status(mem, q.release), unix.TP_STATUS_KERNEL)
		if q.release++; q.release == q.count {
			q.release = 0
		}
	}
}

// fill2 points frames at the ready frames of the TPACKET_V2 ring, in order,
// and returns how many. It stops at the first frame the kernel still owns.
func (l *Link) fill2(frames [][]byte, meta []dataplane.Meta) int {
	mem, q := l.rx.mem, &l.rx.f2
	n := 0
	// With every frame read and not yet handed back, cur is the oldest of
	// them again: stop rather than read it twice.
	for n < len(frames) && q.pending < q.count {
		off := q.offset(q.cur)
		status := atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[off+pkt2Status])))
		if status&unix.TP_STATUS_USER == 0 {
			break
		}
		if q.cur++; q.cur == q.count {
			q.cur = 0
		}
		q.pending++
		h := pktHdr{
			snap:    binary.NativeEndian.Uint32(mem[off+pkt2Snaplen:]),
			length:  binary.NativeEndian.Uint32(mem[off+pkt2Len:]),
			status:  status,
			mac:     off + int(binary.NativeEndian.Uint16(mem[off+pkt2Mac:])),
			hdrEnd:  off + pkt2HdrEnd,
			limit:   off + q.frameSize,
			pktType: mem[off+pkt2SllPktType],
			tci:     binary.NativeEndian.Uint16(mem[off+pkt2VLANTCI:]),
			tpid:    binary.NativeEndian.Uint16(mem[off+pkt2VLANTPID:]),
		}
		if l.deliver(mem, h, &frames[n], meta, n) {
			n++
		}
	}
	return n
}
