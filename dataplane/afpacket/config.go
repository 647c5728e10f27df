// Package afpacket is the dataplane.Link over a Linux AF_PACKET socket: a
// TPACKET_V3 (or, for low latency, TPACKET_V2) mmap receive ring and
// sendmmsg(2) transmit, with
// PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, PACKET_FANOUT (one Link per
// worker sharing an interface) and PACKET_VNET_HDR (offload metadata in both
// directions). Pure Go on golang.org/x/sys/unix, no cgo.
//
// It owns the socket, the ring and the eventfd that wakes a blocked read; it
// must not parse frames beyond the ring's own headers, log, or allocate per
// frame.
package afpacket

import (
	"errors"
	"time"
)

// Config describes one AF_PACKET Link. The zero value of every field but
// Interface is a sane default.
type Config struct {
	Interface string // the interface to bind, e.g. "eth1"

	// Ring selects the receive ring; see RingV3 and RingV2 for the trade-off.
	Ring RingVersion

	// The RingV3 receive ring: BlockCount blocks of BlockSize bytes. A block goes to
	// user space when full or BlockTimeout after its first frame (the
	// kernel rounds up to a jiffy). A frame larger than a block is dropped
	// (Stats.Discarded), so BlockSize must hold the largest GSO super-frame:
	// 64 KiB plus headers. Defaults: 128 blocks of 128 KiB (16 MiB), 1 ms.
	BlockSize    int
	BlockCount   int
	BlockTimeout time.Duration

	// The RingV2 receive ring: FrameCount frames of FrameSize bytes (rounded
	// up to 16; the count is rounded up to whole kernel blocks). A frame
	// larger than FrameSize minus the ring headers (about 100 bytes) is
	// dropped (Stats.Discarded), so the default holds a 64 KiB GSO
	// super-frame. Defaults: 256 frames of 64.5 KiB (about 17 MiB). Every
	// frame the kernel delivers takes a whole slot, so a burst of small
	// frames fills the ring after FrameCount frames.
	FrameSize  int
	FrameCount int

	BatchSize int // frames per ReadBatch/WriteBatch call; default 64

	// Fanout spreads the interface's frames over every Link opened with the
	// same Fanout and FanoutGroup on it, one per worker. FanoutGroup 0 derives
	// a group id from the process id and the interface index, which every
	// Link of this process on that interface shares.
	Fanout      FanoutMode
	FanoutGroup uint16

	Promisc bool // put the interface into promiscuous mode while the Link is open

	// Filter is a socket filter program (a BPF program file descriptor,
	// SO_ATTACH_BPF) run on every frame before the ring copy: frames it
	// refuses cost the kernel no copy. 0: none. With Protocols, every
	// receive socket carries it.
	Filter int

	// Protocols, if not empty, are the EtherTypes the Link receives
	// (e.g. ETH_P_IP, ETH_P_IPV6, ETH_P_ARP), each through a socket and a
	// ring of its own bound to it, read in turn by ReadBatch; the Link
	// transmits through a socket bound to none. The kernel delivers such
	// a socket a frame after tc ingress (tcx), the netdev ingress hook
	// and any rx_handler, and only if they passed it on: a program there
	// that forwards a frame keeps it out of the ring at no cost. Frames
	// of other EtherTypes never arrive. Without Promisc, frames for
	// another host (PACKET_OTHERHOST, which is also what a VLAN-tagged
	// frame of an interface without a VLAN device becomes) are refused
	// by a classic filter unless Filter is set, but for frames whose mark
	// is AcceptMark (when not 0). Empty: one socket bound to ETH_P_ALL, a
	// tap that sees every frame, before tc and in both directions.
	Protocols []uint16

	// AcceptMark, with Protocols, is a mark (skb->mark) whose frames the
	// Link takes although they are for another host: lvsd's kernel guard
	// marks the frames it hides from the kernel's IP receive and makes
	// them PACKET_OTHERHOST, which that receive drops at once.
	AcceptMark uint32

	// DisableVNetHdr turns PACKET_VNET_HDR off. Without it, ReadBatchMeta
	// only reports NeedsCsum (from TP_STATUS_CSUMNOTREADY, with zero
	// offsets) and DataValid, GSO super-frames arrive without their segment
	// size, and WriteBatchMeta refuses frames that need offload.
	DisableVNetHdr bool

	// TXOnly opens a Link that only transmits: no receive ring, and the
	// socket is bound with protocol 0, so the kernel queues no received
	// frame for it. ReadBatch blocks until Close and returns net.ErrClosed.
	// Workers use one per egress port, so no two goroutines share a writer.
	TXOnly bool

	bind uint16 // the EtherType a socket of Protocols is bound to

	// BusyPoll is how long ReadBatch keeps re-checking an empty ring before
	// it sleeps in poll(2): adaptive busy-polling. Waking a sleeping reader
	// (and, in a VM, a halted vCPU) costs tens of microseconds per wake-up
	// (reference/performance.md B.4); with traffic arriving faster than
	// BusyPoll the reader never sleeps, and an idle link costs at most
	// BusyPoll of CPU after its last frame. The default 0 never spins.
	BusyPoll time.Duration
}

// RingVersion selects the layout of the receive ring, and with it when the
// kernel wakes a reader sleeping in ReadBatch.
type RingVersion uint8

// Ring versions.
const (
	// RingV3 (TPACKET_V3, the default) packs frames into blocks and hands a
	// block to user space only when it is full or BlockTimeout after its
	// first frame (a jiffy at least): the fewest wake-ups and the densest
	// ring at high rates, but at low and moderate rates every frame waits
	// up to the timeout (about 1 ms) before ReadBatch sees it.
	RingV3 RingVersion = iota
	// RingV2 (TPACKET_V2) gives each frame its own slot and status, and the
	// kernel wakes the reader for every frame: the lowest latency. An idle
	// Link then costs one wake-up per frame, while a busy one still returns
	// every frame that is ready in one ReadBatch, so batching is kept under
	// load. Each frame occupies a FrameSize slot whatever its length.
	RingV2
)

// FanoutMode selects how PACKET_FANOUT spreads frames over the group.
type FanoutMode uint8

// Fanout modes. FanoutHash keeps a flow (and all fragments of a datagram,
// which hash on addresses only) on one Link.
const (
	FanoutNone FanoutMode = iota // no fanout: this Link sees every frame
	FanoutHash                   // PACKET_FANOUT_HASH: by the flow hash
	FanoutCPU                    // PACKET_FANOUT_CPU: by the CPU that received the frame
	FanoutLB                     // PACKET_FANOUT_LB: round robin
	FanoutQM                     // PACKET_FANOUT_QM: by the NIC's receive queue
)

// Stats are the counters of one Link since it was opened.
type Stats struct {
	Packets   uint64 // frames the kernel offered the ring, dropped ones included (tp_packets)
	Drops     uint64 // frames lost because the ring was full (PACKET_STATISTICS tp_drops)
	FreezeQ   uint64 // times the ring ran full and froze (tp_freeze_q_cnt)
	Discarded uint64 // frames the Link skipped: truncated to the block (RingV3) or frame (RingV2) size
}

// ErrNoVNetHdr is returned by WriteBatchMeta for a frame whose Meta asks for
// checksum or segmentation offload on a Link opened with DisableVNetHdr.
var ErrNoVNetHdr = errors.New("offload requested on an AF_PACKET link without PACKET_VNET_HDR")

const (
	defaultBlockSize    = 128 << 10
	defaultBlockCount   = 128
	defaultBlockTimeout = time.Millisecond
	defaultBatchSize    = 64
	defaultFrameSize    = 64<<10 + 512
	defaultFrameCount   = 256
)

func (c Config) withDefaults() Config {
	if c.BlockSize <= 0 {
		c.BlockSize = defaultBlockSize
	}
	if c.BlockCount <= 0 {
		c.BlockCount = defaultBlockCount
	}
	if c.BlockTimeout <= 0 {
		c.BlockTimeout = defaultBlockTimeout
	}
	if c.FrameSize <= 0 {
		c.FrameSize = defaultFrameSize
	}
	if c.FrameCount <= 0 {
		c.FrameCount = defaultFrameCount
	}
	if c.BatchSize <= 0 {
		c.BatchSize = defaultBatchSize
	}
	return c
}
