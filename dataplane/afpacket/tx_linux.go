package afpacket

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"

	"lvs/dataplane"
)

// tx is the transmit side of a Link: one sendmmsg(2) per batch. Each message
// points at the caller's frame (a ring frame of another Link, typically), so
// nothing is copied in user space; with PACKET_VNET_HDR a per-message
// virtio_net_hdr goes in front as a second iovec. The kernel still builds one
// skb per frame (packet_snd); a TX ring would not avoid that, and sendmmsg
// with iovecs into the RX ring is what reference/performance.md measured.
type tx struct {
	msgs []unix.Mmsghdr
	iovs []unix.Iovec // two per message: virtio_net_hdr, frame
	hdrs []byte       // dataplane.VirtioNetHdrLen bytes per message
	vnet bool
}

func (t *tx) init(batch int, vnet bool) {
	t.msgs = make([]unix.Mmsghdr, batch)
	t.iovs = make([]unix.Iovec, 2*batch)
	t.hdrs = make([]byte, dataplane.VirtioNetHdrLen*batch)
	t.vnet = vnet
	for i := range t.msgs {
		h := &t.msgs[i].Hdr
		if vnet {
			t.iovs[2*i].Base = &t.hdrs[i*dataplane.VirtioNetHdrLen]
			t.iovs[2*i].SetLen(dataplane.VirtioNetHdrLen)
			h.Iov = &t.iovs[2*i]
			h.SetIovlen(2)
		} else {
			h.Iov = &t.iovs[2*i+1]
			h.SetIovlen(1)
		}
	}
}

// load points up to len(t.msgs) messages at frames and returns how many. It
// stops at a frame it cannot send, and returns the reason when that is the
// first one.
func (t *tx) load(frames [][]byte, meta []dataplane.Meta) (int, error) {
	k := min(len(frames), len(t.msgs))
	for i := range k {
		f := frames[i]
		var m dataplane.Meta
		if meta != nil {
			m = meta[i]
		}
		var err error
		switch {
		case len(f) == 0:
			err = unix.EINVAL
		case !t.vnet && (m.IsGSO() || m.Flags&dataplane.NeedsCsum != 0):
			err = ErrNoVNetHdr
		}
		if err != nil {
			if i == 0 {
				return 0, err
			}
			return i, nil
		}
		if t.vnet {
			if !m.IsGSO() {
				// hdr_len is the linear part of the skb packet_snd builds: the
				// whole frame, as without a virtio_net_hdr, instead of the
				// Ethernet header and page fragments for the rest (measured:
				// 25-60 % more frames/s in BenchmarkTX).
				m.HdrLen = uint16(min(len(f), 0xffff))
			}
			m.PutVirtioNetHdr(t.hdrs[i*dataplane.VirtioNetHdrLen:])
		}
		iov := &t.iovs[2*i+1]
		iov.Base = &f[0]
		iov.SetLen(len(f))
	}
	return k, nil
}

// clear drops the references to the caller's frames: WriteBatch retains nothing.
func (t *tx) clear(k int) {
	for i := range k {
		t.iovs[2*i+1].Base = nil
	}
}

// WriteBatch implements dataplane.Link. On a Link with PACKET_VNET_HDR the
// frames go out as complete frames (a zero virtio_net_hdr). The error for
// frames[n] is the unix.Errno of sendmmsg: ENOBUFS when the device queue is
// full, EAGAIN when the socket buffer is, EMSGSIZE for a frame larger than
// the MTU that is not marked GSO.
func (l *Link) WriteBatch(frames [][]byte) (int, error) {
	return l.write(frames, nil)
}

// WriteBatchMeta implements dataplane.MetaLink: meta[i] is passed to the
// kernel as the virtio_net_hdr of frames[i], so the kernel (or the device)
// segments GSO super-frames and completes partial checksums.
func (l *Link) WriteBatchMeta(frames [][]byte, meta []dataplane.Meta) (int, error) {
	return l.write(frames, meta[:len(frames)])
}

func (l *Link) write(frames [][]byte, meta []dataplane.Meta) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed.Load() || l.fd < 0 {
		return 0, net.ErrClosed
	}
	sent := 0
	for sent < len(frames) {
		var m []dataplane.Meta
		if meta != nil {
			m = meta[sent:]
		}
		k, err := l.tx.load(frames[sent:], m)
		if k == 0 {
			return sent, err
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(l.fd), uintptr(unsafe.Pointer(&l.tx.msgs[0])),
			uintptr(k), unix.MSG_DONTWAIT, 0, 0)
		l.tx.clear(k)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return sent, e // about frames[sent]; the hot path counts it, so no wrapping
		}
		sent += int(r)
	}
	return sent, nil
}
