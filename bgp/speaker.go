package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Config is what a Speaker needs: lvs.cf's bgp block with the router id
// resolved.
type Config struct {
	LocalAS  uint32
	RouterID netip.Addr // an IPv4 address, usually the director's own
	Peers    []Peer
	// ListenPort is the TCP port on which the speaker also accepts
	// sessions (179 is BGP's); 0 = it only connects out to its peers.
	ListenPort int
	// ConnectRetry is how long to wait before connecting to a peer again
	// after a failed attempt or a lost session; 0 = 2 s.
	ConnectRetry time.Duration
}

// Peer is one BGP neighbour.
type Peer struct {
	Name     string
	Address  netip.Addr
	RemoteAS uint32
	HoldTime time.Duration // 0: GoBGP's default (90 s)
	Password string        // TCP-MD5 key; "" = none
	Multihop int           // eBGP multihop TTL; 0 = directly connected
}

// Route is one VIP's host route and its optional attributes.
type Route struct {
	VIP         netip.Addr
	Communities []uint32 // RFC 1997 communities, AS<<16 | VALUE
	MED         uint32   // 0 = no MED attribute
}

// Session is the state of the BGP session with one peer.
type Session struct {
	Name    string
	Address netip.Addr
	State   string    // idle, connect, active, opensent, openconfirm, established
	Up      bool      // established
	Since   time.Time // of the last state change; zero until the first
	Reason  string    // why the last session ended, when GoBGP says
}

// ErrStopped is returned by a Speaker's methods after Stop.
var ErrStopped = errors.New("bgp speaker stopped")

// Speaker is an embedded GoBGP speaker announcing VIPs as /32 host routes
// with this director as next hop (GoBGP's next-hop-self for locally
// originated paths). Its methods are safe for concurrent use. It learns no
// routes: everything its peers send is rejected on import.
type Speaker struct {
	srv       *server.BgpServer
	log       *slog.Logger
	cancel    context.CancelFunc
	onSession func(Session)
	cfg       Config // as started; Peers follows SetPeers (peers.go)

	mu       sync.Mutex // guards the fields below
	sessions map[netip.Addr]*Session
	routes   map[netip.Addr]bool // VIP → announced (withdrawn VIPs stay, false, for the metrics)
	attrs    map[netip.Addr]Route
	updates  [2]uint64 // withdrawals, announcements sent to GoBGP
	stopped  bool
}

// fsmNames are GoBGP's session states in lowercase.
var fsmNames = map[gobgp.FSMState]string{
	gobgp.BGP_FSM_IDLE: "idle", gobgp.BGP_FSM_CONNECT: "connect", gobgp.BGP_FSM_ACTIVE: "active",
	gobgp.BGP_FSM_OPENSENT: "opensent", gobgp.BGP_FSM_OPENCONFIRM: "openconfirm", gobgp.BGP_FSM_ESTABLISHED: "established",
}

// NewSpeaker starts a GoBGP server with cfg's global settings and peers.
// onSession, if not nil, is called (from GoBGP's event goroutine) on every
// session state change. GoBGP logs at warning level and above through log.
func NewSpeaker(cfg Config, log *slog.Logger, onSession func(Session)) (*Speaker, error) {
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("bgp router id %v: expected an IPv4 address", cfg.RouterID)
	}
	if cfg.ConnectRetry <= 0 {
		cfg.ConnectRetry = 2 * time.Second
	}
	lvl := &slog.LevelVar{}
	lvl.Set(slog.LevelWarn)
	quiet := slog.New(levelHandler{log.Handler(), lvl}).With("component", "gobgp")
	srv := server.NewBgpServer(server.LoggerOption(quiet, lvl))
	go srv.Serve()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Speaker{srv: srv, log: log, cancel: cancel, onSession: onSession, cfg: cfg,
		sessions: map[netip.Addr]*Session{}, routes: map[netip.Addr]bool{}, attrs: map[netip.Addr]Route{}}
	port := int32(-1) // GoBGP: do not listen
	if cfg.ListenPort > 0 {
		port = int32(cfg.ListenPort)
	}
	fail := func(err error) (*Speaker, error) {
		cancel()
		srv.Stop()
		return nil, err
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.LocalAS, RouterId: cfg.RouterID.String(), ListenPort: port,
	}}); err != nil {
		return fail(fmt.Errorf("starting bgp (as %d, router id %v): %w", cfg.LocalAS, cfg.RouterID, err))
	}
	// Learn nothing: lvsd only announces. The global import policy sees
	// local paths too, so it accepts those and rejects the rest.
	local := &api.Policy{Name: "lvs-local-only", Statements: []*api.Statement{{Name: "lvs-accept-local",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT}}}}
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: local}); err != nil {
		return fail(fmt.Errorf("defining the bgp import policy: %w", err))
	}
	if err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_IMPORT,
		Policies: []*api.Policy{{Name: local.Name}}, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}}); err != nil {
		return fail(fmt.Errorf("setting the bgp import policy: %w", err))
	}
	if err := srv.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnPeerUpdate: s.peerEvent}, server.WatchPeer()); err != nil {
		return fail(fmt.Errorf("watching bgp sessions: %w", err))
	}
	for _, p := range cfg.Peers {
		s.mu.Lock()
		s.sessions[p.Address] = &Session{Name: p.Name, Address: p.Address, State: "idle"}
		s.mu.Unlock()
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, cfg.ConnectRetry)}); err != nil {
			return fail(fmt.Errorf("adding bgp peer %s (%v): %w", p.Name, p.Address, err))
		}
	}
	return s, nil
}

// apiPeer is GoBGP's form of p.
func apiPeer(p Peer, retry time.Duration) *api.Peer {
	secs := func(d time.Duration) uint64 { return uint64((d + time.Second - 1) / time.Second) }
	timers := &api.TimersConfig{ConnectRetry: secs(retry), IdleHoldTimeAfterReset: secs(retry)}
	if p.HoldTime > 0 {
		timers.HoldTime = secs(p.HoldTime)
		timers.KeepaliveInterval = max(1, timers.HoldTime/3)
	}
	out := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.RemoteAS,
			AuthPassword: p.Password, Description: p.Name},
		Timers: &api.Timers{Config: timers},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{
			Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}},
	}
	if p.Multihop > 0 {
		out.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	return out
}

// peerEvent records a session state change.
func (s *Speaker) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	s.mu.Lock()
	sess, ok := s.sessions[st.NeighborAddress]
	if !ok || s.stopped {
		s.mu.Unlock()
		return
	}
	name := fsmNames[st.SessionState]
	if name == sess.State {
		s.mu.Unlock()
		return
	}
	sess.State, sess.Up, sess.Since = name, st.SessionState == gobgp.BGP_FSM_ESTABLISHED, at
	if st.DisconnectMessage != "" {
		sess.Reason = st.DisconnectMessage
	}
	cp := *sess
	s.mu.Unlock()
	s.log.Info("bgp session", "peer", cp.Name, "address", cp.Address, "state", cp.State)
	if s.onSession != nil {
		s.onSession(cp)
	}
}

// path is GoBGP's form of r: origin IGP, next hop 0.0.0.0 (GoBGP puts the
// session's local address there), communities and MED when set.
func path(r Route, withdraw bool) (*apiutil.Path, error) {
	nlri, err := gobgp.NewIPAddrPrefix(netip.PrefixFrom(r.VIP, 32))
	if err != nil {
		return nil, err
	}
	nh, err := gobgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
	if err != nil {
		return nil, err
	}
	attrs := []gobgp.PathAttributeInterface{gobgp.NewPathAttributeOrigin(gobgp.BGP_ORIGIN_ATTR_TYPE_IGP), nh}
	if len(r.Communities) > 0 {
		attrs = append(attrs, gobgp.NewPathAttributeCommunities(r.Communities))
	}
	if r.MED != 0 {
		attrs = append(attrs, gobgp.NewPathAttributeMultiExitDisc(r.MED))
	}
	return &apiutil.Path{Family: gobgp.RF_IPv4_UC, Nlri: nlri, Attrs: attrs, Withdrawal: withdraw}, nil
}

// Announce announces r's VIP to every peer (again, with new attributes,
// when it is already announced).
func (s *Speaker) Announce(r Route) error {
	if !r.VIP.Is4() {
		return fmt.Errorf("announcing %v: only IPv4 VIPs", r.VIP)
	}
	p, err := path(r, false)
	if err != nil {
		return fmt.Errorf("announcing %v: %w", r.VIP, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if _, err := s.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("announcing %v: %w", r.VIP, err)
	}
	s.routes[r.VIP], s.attrs[r.VIP] = true, r
	s.updates[1]++
	return nil
}

// Withdraw withdraws vip's route from every peer. Withdrawing a VIP that
// is not announced does nothing.
func (s *Speaker) Withdraw(vip netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if !s.routes[vip] {
		return nil
	}
	p, err := path(s.attrs[vip], true)
	if err != nil {
		return fmt.Errorf("withdrawing %v: %w", vip, err)
	}
	if err := s.srv.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("withdrawing %v: %w", vip, err)
	}
	s.routes[vip] = false
	delete(s.attrs, vip)
	s.updates[0]++
	return nil
}

// Forget drops a withdrawn VIP from the metrics (it left lvs.cf).
func (s *Speaker) Forget(vip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.routes[vip] {
		delete(s.routes, vip)
	}
}

// Stop closes every session (with a Cease notification, so the peers drop
// the routes at once) and stops the server. It is safe to call twice.
func (s *Speaker) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	for _, sess := range s.sessions {
		sess.State, sess.Up = "idle", false
	}
	for vip := range s.routes {
		s.routes[vip] = false
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.StopBgp(ctx, &api.StopBgpRequest{}); err != nil {
		s.log.Warn("stopping bgp", "err", err)
	}
	s.cancel()
	s.srv.Stop()
}

// Sessions returns the state of every peer's session, in configuration order
// of addresses.
func (s *Speaker) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, *sess)
	}
	slices.SortFunc(out, func(a, b Session) int { return a.Address.Compare(b.Address) })
	return out
}

// Announced returns the VIPs announced now, in order.
func (s *Speaker) Announced() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.Addr
	for vip, on := range s.routes {
		if on {
			out = append(out, vip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// AdvertisedTo returns the VIPs GoBGP has sent to the peer at address (its
// Adj-RIB-Out), in order: what the peer was told, not what lvsd asked.
func (s *Speaker) AdvertisedTo(peer netip.Addr) ([]netip.Addr, error) {
	var out []netip.Addr
	err := s.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_ADJ_OUT, Name: peer.String(), Family: gobgp.RF_IPv4_UC},
		func(prefix gobgp.NLRI, _ []*apiutil.Path) {
			if p, err := netip.ParsePrefix(prefix.String()); err == nil && p.Bits() == 32 {
				out = append(out, p.Addr())
			}
		})
	slices.SortFunc(out, netip.Addr.Compare)
	return out, err
}

// levelHandler passes on records at or above its level only (GoBGP logs
// every session step at info level).
type levelHandler struct {
	slog.Handler
	min slog.Leveler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{h.Handler.WithAttrs(as), h.min}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{h.Handler.WithGroup(name), h.min}
}
