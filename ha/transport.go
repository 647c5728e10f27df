package ha

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// A Transport moves heartbeat datagrams between this router and its peer,
// one socket per Channel. Send and Recv may be called concurrently, Recv
// from one goroutine per channel (the runner starts one reader each).
type Transport interface {
	// Channels lists the channels this transport carries.
	Channels() []Channel
	// Send transmits b to the peer on ch. It does not retain b.
	Send(ch Channel, b []byte) error
	// Recv reads one datagram from ch into buf and returns its length and
	// sender. A datagram longer than buf is truncated.
	Recv(ch Channel, buf []byte) (int, netip.Addr, error)
	// Close makes blocked Recv calls return net.ErrClosed.
	Close() error
}

// MaxDatagram is a receive buffer size that fits every heartbeat with room
// to spare, so an oversized datagram is seen as malformed, not truncated.
const MaxDatagram = 512

// UDPConfig says where the UDP transport binds and sends, per channel: pulse
// binds own_ip:heartbeat_port and sends to peer_ip:heartbeat_port. A
// channel whose Local address is invalid is not used.
type UDPConfig struct {
	Local [numChannels]netip.AddrPort
	Peer  [numChannels]netip.AddrPort
}

// UDPConfigFor returns the UDPConfig of role r under s: heartbeat_port on
// our public (and private) address, to the peer's.
func UDPConfigFor(s Settings, r Role) UDPConfig {
	s = s.Normalize()
	var c UDPConfig
	for ch := range numChannels {
		if l, p := s.Addr(r, ch), s.Addr(r.Other(), ch); l.IsValid() && p.IsValid() {
			c.Local[ch] = netip.AddrPortFrom(l, s.Port)
			c.Peer[ch] = netip.AddrPortFrom(p, s.Port)
		}
	}
	return c
}

// UDP is the heartbeat transport over UDP sockets.
type UDP struct {
	conns [numChannels]*net.UDPConn // nil: channel unused
	chans []Channel

	mu   sync.Mutex // guards peer
	peer [numChannels]netip.AddrPort
}

// ListenUDP binds one UDP socket per configured channel.
func ListenUDP(c UDPConfig) (*UDP, error) {
	u := &UDP{peer: c.Peer}
	for ch := range numChannels {
		if !c.Local[ch].IsValid() {
			continue
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(c.Local[ch]))
		if err != nil {
			u.Close()
			return nil, fmt.Errorf("binding heartbeat socket %s (%s): %w", c.Local[ch], ch, err)
		}
		u.conns[ch] = conn
		u.chans = append(u.chans, ch)
	}
	if len(u.chans) == 0 {
		return nil, errors.New("ha: no heartbeat channel to bind")
	}
	return u, nil
}

// Channels lists the bound channels.
func (u *UDP) Channels() []Channel { return u.chans }

// LocalAddr returns the bound address of ch (useful with port 0).
func (u *UDP) LocalAddr(ch Channel) netip.AddrPort {
	if u.conns[ch] == nil {
		return netip.AddrPort{}
	}
	return u.conns[ch].LocalAddr().(*net.UDPAddr).AddrPort()
}

// SetPeer changes where ch sends (tests bound to port 0, and address changes
// on reload).
func (u *UDP) SetPeer(ch Channel, to netip.AddrPort) {
	u.mu.Lock()
	u.peer[ch] = to
	u.mu.Unlock()
}

// Send transmits b to the peer on ch.
func (u *UDP) Send(ch Channel, b []byte) error {
	if ch >= numChannels || u.conns[ch] == nil {
		return fmt.Errorf("sending heartbeat: channel %s not bound", ch)
	}
	u.mu.Lock()
	to := u.peer[ch]
	u.mu.Unlock()
	if _, err := u.conns[ch].WriteToUDPAddrPort(b, to); err != nil {
		return fmt.Errorf("sending heartbeat to %s (%s): %w", to, ch, err)
	}
	return nil
}

// Recv reads one datagram from ch.
func (u *UDP) Recv(ch Channel, buf []byte) (int, netip.Addr, error) {
	if ch >= numChannels || u.conns[ch] == nil {
		return 0, netip.Addr{}, fmt.Errorf("receiving heartbeat: channel %s not bound", ch)
	}
	n, from, err := u.conns[ch].ReadFromUDPAddrPort(buf)
	if err != nil {
		return 0, netip.Addr{}, err
	}
	return n, from.Addr().Unmap(), nil
}

// Close closes every socket.
func (u *UDP) Close() error {
	var errs []error
	for _, c := range u.conns {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
