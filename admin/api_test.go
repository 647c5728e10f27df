package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"lvs/ipvs"
	"lvs/sched"
)

// fakeDaemon implements Daemon in memory over a real ipvs.Table that the
// test builds: it serves the table, counters and timeouts for the listing
// and transport tests, and records the edit batches it is sent without
// applying them. What an edit does is lvsd's (daemon/control.go) and is
// tested there, through this package's CLI and API, against lvsd's own
// control loop.
type fakeDaemon struct {
	mu       sync.Mutex
	table    *ipvs.Table
	timeouts Timeouts
	conns    []ConnStatus
	zeroed   []*ipvs.ServiceKey
	saveErr  error
	ha       HAStatus
	applied  [][]Command // every batch Apply received
	applyErr error       // what Apply answers
}

func (f *fakeDaemon) HA() HAStatus { return f.ha }

func newFakeDaemon(t *testing.T, table *ipvs.Table) *fakeDaemon {
	t.Helper()
	if table == nil {
		table = ipvs.NewTable(ipvs.NewRegistry(), sched.New)
	}
	return &fakeDaemon{table: table,
		timeouts: Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}}
}

// tableEdit is one step of building a fixture table with the ipvs API.
type tableEdit func(*ipvs.Table) (*ipvs.Table, error)

func addService(k ipvs.ServiceKey, sp ipvs.SchedSpec) tableEdit {
	return func(t *ipvs.Table) (*ipvs.Table, error) { return t.AddService(ipvs.ServiceSpec{Key: k, SchedSpec: sp}) }
}

func addDest(k ipvs.ServiceKey, d ipvs.DestSpec) tableEdit {
	return func(t *ipvs.Table) (*ipvs.Table, error) { return t.AddDest(k, d) }
}

// buildTable applies edits to an empty table with the real schedulers.
func buildTable(t *testing.T, edits ...tableEdit) *ipvs.Table {
	t.Helper()
	tb := ipvs.NewTable(ipvs.NewRegistry(), sched.New)
	for i, e := range edits {
		next, err := e(tb)
		if err != nil {
			t.Fatalf("building the fixture table, step %d: %v", i+1, err)
		}
		tb = next
	}
	return tb
}

func (f *fakeDaemon) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := StatusFromTable(f.table)
	st.Timeouts = f.timeouts
	return st
}

func (f *fakeDaemon) Connections() []ConnStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ConnStatus(nil), f.conns...)
}

func (f *fakeDaemon) Apply(ctx context.Context, cmds []Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, cmds)
	if f.applyErr != nil {
		return f.applyErr
	}
	return ctx.Err()
}

func (f *fakeDaemon) Zero(_ context.Context, svc *ipvs.ServiceKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if svc != nil && f.table.Service(*svc) == nil {
		return ipvs.ErrNoService
	}
	for _, s := range f.table.Services() {
		if svc != nil && s.Key != *svc {
			continue
		}
		for _, c := range append([]*ipvs.Counters{s.C}, destCounters(s)...) {
			c.Conns.Store(0)
			c.InPkts.Store(0)
			c.OutPkts.Store(0)
			c.InBytes.Store(0)
			c.OutBytes.Store(0)
		}
	}
	f.zeroed = append(f.zeroed, svc)
	return nil
}

func destCounters(s *ipvs.Service) []*ipvs.Counters {
	var out []*ipvs.Counters
	for _, d := range s.Dests {
		out = append(out, d.C)
	}
	return out
}

func (f *fakeDaemon) SetTimeouts(_ context.Context, t Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.TCP > 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin > 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP > 0 {
		f.timeouts.UDP = t.UDP
	}
	return nil
}

func (f *fakeDaemon) SaveConfig(context.Context) (string, error) {
	if f.saveErr != nil {
		return "", f.saveErr
	}
	return "/etc/sysconfig/ha/lvs.cf", nil
}

// serveFake serves d's API on a unix socket in a temporary directory and
// returns the socket path; the server stops when the test ends.
func serveFake(t *testing.T, d Daemon) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "lvsd.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen(%s): %v", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, d) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind after Serve returned (stat: %v)", path, err)
		}
	})
	return path
}

func TestListenSocket(t *testing.T) {
	path := serveFake(t, newFakeDaemon(t, nil))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("socket mode = %o, want 600", got)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("socket directory: %v, mode %v; want 0755", err, fi.Mode().Perm())
	}
	if _, err := Listen(path); !errors.Is(err, ErrSocketInUse) {
		t.Errorf("second Listen(%s) = %v, want ErrSocketInUse", path, err)
	}
	// A stale socket (nobody listening) is replaced.
	stale := filepath.Join(filepath.Dir(path), "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	l2, err := Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
}

func TestAPIRoundTrip(t *testing.T) {
	d := newFakeDaemon(t, buildTable(t,
		addService(cmdWeb, ipvs.SchedSpec{SchedName: "wlc", Persistence: 300 * time.Second, PMaskBits: 32}),
		addDest(cmdWeb, ipvs.DestSpec{Addr: cmdRIP, Port: 80, Method: ipvs.Masq, Weight: 2})))
	d.conns = []ConnStatus{{Proto: "TCP", State: "ESTABLISHED", Expires: 897 * time.Second}}
	c := NewClient(serveFake(t, d))
	defer c.Close()
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services) != 1 || st.Services[0].Persistence != 300*time.Second || len(st.Services[0].Dests) != 1 ||
		st.Services[0].Dests[0].Forward != "Masq" || st.Services[0].Dests[0].Weight != 2 {
		t.Errorf("Status = %+v, want the persistent service with one Masq dest of weight 2", st)
	}
	// A batch reaches the daemon as lvsadm parsed it.
	var batch []Command
	for _, s := range []string{"-a -t 192.168.26.10:80 -r 10.11.12.2 -g -w 0 -x 9", "-E -f 80 -s sh -b sh-port -p 60 -M 255.255.0.0", "-C"} {
		cmd, err := ParseArgs(strings.Fields(s))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, cmd)
	}
	if err := c.Apply(ctx, batch); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(d.applied) != 1 || !reflect.DeepEqual(d.applied[0], batch) {
		t.Errorf("the daemon received %+v, want the batch %+v", d.applied, batch)
	}
	conns, err := c.Connections(ctx)
	if err != nil || len(conns) != 1 || conns[0].Expires != 897*time.Second {
		t.Errorf("Connections = %+v, %v", conns, err)
	}
	got, err := c.SetTimeouts(ctx, Timeouts{UDP: 60 * time.Second})
	if want := (Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: time.Minute}); err != nil || got != want {
		t.Errorf("SetTimeouts = %+v, %v; want %+v", got, err, want)
	}
	if tm, err := c.Timeouts(ctx); err != nil || tm.UDP != time.Minute {
		t.Errorf("Timeouts = %+v, %v", tm, err)
	}
	if err := c.Zero(ctx, &cmdWeb); err != nil || len(d.zeroed) != 1 || *d.zeroed[0] != cmdWeb {
		t.Errorf("Zero(web) = %v, zeroed %v", err, d.zeroed)
	}
	if err := c.Zero(ctx, nil); err != nil || d.zeroed[1] != nil {
		t.Errorf("Zero(all) = %v", err)
	}
	if p, err := c.SaveConfig(ctx); err != nil || p != "/etc/sysconfig/ha/lvs.cf" {
		t.Errorf("SaveConfig = %q, %v", p, err)
	}
}

// TestAPIErrors: a daemon's errors reach the client with their sentinel,
// the index of the failed command and ipvsadm's words. Which edit fails
// with which error is lvsd's, tested in daemon (TestLvsadmErrors).
func TestAPIErrors(t *testing.T) {
	d := newFakeDaemon(t, buildTable(t, addService(cmdWeb, ipvs.SchedSpec{SchedName: "wlc", PMaskBits: 32})))
	d.saveErr = errors.New("writing lvs.cf: read-only file system")
	c := NewClient(serveFake(t, d))
	defer c.Close()
	ctx := context.Background()
	parse := func(s string) Command {
		cmd, err := ParseArgs(strings.Fields(s))
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	tests := []struct {
		name      string
		cmds      []Command
		sentinel  error
		index     int
		ipvsadmsg string
	}{
		{"service exists", []Command{parse("-A -t 192.168.26.10:80")}, ipvs.ErrServiceExists, 0, "Service already exists"},
		{"edit missing service", []Command{parse("-E -t 192.168.26.10:81")}, ipvs.ErrNoService, 0, "No such service"},
		{"delete missing service", []Command{parse("-D -t 192.168.26.10:81")}, ipvs.ErrNoService, 0, "No such service"},
		{"server of missing service", []Command{parse("-a -t 192.168.26.10:81 -r 10.0.0.1")}, ipvs.ErrNoService, 0, "Service not defined"},
		{"dest exists", []Command{parse("-a -t 192.168.26.10:80 -r 10.11.12.1")}, ipvs.ErrDestExists, 0, "Destination already exists"},
		{"no dest", []Command{parse("-A -t 192.168.26.10:81"), parse("-d -t 192.168.26.10:80 -r 10.0.0.9")}, ipvs.ErrNoDest, 1, "No such destination"},
		{"edit no dest", []Command{parse("-e -t 192.168.26.10:80 -r 10.0.0.9 -w 3")}, ipvs.ErrNoDest, 0, "No such destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.applyErr = &CommandError{Index: tt.index, Cmd: tt.cmds[tt.index], Err: tt.sentinel}
			err := c.Apply(ctx, tt.cmds)
			var ae *APIError
			if !errors.As(err, &ae) || !errors.Is(err, tt.sentinel) || ae.Index != tt.index {
				t.Fatalf("Apply = %v, want an *APIError matching %v at index %d", err, tt.sentinel, tt.index)
			}
			if got := IpvsadmMessage(err, tt.cmds[tt.index].Kind); got != tt.ipvsadmsg {
				t.Errorf("IpvsadmMessage = %q, want %q", got, tt.ipvsadmsg)
			}
		})
	}
	d.applyErr = nil
	if err := c.Zero(ctx, &ipvs.ServiceKey{Proto: ipvs.UDP, Addr: cmdVIP, Port: 1}); !errors.Is(err, ipvs.ErrNoService) ||
		IpvsadmMessage(err, KindZero) != "No such service" {
		t.Errorf("Zero(missing) = %v", err)
	}
	if _, err := c.SaveConfig(ctx); err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("SaveConfig = %v, want the daemon's error", err)
	}
	list, _ := ParseArgs([]string{"-L"})
	var ae *APIError
	if err := c.Apply(ctx, []Command{list}); !errors.As(err, &ae) || ae.Code != CodeBadRequest || ae.Status != http.StatusBadRequest {
		t.Errorf("Apply(list) = %v, want a bad_request error", err)
	}
	if err := c.do(ctx, http.MethodGet, "/v2/status", nil, nil); !errors.As(err, &ae) || ae.Code != CodeNotFound {
		t.Errorf("GET /v2/status = %v, want not_found", err)
	}
	if err := c.do(ctx, http.MethodPost, PathCommand, map[string]int{"bogus": 1}, nil); !errors.As(err, &ae) || ae.Code != CodeBadRequest {
		t.Errorf("POST unknown field = %v, want bad_request", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lvsd.sock")
	_, err := NewClient(path).Status(context.Background())
	want := "cannot reach lvsd at " + path + ": is lvsd running? (connect: no such file or directory)"
	if err == nil || err.Error() != want {
		t.Errorf("Status on a missing socket = %v, want %q", err, want)
	}
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("error %T is not an *UnreachableError", err)
	}
	if NewClient("").Socket() != DefaultSocket {
		t.Errorf("NewClient(\"\") socket = %s, want %s", NewClient("").Socket(), DefaultSocket)
	}
}

func TestClientNonJSONAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "teapot", http.StatusTeapot)
	})}
	go srv.Serve(l)
	defer srv.Close()
	_, err = NewClient(path).Status(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusTeapot || !strings.Contains(ae.Message, "teapot") {
		t.Errorf("Status from a non-lvsd server = %v, want an APIError with its text", err)
	}
}

func TestErrorFor(t *testing.T) {
	tests := []struct {
		err  error
		code string
		idx  int
	}{
		{&CommandError{Index: 3, Err: ipvs.ErrServiceExists}, CodeServiceExists, 3},
		{ipvs.ErrBadWeight, CodeInvalid, -1},
		{ErrNoScheduler, CodeNoScheduler, -1},
		{context.Canceled, CodeUnavailable, -1},
		{errors.New("disk on fire"), CodeFailed, -1},
	}
	for _, tt := range tests {
		if got := errorFor(tt.err); got.Code != tt.code || got.Index != tt.idx {
			t.Errorf("errorFor(%v) = %s@%d, want %s@%d", tt.err, got.Code, got.Index, tt.code, tt.idx)
		}
	}
}
