package ha

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// listenPair binds two UDP transports on 127.0.0.1, one port per channel,
// each sending to the other.
func listenPair(t *testing.T) (a, b *UDP) {
	t.Helper()
	var cfg UDPConfig
	for ch := range numChannels {
		cfg.Local[ch] = netip.AddrPortFrom(loopback, 0)
	}
	a, err := ListenUDP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err = ListenUDP(cfg)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	for ch := range numChannels {
		a.SetPeer(ch, b.LocalAddr(ch))
		b.SetPeer(ch, a.LocalAddr(ch))
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// recvTimeout reads one datagram with a deadline so a lost one fails the
// test instead of hanging it.
func recvTimeout(t *testing.T, u *UDP, ch Channel) ([]byte, netip.Addr) {
	t.Helper()
	u.conns[ch].SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, MaxDatagram)
	n, from, err := u.Recv(ch, buf)
	if err != nil {
		t.Fatalf("Recv(%v): %v", ch, err)
	}
	return buf[:n], from
}

func TestUDPTransport(t *testing.T) {
	a, b := listenPair(t)
	if got := a.Channels(); len(got) != 2 {
		t.Fatalf("Channels() = %v", got)
	}
	m := testMsg()
	for ch := range numChannels {
		m.Seq = uint64(ch) + 1
		want := m.Encode(nil, testKey)
		if err := a.Send(ch, want); err != nil {
			t.Fatalf("Send(%v): %v", ch, err)
		}
		got, from := recvTimeout(t, b, ch)
		if !bytes.Equal(got, want) || from != loopback {
			t.Errorf("channel %v: Recv = %x from %v, want %x from %v", ch, got, from, want, loopback)
		}
		if dm, err := Decode(got, testKey); err != nil || dm.Seq != m.Seq {
			t.Errorf("Decode(received) = %+v, %v", dm, err)
		}
	}
	// And back the other way, on the private channel.
	if err := b.Send(ChannelPrivate, EncodeLegacy(StateActive)); err != nil {
		t.Fatal(err)
	}
	if got, _ := recvTimeout(t, a, ChannelPrivate); !bytes.Equal(got, EncodeLegacy(StateActive)) {
		t.Errorf("legacy datagram = %x", got)
	}
}

func TestUDPCloseUnblocksRecv(t *testing.T) {
	a, _ := listenPair(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := a.Recv(ChannelPublic, make([]byte, MaxDatagram))
		done <- err
	}()
	a.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Recv after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Recv still blocked after Close")
	}
}

func TestUDPConfigFor(t *testing.T) {
	s := testSettings()
	c := UDPConfigFor(s, RoleBackup)
	want := UDPConfig{
		Local: [numChannels]netip.AddrPort{netip.AddrPortFrom(pubB, 539), netip.AddrPortFrom(privB, 539)},
		Peer:  [numChannels]netip.AddrPort{netip.AddrPortFrom(pubP, 539), netip.AddrPortFrom(privP, 539)},
	}
	if c != want {
		t.Errorf("UDPConfigFor = %+v, want %+v", c, want)
	}
	s.BackupPrivate = netip.Addr{}
	if c := UDPConfigFor(s, RolePrimary); c.Local[ChannelPrivate].IsValid() {
		t.Errorf("private channel bound without backup_private: %+v", c)
	}
	if _, err := ListenUDP(UDPConfig{}); err == nil {
		t.Error("ListenUDP with no channel succeeded")
	}
}

func TestPipe(t *testing.T) {
	p := NewPipeFor(testSettings())
	buf := make([]byte, MaxDatagram)
	p.A.Send(ChannelPrivate, []byte("hello"))
	if n, from, ok := p.B.TryRecv(ChannelPrivate, buf); !ok || string(buf[:n]) != "hello" || from != privP {
		t.Errorf("TryRecv = %q, %v, %v", buf[:n], from, ok)
	}
	p.Cut(true, ChannelPublic)
	p.A.Send(ChannelPublic, []byte("lost"))
	p.B.Send(ChannelPublic, []byte("back"))
	if _, _, ok := p.B.TryRecv(ChannelPublic, buf); ok {
		t.Error("datagram crossed a cut link")
	}
	if n, from, ok := p.A.TryRecv(ChannelPublic, buf); !ok || string(buf[:n]) != "back" || from != pubB {
		t.Errorf("reverse direction: %q, %v, %v", buf[:n], from, ok)
	}
	p.Heal(true, ChannelPublic)
	p.A.Send(ChannelPublic, []byte("again"))
	if n, _, err := p.B.Recv(ChannelPublic, buf); err != nil || string(buf[:n]) != "again" {
		t.Errorf("Recv after Heal = %q, %v", buf[:n], err)
	}
	p.B.Close()
	if _, _, err := p.B.Recv(ChannelPublic, buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Recv after Close = %v", err)
	}
	if err := p.B.Send(ChannelPublic, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}
