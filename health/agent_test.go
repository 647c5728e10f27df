package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseAgent(t *testing.T) {
	tests := []struct {
		line string
		want Load
	}{
		{"up 75%\n", Load{State: AgentUp, Kind: LoadPercent, Value: 75}},
		{"ready,100%", Load{State: AgentUp, Kind: LoadPercent, Value: 100}},
		{"drain", Load{State: AgentDrain}},
		{"DOWN#disk full", Load{State: AgentDown, Detail: "disk full"}},
		{"maint", Load{State: AgentDown}},
		{"stopped # by ops", Load{State: AgentDown, Detail: "by ops"}},
		{"0%", Load{Kind: LoadPercent, Value: 0}},
		{"0.42", Load{Kind: LoadAverage, Value: float64(float32(0.42))}},
		{"up 1.50 maxconn:30", Load{State: AgentUp, Kind: LoadAverage, Value: 1.5}},
		{"hello", Load{Detail: `agent: no state or weight in "hello"`}},
		{"-5% inf 1e3", Load{Detail: `agent: no state or weight in "-5% inf 1e3"`}},
	}
	for _, tt := range tests {
		if got := parseAgent(tt.line); got != tt.want {
			t.Errorf("parseAgent(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func FuzzParseAgent(f *testing.F) {
	for _, s := range []string{"up 75%", "drain", "down#x", "0.42", "ready,maxconn:10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := parseAgent(s)
		if l.Value < 0 {
			t.Errorf("parseAgent(%q) = %+v: negative value", s, l)
		}
		if l.Kind == LoadNone && l.Value != 0 {
			t.Errorf("parseAgent(%q) = %+v: a value without a kind", s, l)
		}
	})
}

func TestAgentHTTP(t *testing.T) {
	var mu sync.Mutex
	status, body, path := http.StatusOK, "up 75%\n", ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		path = r.URL.RequestURI()
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	lc, err := NewLoadChecker(Spec{Addr: addr, LoadMonitor: "http://%h:%p/agent?port=%p"})
	if err != nil {
		t.Fatal(err)
	}
	load := func() Load {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return lc.Load(ctx)
	}
	if got, want := load(), (Load{State: AgentUp, Kind: LoadPercent, Value: 75}); got != want {
		t.Errorf("Load() = %+v, want %+v", got, want)
	}
	if want := "/agent?port=" + strings.Split(srv.Listener.Addr().String(), ":")[1]; path != want {
		t.Errorf("agent saw %q, want %q (%%h and %%p replaced)", path, want)
	}
	mu.Lock()
	status, body = http.StatusServiceUnavailable, "down"
	mu.Unlock()
	if got := load(); got.Kind != LoadNone || got.State != AgentNone || !strings.Contains(got.Detail, "HTTP 503") {
		t.Errorf("Load() on 503 = %+v, want no reading with the status", got)
	}
	srv.Close()
	if got := load(); got.Kind != LoadNone || !strings.Contains(got.Detail, "connection refused") {
		t.Errorf("Load() with the agent gone = %+v, want no reading, connection refused", got)
	}
	if _, err := NewLoadChecker(Spec{Addr: addr, LoadMonitor: "http://%h:bad port/"}); err == nil {
		t.Error("NewLoadChecker(bad URL) succeeded, want ErrSpec")
	}
}
