package ha

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Config sync (issue 9 item 5) replaces the guide's "scp lvs.cf to the
// backup router" (§4.7): the active router offers its running lvs.cf to the
// standby over TCP on heartbeat_port, and the standby validates, writes and
// applies it. Because lvs.cf can name programs to run (active_cmd,
// inactive_cmd, send_program), a pushed file is as powerful as a shell on
// the router: config sync works only with heartbeat_key set, and every offer
// is authenticated with HMAC-SHA256 over a nonce the receiver chose, so an
// offer cannot be replayed and a stranger cannot push one.
//
// One exchange per TCP connection, all integers big-endian:
//
//	receiver → sender, hello (57 bytes):
//	  0  4 magic "LVCF"
//	  4  1 version (1)
//	  5 16 nonce (random, one per connection)
//	 21 32 SHA-256 of the receiver's running lvs.cf
//	 53  4 the receiver's serial_no
//	sender → receiver, offer (14 bytes + file + 32):
//	  0  4 magic "LVCF"
//	  4  1 version (1)
//	  5  1 op: 0 nothing to send (the hashes match), 1 push
//	  6  4 serial_no of the file
//	 10  4 length of the file (0 with op 0; at most MaxConfigSize)
//	 14  … the file
//	  …  32 HMAC-SHA256(heartbeat_key, nonce ‖ every offer byte before it)
//	receiver → sender, result (after applying a push):
//	  0  1 0 applied, 1 refused
//	  1  2 length of the message
//	  3  … message (why it was refused, or what was applied)
const (
	cfgMagic   = 0x4c564346 // "LVCF"
	cfgVersion = 1
	cfgHello   = 4 + 1 + 16 + sha256.Size + 4
	cfgOffer   = 4 + 1 + 1 + 4 + 4

	cfgOpNone = 0
	cfgOpPush = 1

	// MaxConfigSize bounds a pushed lvs.cf: thousands of virtual servers.
	MaxConfigSize = 4 << 20
)

// Errors of config sync.
var (
	ErrConfigNoKey    = errors.New("config sync needs heartbeat_key: a pushed lvs.cf can run programs on the router")
	ErrConfigAuth     = errors.New("config offer authentication failed")
	ErrConfigProtocol = errors.New("config sync protocol error")
	ErrConfigTooBig   = errors.New("config offer larger than the limit")
	ErrConfigRefused  = errors.New("the peer refused the configuration")
	errConfigStranger = errors.New("connection from an address that is not the partner router")
)

// ConfigHash is the SHA-256 of an lvs.cf's bytes, what the two routers
// compare to decide whether a push is needed.
func ConfigHash(text []byte) [sha256.Size]byte { return sha256.Sum256(text) }

// PushResult says what PushConfig did.
type PushResult struct {
	Pushed     bool     // the file was sent (false: the peer already runs it)
	PeerSerial uint32   // the peer's serial_no before the exchange
	PeerHash   [32]byte // the peer's file hash before the exchange
	Message    string   // the peer's answer to a push
}

// PushConfig offers text (serial_no serial) to the config sync receiver at
// addr, from local when valid, and waits for the peer to apply it. It sends
// nothing when the peer already runs the same bytes. A refusal is returned as
// an error wrapping ErrConfigRefused with the peer's reason.
func PushConfig(ctx context.Context, addr netip.AddrPort, local netip.Addr, key, text []byte, serial uint32) (PushResult, error) {
	var res PushResult
	if len(key) == 0 {
		return res, ErrConfigNoKey
	}
	if len(text) > MaxConfigSize {
		return res, ErrConfigTooBig
	}
	d := net.Dialer{}
	if local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
	}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return res, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := bufio.NewReader(c)
	hello := make([]byte, cfgHello)
	if _, err := io.ReadFull(r, hello); err != nil {
		return res, fmt.Errorf("reading the peer's hello: %w", err)
	}
	if binary.BigEndian.Uint32(hello) != cfgMagic || hello[4] != cfgVersion {
		return res, fmt.Errorf("%w: not a config sync hello", ErrConfigProtocol)
	}
	nonce := hello[5:21]
	copy(res.PeerHash[:], hello[21:53])
	res.PeerSerial = binary.BigEndian.Uint32(hello[53:])
	op := byte(cfgOpPush)
	body := text
	if res.PeerHash == ConfigHash(text) {
		op, body = cfgOpNone, nil
	}
	offer := binary.BigEndian.AppendUint32(make([]byte, 0, cfgOffer+len(body)+sha256.Size), cfgMagic)
	offer = append(offer, cfgVersion, op)
	offer = binary.BigEndian.AppendUint32(offer, serial)
	offer = binary.BigEndian.AppendUint32(offer, uint32(len(body)))
	offer = append(offer, body...)
	offer = append(offer, configMAC(key, nonce, offer)...)
	if _, err := c.Write(offer); err != nil {
		return res, fmt.Errorf("sending the configuration: %w", err)
	}
	if op == cfgOpNone {
		return res, nil
	}
	res.Pushed = true
	head := make([]byte, 3)
	if _, err := io.ReadFull(r, head); err != nil {
		return res, fmt.Errorf("reading the peer's answer: %w", err)
	}
	msg := make([]byte, binary.BigEndian.Uint16(head[1:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return res, fmt.Errorf("reading the peer's answer: %w", err)
	}
	res.Message = string(msg)
	if head[0] != 0 {
		return res, fmt.Errorf("%w: %s", ErrConfigRefused, msg)
	}
	return res, nil
}

func configMAC(key, nonce, offer []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(nonce)
	m.Write(offer)
	return m.Sum(nil)
}

// ConfigReceiver answers the active router's offers on the standby.
type ConfigReceiver struct {
	// Key is heartbeat_key; NewConfigReceiver refuses an empty one.
	Key []byte
	// Peers are the addresses offers may come from (the partner's public
	// and private addresses); others are closed at once.
	Peers []netip.Addr
	// Current returns the running lvs.cf's bytes and serial_no.
	Current func() ([]byte, uint32)
	// Apply validates, writes and applies a pushed file and says what it
	// did; an error is sent back as the refusal. Offers are applied one at a
	// time.
	Apply func(ctx context.Context, text []byte, serial uint32) (string, error)
	// Timeout bounds one exchange (default 10 s).
	Timeout time.Duration
	// Log, when set, hears of every offer refused before Apply (bad
	// authentication, a stranger, a protocol error).
	Log *slog.Logger
}

// Serve accepts offers on l until ctx ends or l fails; it closes l.
func (cr *ConfigReceiver) Serve(ctx context.Context, l net.Listener) error {
	if len(cr.Key) == 0 {
		l.Close()
		return ErrConfigNoKey
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// One at a time: an exchange is short and offers come from one peer.
		if err := cr.exchange(ctx, c); err != nil && cr.Log != nil {
			cr.Log.Warn("config sync: offer refused", "from", c.RemoteAddr().String(), "err", err)
		}
	}
}

// exchange runs one hello/offer/result exchange and closes c; errors end it
// silently (the sender sees the connection close).
func (cr *ConfigReceiver) exchange(ctx context.Context, c net.Conn) error {
	defer c.Close()
	if !cr.fromPeer(c.RemoteAddr()) {
		return errConfigStranger
	}
	t := cr.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	c.SetDeadline(time.Now().Add(t))
	cur, serial := cr.Current()
	hello := binary.BigEndian.AppendUint32(make([]byte, 0, cfgHello), cfgMagic)
	hello = append(hello, cfgVersion)
	nonce := make([]byte, 16)
	rand.Read(nonce)
	hello = append(hello, nonce...)
	h := ConfigHash(cur)
	hello = append(hello, h[:]...)
	hello = binary.BigEndian.AppendUint32(hello, serial)
	if _, err := c.Write(hello); err != nil {
		return err
	}
	text, pserial, err := readOffer(bufio.NewReader(c), cr.Key, nonce)
	if err != nil || text == nil {
		return err
	}
	msg, err := cr.Apply(ctx, text, pserial)
	code := byte(0)
	if err != nil {
		code, msg = 1, err.Error()
	}
	if len(msg) > 0xffff {
		msg = msg[:0xffff]
	}
	out := append([]byte{code}, byte(len(msg)>>8), byte(len(msg)))
	_, err = c.Write(append(out, msg...))
	return err
}

// readOffer reads and authenticates an offer; a nil text means op 0.
func readOffer(r io.Reader, key, nonce []byte) ([]byte, uint32, error) {
	head := make([]byte, cfgOffer)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, 0, err
	}
	if binary.BigEndian.Uint32(head) != cfgMagic || head[4] != cfgVersion || head[5] > cfgOpPush {
		return nil, 0, ErrConfigProtocol
	}
	serial := binary.BigEndian.Uint32(head[6:])
	n := binary.BigEndian.Uint32(head[10:])
	if n > MaxConfigSize {
		return nil, 0, ErrConfigTooBig
	}
	if (head[5] == cfgOpNone) != (n == 0) {
		return nil, 0, ErrConfigProtocol
	}
	rest := make([]byte, int(n)+sha256.Size)
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, 0, err
	}
	want := configMAC(key, nonce, append(head, rest[:n]...))
	if !hmac.Equal(want, rest[n:]) {
		return nil, 0, ErrConfigAuth
	}
	if head[5] == cfgOpNone {
		return nil, serial, nil
	}
	return rest[:n], serial, nil
}

func (cr *ConfigReceiver) fromPeer(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	for _, p := range cr.Peers {
		if p == ip.Unmap() {
			return true
		}
	}
	return false
}
