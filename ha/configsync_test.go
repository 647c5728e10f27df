package ha

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// cfgPeer is a receiver on loopback with a recorded Apply.
type cfgPeer struct {
	mu      sync.Mutex
	text    []byte
	serial  uint32
	applied int
	refuse  error
	addr    netip.AddrPort
}

// get returns the peer's file, serial and apply count.
func (p *cfgPeer) get() (string, uint32, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.text), p.serial, p.applied
}

func startReceiver(t *testing.T, key []byte, peers []netip.Addr, p *cfgPeer) {
	t.Helper()
	startReceiverOn(t, "127.0.0.1:0", key, peers, p)
}

// startReceiverOn is startReceiver listening on addr.
func startReceiverOn(t *testing.T, addr string, key []byte, peers []netip.Addr, p *cfgPeer) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().(*net.TCPAddr).AddrPort()
	cr := &ConfigReceiver{Key: key, Peers: peers, Timeout: 5 * time.Second,
		Current: func() ([]byte, uint32) {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.text, p.serial
		},
		Apply: func(_ context.Context, text []byte, serial uint32) (string, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.refuse != nil {
				return "", p.refuse
			}
			p.text, p.serial = bytes.Clone(text), serial
			p.applied++
			return "applied", nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cr.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

var loop = []netip.Addr{netip.MustParseAddr("127.0.0.1")}

func push(t *testing.T, p *cfgPeer, key []byte, text string, serial uint32) (PushResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return PushConfig(ctx, p.addr, netip.Addr{}, key, []byte(text), serial)
}

func TestConfigPushAppliesAndSkipsTheSameFile(t *testing.T) {
	key := []byte("secret")
	p := &cfgPeer{text: []byte("serial_no = 1\n"), serial: 1}
	startReceiver(t, key, loop, p)
	res, err := push(t, p, key, "serial_no = 2\n", 2)
	if err != nil || !res.Pushed || res.PeerSerial != 1 || res.Message != "applied" {
		t.Fatalf("push = %+v, %v; want pushed over serial 1 with the peer's message", res, err)
	}
	if text, serial, n := p.get(); text != "serial_no = 2\n" || serial != 2 || n != 1 {
		t.Fatalf("peer holds %q serial %d after %d applies", text, serial, n)
	}
	res, err = push(t, p, key, "serial_no = 2\n", 2)
	if err != nil || res.Pushed || res.PeerHash != ConfigHash([]byte("serial_no = 2\n")) {
		t.Fatalf("second push of the same file = %+v, %v; want nothing sent", res, err)
	}
	if _, _, n := p.get(); n != 1 {
		t.Errorf("the same file was applied again (%d applies)", n)
	}
}

func TestConfigPushRefusals(t *testing.T) {
	key := []byte("secret")
	p := &cfgPeer{text: []byte("old\n"), serial: 1}
	startReceiver(t, key, loop, p)

	if _, err := push(t, p, []byte("guess"), "active_cmd = /bin/evil\n", 9); err == nil {
		t.Error("a push with the wrong key succeeded")
	}
	if _, err := push(t, p, nil, "x\n", 9); !errors.Is(err, ErrConfigNoKey) {
		t.Errorf("a push without a key: %v, want ErrConfigNoKey", err)
	}
	p.mu.Lock()
	p.refuse = errors.New("line 3: unknown key")
	p.mu.Unlock()
	_, err := push(t, p, key, "bad\n", 2)
	if !errors.Is(err, ErrConfigRefused) || !bytes.Contains([]byte(err.Error()), []byte("line 3: unknown key")) {
		t.Errorf("refused push: %v, want ErrConfigRefused with the reason", err)
	}
	if text, _, n := p.get(); text != "old\n" || n != 0 {
		t.Errorf("peer changed to %q (%d applies) by refused pushes", text, n)
	}
}

func TestConfigReceiverRefusesStrangersAndReplays(t *testing.T) {
	key := []byte("secret")
	stranger := &cfgPeer{text: []byte("old\n")}
	startReceiver(t, key, []netip.Addr{netip.MustParseAddr("192.0.2.1")}, stranger)
	if _, err := push(t, stranger, key, "new\n", 2); err == nil {
		t.Error("a receiver accepted a push from an address that is not its partner")
	}

	// A recorded offer replayed on a new connection meets a new nonce.
	p := &cfgPeer{text: []byte("old\n")}
	startReceiver(t, key, loop, p)
	c, err := net.Dial("tcp", p.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	hello := make([]byte, cfgHello)
	io.ReadFull(c, hello)
	nonce := hello[5:21]
	offer := []byte{0x4c, 0x56, 0x43, 0x46, 1, 1, 0, 0, 0, 2, 0, 0, 0, 4}
	offer = append(offer, "new\n"...)
	offer = append(offer, configMAC(key, nonce, offer)...)
	c.Write(offer)
	io.ReadAll(c)
	c.Close()
	if _, _, n := p.get(); n != 1 {
		t.Fatalf("the genuine hand-made offer was not applied (%d)", n)
	}
	c, err = net.Dial("tcp", p.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(c, hello)
	c.Write(offer)
	io.ReadAll(c)
	c.Close()
	if _, _, n := p.get(); n != 1 {
		t.Errorf("a replayed offer was applied (%d applies)", n)
	}
}

func TestReadOfferRejectsMalformed(t *testing.T) {
	key, nonce := []byte("k"), make([]byte, 16)
	good := []byte{0x4c, 0x56, 0x43, 0x46, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 'x'}
	good = append(good, configMAC(key, nonce, good)...)
	if text, _, err := readOffer(bytes.NewReader(good), key, nonce); err != nil || string(text) != "x" {
		t.Fatalf("readOffer(good) = %q, %v", text, err)
	}
	for name, b := range map[string][]byte{
		"short":        good[:10],
		"magic":        append([]byte{'X'}, good[1:]...),
		"op none+body": append(append([]byte{}, good[:5]...), append([]byte{0}, good[6:]...)...),
		"too big":      {0x4c, 0x56, 0x43, 0x46, 1, 1, 0, 0, 0, 1, 0xff, 0, 0, 0},
		"bad mac":      append(append([]byte{}, good[:len(good)-1]...), good[len(good)-1]^1),
	} {
		if _, _, err := readOffer(bytes.NewReader(b), key, nonce); err == nil {
			t.Errorf("%s: readOffer accepted it", name)
		}
	}
}
