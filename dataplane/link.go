package dataplane

// A Link moves Ethernet frames between one interface (or one fanout share of
// it) and the dataplane. The backends are afpacket (a TPACKET_V2 or V3 ring on a
// real interface), tap (a TAP device) and linktest (in memory, for tests).
//
// Ownership: frames returned by ReadBatch belong to the Link. They may be
// modified in place (NAT rewrites them before WriteBatch), and they stay valid
// until the next ReadBatch or Close on the same Link, whichever comes first.
// WriteBatch reads the frames it is given and does not retain them, so a
// frame read from one Link may be written to another Link and the buffer
// reused as soon as WriteBatch returns.
//
// Concurrency: ReadBatch must not run concurrently with itself, nor WriteBatch
// with itself; one ReadBatch and one WriteBatch may run at the same time (a
// worker reading one Link while another writes to it). Close may be called
// from any goroutine at any time, more than once.
//
// Lifetime: Close makes a blocked ReadBatch return promptly with
// net.ErrClosed, and every later ReadBatch or WriteBatch return net.ErrClosed.
// Close waits for a WriteBatch in progress. If frames from the last ReadBatch
// are still out (the reader is between two calls), they stay valid until the
// reader's next ReadBatch, which releases them and returns net.ErrClosed, so
// a reader never touches released memory however its shutdown races Close.
type Link interface {
	// ReadBatch blocks until at least one frame is available, then points
	// frames[i] at up to len(frames) received frames and returns how many.
	// They stay valid until the next ReadBatch on this Link.
	ReadBatch(frames [][]byte) (int, error)
	// WriteBatch transmits frames in order and does not retain them after it
	// returns. It returns how many frames were handed to the interface; when
	// that is less than len(frames), err says why frames[n] was not sent and
	// the frames after it were not tried (the caller drops frames[n] and may
	// call again with frames[n+1:]).
	WriteBatch(frames [][]byte) (int, error)
	// BatchSize is the number of frames one ReadBatch or WriteBatch call
	// handles best; callers size their batch arrays with it.
	BatchSize() int
	// Close releases the interface and wakes a blocked ReadBatch, which then
	// returns net.ErrClosed. Later calls return nil.
	Close() error
}

// A MetaLink is a Link that carries offload metadata (Meta) with each frame:
// whether a frame is a GSO super-frame and whether its L4 checksum is still
// partial. Every backend in this module implements it; the worker uses it
// whenever the Link does.
//
// A Link with offloads enabled delivers GSO super-frames larger than the MTU
// and frames with partial checksums through plain ReadBatch too; only a caller
// that reads Meta can tell them apart, so the worker must use ReadBatchMeta.
//
// Forwarding with offloads: a rewrite that keeps header lengths (NAT of
// addresses and ports) keeps the Meta valid, so the frame goes out through
// WriteBatchMeta with the Meta it came in with. Checksum patches on a
// NeedsCsum frame use the partial-checksum rules (frame.UpdatePartial16/32).
// An egress without offload (a Link opened without its virtio-net header
// option) refuses such frames: segment them with frame.Segment and complete
// checksums with frame.CompletePartial, then write them with a zero Meta.
type MetaLink interface {
	Link
	// ReadBatchMeta is ReadBatch that also fills meta[i] for frames[i].
	// len(meta) must be at least len(frames).
	ReadBatchMeta(frames [][]byte, meta []Meta) (int, error)
	// WriteBatchMeta is WriteBatch with meta[i] describing frames[i]: the
	// kernel segments a GSO super-frame and completes a partial checksum on
	// the way out. len(meta) must be at least len(frames).
	WriteBatchMeta(frames [][]byte, meta []Meta) (int, error)
}
