package apitest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
	"lvs/sched"
)

// Daemon implements api.Daemon in memory over a real ipvs.Table that the
// test builds: it serves the table, counters and timeouts for the listing
// and transport tests, and records the edit batches it is sent without
// applying them. What an edit does is lvsd's (daemon/control.go) and is
// tested there, through the CLI and API, against lvsd's own
// control loop.
type Daemon struct {
	mu       sync.Mutex
	Table    *ipvs.Table
	timeouts admin.Timeouts
	Conns    []admin.ConnStatus
	Zeroed   []*ipvs.ServiceKey
	SaveErr  error
	HAState  admin.HAStatus
	Applied  [][]ipvsadm.Command // every batch Apply received
	ApplyErr error               // what Apply answers
}

// HA returns HAState, so that the API serves GET /v1/ha.
func (f *Daemon) HA() admin.HAStatus { return f.HAState }

// NewDaemon returns a Daemon serving table (an empty table with the real
// schedulers when nil) and ipvsadm's default timeouts.
func NewDaemon(t *testing.T, table *ipvs.Table) *Daemon {
	t.Helper()
	if table == nil {
		table = ipvs.NewTable(ipvs.NewRegistry(), sched.New)
	}
	return &Daemon{Table: table,
		timeouts: admin.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}}
}

// TableEdit is one step of building a fixture table with the ipvs API.
type TableEdit func(*ipvs.Table) (*ipvs.Table, error)

// AddService adds service k with scheduling sp.
func AddService(k ipvs.ServiceKey, sp ipvs.SchedSpec) TableEdit {
	return func(t *ipvs.Table) (*ipvs.Table, error) { return t.AddService(ipvs.ServiceSpec{Key: k, SchedSpec: sp}) }
}

// AddDest adds server d to service k.
func AddDest(k ipvs.ServiceKey, d ipvs.DestSpec) TableEdit {
	return func(t *ipvs.Table) (*ipvs.Table, error) { return t.AddDest(k, d) }
}

// BuildTable applies edits to an empty table with the real schedulers.
func BuildTable(t *testing.T, edits ...TableEdit) *ipvs.Table {
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

func (f *Daemon) Status() admin.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := admin.StatusFromTable(f.Table)
	st.Timeouts = f.timeouts
	return st
}

func (f *Daemon) Connections() []admin.ConnStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]admin.ConnStatus(nil), f.Conns...)
}

func (f *Daemon) Apply(ctx context.Context, cmds []ipvsadm.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Applied = append(f.Applied, cmds)
	if f.ApplyErr != nil {
		return f.ApplyErr
	}
	return ctx.Err()
}

func (f *Daemon) Zero(_ context.Context, svc *ipvs.ServiceKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if svc != nil && f.Table.Service(*svc) == nil {
		return ipvs.ErrNoService
	}
	for _, s := range f.Table.Services() {
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
	f.Zeroed = append(f.Zeroed, svc)
	return nil
}

func destCounters(s *ipvs.Service) []*ipvs.Counters {
	var out []*ipvs.Counters
	for _, d := range s.Dests {
		out = append(out, d.C)
	}
	return out
}

func (f *Daemon) SetTimeouts(_ context.Context, t admin.Timeouts) error {
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

func (f *Daemon) SaveConfig(context.Context) (string, error) {
	if f.SaveErr != nil {
		return "", f.SaveErr
	}
	return "/etc/sysconfig/ha/lvs.cf", nil
}

// Serve serves d's API on a unix socket in a temporary directory and
// returns the socket path; the server stops when the test ends.
func Serve(t *testing.T, d api.Daemon) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "lvsd.sock")
	l, err := api.Listen(path)
	if err != nil {
		t.Fatalf("Listen(%s): %v", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, l, d) }()
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
