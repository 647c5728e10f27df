package dataplane

import "sync/atomic"

// Verdict is what the worker did with one frame.
type Verdict uint8

// Verdicts of the packet path.
const (
	Pass    Verdict = iota // not ours: left to the kernel
	Forward                // rewritten and sent on (NAT, direct routing)
	Reply                  // answered by lvsd itself (ARP, ICMP echo, ICMP errors)
	Drop                   // dropped; the reason is counted
	numVerdicts
)

var verdictNames = [...]string{Pass: "pass", Forward: "forward", Reply: "reply", Drop: "drop"}

// String returns the verdict's metric label.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// DropReason says why a frame was dropped.
type DropReason uint8

// Drop reasons, each counted per worker.
const (
	DropShort          DropReason = iota // too short or malformed for its type
	DropNoService                        // to a VIP, but no service for the port (answered with ICMP port unreachable)
	DropNoDest                           // the service has no available destination
	DropTableFull                        // the connection table is full
	DropNoNeigh                          // no route to the next hop, or its MAC is unknown and the frame could not be held
	DropTTL                              // TTL expired (answered with ICMP time exceeded)
	DropTooBig                           // larger than the egress MTU with DF set (answered with fragmentation needed)
	DropDestGone                         // the connection's destination was removed (expire_nodest_conn)
	DropTxError                          // the link refused the frame
	DropBadChecksum                      // a checksum that had to be completed could not be
	DropFragment                         // a fragment that could not be matched to a flow
	DropUnsupported                      // a frame kind the forwarding method cannot carry
	DropNoConn                           // a TCP segment other than SYN for a flow lvsd does not know
	DropNeighFailed                      // held for a neighbour that did not answer ARP in time (neighqueue.go)
	DropNeighQueueFull                   // held for a neighbour, pushed out by newer frames (neighqueue.go)
	// Malformed and hostile frames (malformed.go), named after the
	// kernel's counters where it has one.
	DropTruncated     // the frame ends inside its IPv4 or TCP/UDP/ICMP header or before its total length (InTruncatedPkts)
	DropBadHeader     // an IPv4 version, header length or total length, TCP data offset or UDP length that cannot be (InHdrErrors)
	DropBadIPChecksum // an IPv4 header checksum that does not add up (InCsumErrors)
	DropTinyFragment  // a first fragment too short for its TCP/UDP header, or a TCP fragment at offset 8 (RFC 1858)
	DropFragOverlap   // a fragment overlapping its datagram's first fragment (RFC 1858, RFC 5722)
	DropICMPError     // an ICMP error to an owned address quoting garbage or no flow lvsd forwards
	DropARPConflict   // an ARP packet from another MAC claiming an address lvsd owns
	DropTCPFlags      // a TCP flag combination no connection sends (SYN+FIN, SYN+RST, none, ...) for no known flow
	DropBadL4Checksum // a TCP, UDP or ICMP checksum that does not add up, on a frame lvsd would forward (TcpInCsumErrors, UdpInCsumErrors)
	numDropReasons
)

var dropNames = [...]string{
	DropShort: "short", DropNoService: "no_service", DropNoDest: "no_dest", DropTableFull: "table_full",
	DropNoNeigh: "no_neighbour", DropTTL: "ttl", DropTooBig: "too_big", DropDestGone: "dest_gone",
	DropTxError: "tx_error", DropBadChecksum: "bad_checksum", DropFragment: "fragment",
	DropUnsupported: "unsupported", DropNoConn: "no_connection",
	DropNeighFailed: "neighbour_failed", DropNeighQueueFull: "neighbour_queue_full",
	DropTruncated: "truncated", DropBadHeader: "bad_header", DropBadIPChecksum: "bad_ip_checksum",
	DropTinyFragment: "tiny_fragment", DropFragOverlap: "fragment_overlap", DropICMPError: "icmp_error",
	DropARPConflict: "arp_conflict", DropTCPFlags: "bad_tcp_flags", DropBadL4Checksum: "bad_l4_checksum",
}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "unknown"
}

// Counters are one worker's packet counters. The owning worker writes
// them, and so does SendHeld for the frames the worker held for a
// neighbour (their TX and drops); readers sum all workers' counters (Sum)
// at any time.
type Counters struct {
	RX, TX   atomic.Uint64
	LinkDown atomic.Uint64 // times the receive link reported the interface down
	// FastInstalls counts flow directions handed to the fast path;
	// FastErrors those it refused (the flow stays on the Go path);
	// FastEvicted those a worker found gone from it (evicted.go).
	FastInstalls, FastErrors, FastEvicted atomic.Uint64
	Verdicts                              [numVerdicts]atomic.Uint64
	Drops                                 [numDropReasons]atomic.Uint64
}

// Snapshot is a plain copy of Counters, summed over workers.
type Snapshot struct {
	RX, TX                                uint64
	FastInstalls, FastErrors, FastEvicted uint64
	Verdicts                              [numVerdicts]uint64
	Drops                                 [numDropReasons]uint64
}

func (c *Counters) drop(r DropReason) Verdict {
	c.Drops[r].Add(1)
	return Drop
}

// Sum adds up the counters of several workers.
func Sum(cs ...*Counters) Snapshot {
	var s Snapshot
	for _, c := range cs {
		s.RX += c.RX.Load()
		s.TX += c.TX.Load()
		s.FastInstalls += c.FastInstalls.Load()
		s.FastErrors += c.FastErrors.Load()
		s.FastEvicted += c.FastEvicted.Load()
		for i := range s.Verdicts {
			s.Verdicts[i] += c.Verdicts[i].Load()
		}
		for i := range s.Drops {
			s.Drops[i] += c.Drops[i].Load()
		}
	}
	return s
}
