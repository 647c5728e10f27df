package bgp

import (
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSpeakerRoutes runs a speaker without peers (no sockets: it neither
// listens nor connects) and checks what it reports of its routes.
func TestSpeakerRoutes(t *testing.T) {
	s, err := NewSpeaker(Config{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1")}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	for _, r := range []Route{{VIP: vipA, Communities: []uint32{65000<<16 | 100}, MED: 5}, {VIP: vipB}} {
		if err := s.Announce(r); err != nil {
			t.Fatalf("Announce(%v): %v", r.VIP, err)
		}
	}
	if err := s.Withdraw(vipA); err != nil {
		t.Fatalf("Withdraw(%v): %v", vipA, err)
	}
	if err := s.Withdraw(netip.MustParseAddr("192.0.2.99")); err != nil {
		t.Errorf("Withdraw(a VIP never announced) = %v, want nil", err)
	}
	if err := s.Announce(Route{VIP: netip.MustParseAddr("2001:db8::1")}); err == nil {
		t.Errorf("Announce(an IPv6 VIP) = nil, want an error")
	}
	if got, want := s.Announced(), []netip.Addr{vipB}; !reflect.DeepEqual(got, want) {
		t.Errorf("Announced() = %v, want %v", got, want)
	}
	want := `
# HELP lvs_bgp_announced Whether the VIP's host route is announced (1) or withdrawn (0).
# TYPE lvs_bgp_announced gauge
lvs_bgp_announced{vip="192.0.2.10"} 0
lvs_bgp_announced{vip="192.0.2.11"} 1
# HELP lvs_bgp_updates_total Announcements and withdrawals handed to the BGP speaker.
# TYPE lvs_bgp_updates_total counter
lvs_bgp_updates_total{kind="announce"} 2
lvs_bgp_updates_total{kind="withdraw"} 1
`
	if err := testutil.CollectAndCompare(s.Collector(), strings.NewReader(want)); err != nil {
		t.Errorf("metrics: %v", err)
	}
	s.Forget(vipA)
	if n := testutil.CollectAndCount(s.Collector(), "lvs_bgp_announced"); n != 1 {
		t.Errorf("lvs_bgp_announced series after Forget = %d, want 1", n)
	}
	s.Stop()
	if err := s.Announce(Route{VIP: vipA}); !errors.Is(err, ErrStopped) {
		t.Errorf("Announce after Stop = %v, want ErrStopped", err)
	}
	if got := s.Announced(); len(got) != 0 {
		t.Errorf("Announced() after Stop = %v, want none", got)
	}
}

func TestNewSpeakerRefusesIPv6RouterID(t *testing.T) {
	if _, err := NewSpeaker(Config{LocalAS: 1, RouterID: netip.MustParseAddr("2001:db8::1")}, slog.New(slog.DiscardHandler), nil); err == nil {
		t.Fatal("NewSpeaker with an IPv6 router id: nil error")
	}
}
