package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"lvs/dataplane"
)

// Link is a dataplane.MetaLink on a TAP device it created; the device goes
// away with Close. Ownership, concurrency and lifetime are those of
// dataplane.Link; frames point into buffers the Link allocated at Open.
// The caller configures the device (addresses, up) by name.
type Link struct {
	name   string
	file   *os.File
	rc     syscall.RawConn
	vnet   bool
	closed atomic.Bool

	rmu    sync.Mutex // serialises ReadBatch; guards the fields below
	bufs   [][]byte   // one per batch slot, maxFrame (+ virtio_net_hdr) bytes
	rf     [][]byte   // the caller's frames during a read
	rm     []dataplane.Meta
	rn     int
	rerr   error
	readFn func(fd uintptr) bool // l.readFrames, bound once: no allocation per call

	wmu     sync.Mutex // serialises WriteBatch; guards the fields below
	wf      [][]byte
	wm      []dataplane.Meta
	wn      int
	werr    error
	iov     [2]unix.Iovec
	hdr     [dataplane.VirtioNetHdrLen]byte
	writeFn func(fd uintptr) bool
}

var _ dataplane.MetaLink = (*Link)(nil)

// Open creates the TAP device in the caller's network namespace.
func Open(c Config) (*Link, error) {
	if c.BatchSize <= 0 {
		c.BatchSize = defaultBatchSize
	}
	var (
		file *os.File
		name string
		err  error
	)
	if c.VNetHdr {
		file, name, err = createVNet(c.Name)
	} else {
		file, name, err = createWater(c.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("creating TAP device %q: %w", c.Name, err)
	}
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("getting raw fd of TAP %s: %w", name, err)
	}
	l := &Link{name: name, file: file, rc: rc, vnet: c.VNetHdr, bufs: make([][]byte, c.BatchSize)}
	for i := range l.bufs {
		l.bufs[i] = make([]byte, maxFrame+dataplane.VirtioNetHdrLen)
	}
	l.readFn, l.writeFn = l.readFrames, l.writeFrames
	return l, nil
}

func createWater(name string) (*os.File, string, error) {
	c := water.Config{DeviceType: water.TAP}
	c.Name = name
	ifce, err := water.New(c)
	if err != nil {
		return nil, "", err
	}
	f, ok := ifce.ReadWriteCloser.(*os.File)
	if !ok {
		ifce.Close()
		return nil, "", fmt.Errorf("water returned %T, want *os.File", ifce.ReadWriteCloser)
	}
	return f, ifce.Name(), nil
}

// TUNSETOFFLOAD flags (include/uapi/linux/if_tun.h).
const (
	tunFCsum   = 0x01
	tunFTSO4   = 0x02
	tunFTSO6   = 0x04
	tunFTSOECN = 0x08
)

func createVNet(name string) (*os.File, string, error) {
	if name == "" {
		name = "tap%d"
	}
	tt := &netlink.Tuntap{
		LinkAttrs:  netlink.LinkAttrs{Name: name},
		Mode:       netlink.TUNTAP_MODE_TAP,
		Flags:      netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR | netlink.TUNTAP_ONE_QUEUE,
		Queues:     1,
		NonPersist: true,
	}
	if err := netlink.LinkAdd(tt); err != nil {
		return nil, "", err
	}
	f := tt.Fds[0]
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, "", err
	}
	var errno syscall.Errno
	rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6|tunFTSOECN)
	})
	if errno != 0 {
		f.Close()
		return nil, "", fmt.Errorf("setting TUNSETOFFLOAD: %w", errno)
	}
	return f, tt.Name, nil
}

// Name returns the name of the TAP device.
func (l *Link) Name() string { return l.name }

// BatchSize implements dataplane.Link.
func (l *Link) BatchSize() int { return len(l.bufs) }

// Close implements dataplane.Link. It removes the device; a blocked
// ReadBatch returns net.ErrClosed. Frames of the last ReadBatch stay
// readable (they are Go memory).
func (l *Link) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("closing TAP %s: %w", l.name, err)
	}
	return nil
}

// closedErr maps the poller's errors after Close to net.ErrClosed.
func (l *Link) closedErr(err error) error {
	if l.closed.Load() || errors.Is(err, os.ErrClosed) {
		return net.ErrClosed
	}
	return fmt.Errorf("TAP %s: %w", l.name, err)
}

// ReadBatch implements dataplane.Link.
func (l *Link) ReadBatch(frames [][]byte) (int, error) { return l.read(frames, nil) }

// ReadBatchMeta implements dataplane.MetaLink.
func (l *Link) ReadBatchMeta(frames [][]byte, meta []dataplane.Meta) (int, error) {
	return l.read(frames, meta[:len(frames)])
}

func (l *Link) read(frames [][]byte, meta []dataplane.Meta) (int, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if l.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(frames) == 0 {
		return 0, nil
	}
	l.rf, l.rm, l.rn, l.rerr = frames[:min(len(frames), len(l.bufs))], meta, 0, nil
	err := l.rc.Read(l.readFn)
	n := l.rn
	l.rf, l.rm = nil, nil
	if n > 0 {
		return n, nil // an error after some frames shows again on the next call
	}
	if err == nil {
		err = l.rerr
	}
	return 0, l.closedErr(err)
}

// readFrames reads frames until the device has no more queued or the batch
// is full. It returns false (wait for the fd) only when it read nothing.
func (l *Link) readFrames(fd uintptr) bool {
	for l.rn < len(l.rf) {
		buf := l.bufs[l.rn]
		n, err := unix.Read(int(fd), buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return l.rn > 0
		case err != nil:
			l.rerr = err
			return true
		}
		var m dataplane.Meta
		f := buf[:n]
		if l.vnet {
			if n < dataplane.VirtioNetHdrLen {
				continue
			}
			m = dataplane.DecodeVirtioNetHdr(buf)
			f = buf[dataplane.VirtioNetHdrLen:n]
		}
		l.rf[l.rn] = f[:len(f):len(f)]
		if l.rm != nil {
			l.rm[l.rn] = m
		}
		l.rn++
	}
	return true
}

// WriteBatch implements dataplane.Link. On a Link with VNetHdr the frames go
// in as complete frames (a zero virtio_net_hdr).
func (l *Link) WriteBatch(frames [][]byte) (int, error) { return l.write(frames, nil) }

// WriteBatchMeta implements dataplane.MetaLink: with VNetHdr, meta[i] goes to
// the kernel as the virtio_net_hdr of frames[i].
func (l *Link) WriteBatchMeta(frames [][]byte, meta []dataplane.Meta) (int, error) {
	return l.write(frames, meta[:len(frames)])
}

func (l *Link) write(frames [][]byte, meta []dataplane.Meta) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed.Load() {
		return 0, net.ErrClosed
	}
	l.wf, l.wm, l.wn, l.werr = frames, meta, 0, nil
	err := l.rc.Write(l.writeFn)
	n, werr := l.wn, l.werr
	l.wf, l.wm = nil, nil
	l.iov[1].Base = nil
	if werr != nil {
		return n, werr // about frames[n]; the hot path counts it, so no wrapping
	}
	if err != nil {
		return n, l.closedErr(err)
	}
	return n, nil
}

// writeFrames writes frames from l.wn on, one syscall each.
func (l *Link) writeFrames(fd uintptr) bool {
	for l.wn < len(l.wf) {
		f := l.wf[l.wn]
		var m dataplane.Meta
		if l.wm != nil {
			m = l.wm[l.wn]
		}
		if len(f) == 0 {
			l.werr = unix.EINVAL
			return true
		}
		var e syscall.Errno
		if l.vnet {
			m.PutVirtioNetHdr(l.hdr[:])
			l.iov[0].Base, l.iov[1].Base = &l.hdr[0], &f[0]
			l.iov[0].SetLen(len(l.hdr))
			l.iov[1].SetLen(len(f))
			_, _, e = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&l.iov[0])), 2)
		} else {
			if m.IsGSO() || m.Flags&dataplane.NeedsCsum != 0 {
				l.werr = ErrNoVNetHdr
				return true
			}
			_, _, e = unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&f[0])), uintptr(len(f)))
		}
		switch e {
		case 0:
			l.wn++
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			l.werr = e
			return true
		}
	}
	return true
}
