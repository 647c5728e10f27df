package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/admin/ipvsadm"
	"lvs/config"
	"lvs/ipvs"
)

// siteCf is the test site: the guide's NAT example, one virtual server
// with two real servers.
const siteCf = `serial_no = 3
primary = 192.168.26.9
service = lvs
backup_active = 1
backup = 192.168.26.8
heartbeat = 1
heartbeat_port = 539
keepalive = 2
deadtime = 6
network = nat
nat_router = 10.11.12.10 eth1:1
nat_nmask = 255.255.255.0
virtual web {
     active = 1
     address = 192.168.26.10 eth0:1
     vip_nmask = 255.255.255.0
     port = 80
     send = "GET / HTTP/1.0\r\n\r\n"
     expect = "HTTP"
     scheduler = wlc
     protocol = tcp
     timeout = 6
     reentry = 15
     server web1 {
         address = 10.11.12.1
         active = 1
         weight = 1
     }
     server web2 {
         address = 10.11.12.2
         active = 1
         weight = 2
     }
}
`

// fakeBackend is lvsd as the tool sees it: lvs.cf in a file, a routing
// table derived from the running configuration, health states the test
// sets, and an event log.
type fakeBackend struct {
	path   string
	events *api.EventLog

	mu      sync.Mutex
	running *config.Config
	state   map[string]string // "virtual/server" → health state; default "up"
	latency time.Duration     // reported check latency; 0 = none
	conns   uint64            // cumulative connections of every dest
	applied int
	checked *config.Config // the configuration of the last CheckNow
	check   CheckResult
}

func newFakeBackend(t *testing.T, text string) *fakeBackend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lvs.cf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(path, strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the test site: %v", err)
	}
	return &fakeBackend{path: path, running: c, events: api.NewEventLog(64, nil), state: map[string]string{},
		check: CheckResult{OK: true, Latency: 3 * time.Millisecond}}
}

func (f *fakeBackend) file(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fakeBackend) setState(virtual, server, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[virtual+"/"+server] = state
}

func (f *fakeBackend) Config() (string, []byte, string, error) {
	b, err := os.ReadFile(f.path)
	return f.path, b, fmt.Sprintf("%x", b), err
}

func (f *fakeBackend) ApplyConfig(_ context.Context, text []byte, etag string) error {
	_, cur, cetag, err := f.Config()
	if err != nil {
		return err
	}
	_ = cur
	if cetag != etag {
		return fmt.Errorf("applying: %w", ErrConflict)
	}
	c, err := config.Parse(f.path, strings.NewReader(string(text)))
	if err != nil {
		return err
	}
	if err := config.ReplaceText(f.path, text); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = c
	f.applied++
	return nil
}

func (f *fakeBackend) CheckNow(_ context.Context, cfg *config.Config, virtual, server string) (CheckResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = cfg
	if v := cfg.Virtual(virtual); v == nil || v.Server(server) == nil {
		return CheckResult{}, errors.New("no such real server")
	}
	return f.check, nil
}

func (f *fakeBackend) Events() *api.EventLog { return f.events }

func (f *fakeBackend) Status() admin.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st admin.Status
	for _, v := range f.running.ActiveVirtuals() {
		svc := admin.ServiceStatus{Name: v.Name, Proto: strings.ToUpper(v.Protocol.String()), Addr: v.Address, Port: v.Port,
			Sched: v.Scheduler.String()}
		for _, s := range v.Servers {
			if !s.Active || f.state[v.Name+"/"+s.Name] == "down" {
				continue
			}
			svc.Dests = append(svc.Dests, admin.DestStatus{Addr: s.Address, Port: v.RealPort(s), Forward: "Masq",
				Weight: int32(s.Weight), Active: 2, Stats: admin.Counters{Conns: f.conns, InBytes: f.conns * 100}})
		}
		st.Services = append(st.Services, svc)
	}
	return st
}

func (f *fakeBackend) Health() []admin.HealthStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []admin.HealthStatus
	for _, v := range f.running.ActiveVirtuals() {
		for _, s := range v.Servers {
			if !s.Active {
				continue
			}
			st := f.state[v.Name+"/"+s.Name]
			if st == "" {
				st = "up"
			}
			out = append(out, admin.HealthStatus{Virtual: v.Name, Server: s.Name, Addr: netip.AddrPortFrom(s.Address, v.RealPort(s)),
				Check: "send_expect", State: st, Weight: s.Weight, Latency: f.latency})
		}
	}
	return out
}

func (f *fakeBackend) HA() admin.HAStatus {
	return admin.HAStatus{Role: "primary", State: "active", Peer: netip.MustParseAddr("192.168.26.8"), PeerAlive: true,
		Channels: []admin.HeartbeatChannel{{Channel: "public", Peer: netip.MustParseAddr("192.168.26.8"), Age: 1500 * time.Millisecond}}}
}

func (f *fakeBackend) Dataplane() admin.DataplaneStats                   { return admin.DataplaneStats{} }
func (f *fakeBackend) Conntrack() admin.ConntrackStats                   { return admin.ConntrackStats{} }
func (f *fakeBackend) Connections() []admin.ConnStatus                   { return nil }
func (f *fakeBackend) Apply(context.Context, []ipvsadm.Command) error    { return nil }
func (f *fakeBackend) Zero(context.Context, *ipvs.ServiceKey) error      { return nil }
func (f *fakeBackend) SetTimeouts(context.Context, admin.Timeouts) error { return nil }
func (f *fakeBackend) SaveConfig(context.Context) (string, error)        { return f.path, nil }

func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost // a login per test: keep them cheap
	os.Exit(m.Run())
}

// testPassword is the password the tests set.
const testPassword = "correct horse battery"

// fakeClock is an adjustable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a Server with a fake backend and a fake clock.
type harness struct {
	t     *testing.T
	s     *Server
	b     *fakeBackend
	clock *fakeClock
}

func newHarness(t *testing.T, opts ...func(*Options)) *harness {
	t.Helper()
	b := newFakeBackend(t, siteCf)
	pw := filepath.Join(t.TempDir(), "piranha.passwd")
	if err := SetPassword(pw, testPassword); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)}
	o := Options{Backend: b, PasswordFile: pw, Now: clock.now}
	for _, f := range opts {
		f(&o)
	}
	return &harness{t: t, s: New(o), b: b, clock: clock}
}

// do sends one request from addr (127.0.0.1 when "") with the session
// cookie, if any, and returns the response.
func (h *harness) do(method, target string, form url.Values, cookie string, hdr ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.RemoteAddr = "127.0.0.1:40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "RemoteAddr" {
			req.RemoteAddr = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	w := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(w, req)
	return w
}

// login logs in and returns the session cookie's value.
func (h *harness) login() string {
	h.t.Helper()
	w := h.do("POST", "/login", url.Values{"username": {User}, "password": {testPassword}}, "")
	if w.Code != http.StatusSeeOther {
		h.t.Fatalf("POST /login = %d %s, want 303", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			return c.Value
		}
	}
	h.t.Fatal("POST /login set no session cookie")
	return ""
}

// pending returns the number of staged edits of the session.
func (h *harness) pending(cookie string) int {
	n := 0
	h.s.sess.with(func() {
		if s := h.s.sess.all[cookie]; s != nil && s.stage != nil {
			n = len(s.stage.edits)
		}
	})
	return n
}
