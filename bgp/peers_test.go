package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/osrg/gobgp/v4/api"
)

// gobgpPeers lists the neighbours GoBGP itself has, as
// "ADDRESS as REMOTE_AS hold HOLD ttl MULTIHOP desc NAME", in order.
func gobgpPeers(t *testing.T, s *Speaker) []string {
	t.Helper()
	var out []string
	err := s.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		ttl := uint32(0)
		if p.EbgpMultihop != nil && p.EbgpMultihop.Enabled {
			ttl = p.EbgpMultihop.MultihopTtl
		}
		out = append(out, fmt.Sprintf("%s as %d hold %d ttl %d desc %s", p.Conf.NeighborAddress, p.Conf.PeerAsn,
			p.Timers.Config.HoldTime, ttl, p.Conf.Description))
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestSetPeers changes a running speaker's peers step by step and checks
// what SetPeers reports, the sessions it lists and the neighbours GoBGP
// has. The peers are loopback addresses where nothing listens on port
// 179: their sessions never come up, and nothing leaves the host.
func TestSetPeers(t *testing.T) {
	a := Peer{Name: "a", Address: netip.MustParseAddr("127.0.0.2"), RemoteAS: 65000, HoldTime: 3 * time.Second}
	b := Peer{Name: "b", Address: netip.MustParseAddr("127.0.0.3"), RemoteAS: 65002}
	s, err := NewSpeaker(Config{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), Peers: []Peer{a},
		ConnectRetry: time.Minute}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.Announce(Route{VIP: vipA}); err != nil {
		t.Fatal(err)
	}
	renamed := a
	renamed.Name = "upstream"
	slower := renamed
	slower.HoldTime, slower.Multihop = 9*time.Second, 2
	steps := []struct {
		name   string
		peers  []Peer
		want   PeerChanges
		gobgp  []string
		listed []string // Sessions(): NAME@ADDRESS
	}{
		{"unchanged", []Peer{a}, PeerChanges{},
			[]string{"127.0.0.2 as 65000 hold 3 ttl 0 desc a"}, []string{"a@127.0.0.2"}},
		{"add b", []Peer{a, b}, PeerChanges{Added: []string{"b"}},
			[]string{"127.0.0.2 as 65000 hold 3 ttl 0 desc a", "127.0.0.3 as 65002 hold 90 ttl 0 desc b"}, []string{"a@127.0.0.2", "b@127.0.0.3"}},
		{"rename a", []Peer{renamed, b}, PeerChanges{Renamed: []string{"upstream"}},
			[]string{"127.0.0.2 as 65000 hold 3 ttl 0 desc a", "127.0.0.3 as 65002 hold 90 ttl 0 desc b"}, []string{"upstream@127.0.0.2", "b@127.0.0.3"}},
		{"hold time and multihop", []Peer{slower, b}, PeerChanges{Reset: []string{"upstream"}},
			[]string{"127.0.0.2 as 65000 hold 9 ttl 2 desc upstream", "127.0.0.3 as 65002 hold 90 ttl 0 desc b"}, []string{"upstream@127.0.0.2", "b@127.0.0.3"}},
		{"remove upstream", []Peer{b}, PeerChanges{Removed: []string{"upstream"}},
			[]string{"127.0.0.3 as 65002 hold 90 ttl 0 desc b"}, []string{"b@127.0.0.3"}},
		{"remove all", nil, PeerChanges{Removed: []string{"b"}}, nil, []string{}},
		{"add back", []Peer{a}, PeerChanges{Added: []string{"a"}},
			[]string{"127.0.0.2 as 65000 hold 3 ttl 0 desc a"}, []string{"a@127.0.0.2"}},
	}
	for _, st := range steps {
		got, err := s.SetPeers(st.peers)
		if err != nil {
			t.Fatalf("%s: SetPeers: %v", st.name, err)
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: SetPeers = %+v, want %+v", st.name, got, st.want)
		}
		if g := gobgpPeers(t, s); !slices.Equal(g, st.gobgp) {
			t.Errorf("%s: GoBGP's neighbours = %q, want %q", st.name, g, st.gobgp)
		}
		listed := []string{}
		for _, sess := range s.Sessions() {
			listed = append(listed, sess.Name+"@"+sess.Address.String())
		}
		if !slices.Equal(listed, st.listed) {
			t.Errorf("%s: Sessions() = %q, want %q", st.name, listed, st.listed)
		}
		if got := s.Announced(); !slices.Equal(got, []netip.Addr{vipA}) {
			t.Errorf("%s: Announced() = %v, want the VIP kept", st.name, got)
		}
	}
	if as, id := s.Global(); as != 65001 || id != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("Global() = %d, %v", as, id)
	}
	s.Stop()
	if _, err := s.SetPeers([]Peer{b}); !errors.Is(err, ErrStopped) {
		t.Errorf("SetPeers after Stop = %v, want ErrStopped", err)
	}
}
