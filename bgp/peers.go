package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/osrg/gobgp/v4/api"
)

// PeerChanges says what SetPeers changed, by peer name.
type PeerChanges struct {
	Added, Removed, Reset, Renamed []string
}

// Empty reports whether nothing changed.
func (c PeerChanges) Empty() bool {
	return len(c.Added)+len(c.Removed)+len(c.Reset)+len(c.Renamed) == 0
}

// SetPeers makes peers the speaker's neighbours while it runs (lvs.cf's
// peer blocks after a reload), matched by address: a new address is added
// (GoBGP sends it every announced VIP once its session is up), a missing
// one is deleted (its session closes with a Cease notification, so that
// peer drops the routes at once), and one whose remote AS, hold time,
// password or multihop changed is deleted and added again: its session
// restarts. A peer whose name alone changed keeps its session. The other
// sessions are not touched. On an error the peers changed before it stay
// changed.
func (s *Speaker) SetPeers(peers []Peer) (PeerChanges, error) {
	var ch PeerChanges
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ch, ErrStopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := map[netip.Addr]Peer{}
	for _, p := range peers {
		want[p.Address] = p
	}
	for _, old := range s.cfg.Peers {
		if _, ok := want[old.Address]; ok {
			continue
		}
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: old.Address.String()}); err != nil {
			return ch, fmt.Errorf("deleting bgp peer %s (%v): %w", old.Name, old.Address, err)
		}
		delete(s.sessions, old.Address)
		s.cfg.Peers = slices.DeleteFunc(s.cfg.Peers, func(p Peer) bool { return p.Address == old.Address })
		ch.Removed = append(ch.Removed, old.Name)
	}
	for _, p := range peers {
		i := slices.IndexFunc(s.cfg.Peers, func(o Peer) bool { return o.Address == p.Address })
		switch {
		case i >= 0 && sameSession(s.cfg.Peers[i], p):
			if s.cfg.Peers[i].Name != p.Name {
				s.cfg.Peers[i].Name, s.sessions[p.Address].Name = p.Name, p.Name
				ch.Renamed = append(ch.Renamed, p.Name)
			}
			continue
		case i >= 0:
			if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
				return ch, fmt.Errorf("resetting bgp peer %s (%v): %w", p.Name, p.Address, err)
			}
			s.cfg.Peers = slices.Delete(s.cfg.Peers, i, i+1)
			ch.Reset = append(ch.Reset, p.Name)
		default:
			ch.Added = append(ch.Added, p.Name)
		}
		s.sessions[p.Address] = &Session{Name: p.Name, Address: p.Address, State: "idle"}
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, s.cfg.ConnectRetry)}); err != nil {
			delete(s.sessions, p.Address)
			return ch, fmt.Errorf("adding bgp peer %s (%v): %w", p.Name, p.Address, err)
		}
		s.cfg.Peers = append(s.cfg.Peers, p)
	}
	return ch, nil
}

// sameSession reports whether a and b open the same session: everything
// but the name is equal.
func sameSession(a, b Peer) bool {
	a.Name = b.Name
	return a == b
}

// Global returns the speaker's local AS and router id.
func (s *Speaker) Global() (uint32, netip.Addr) { return s.cfg.LocalAS, s.cfg.RouterID }
