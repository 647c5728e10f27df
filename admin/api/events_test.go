package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/admintest"
)

func TestEventLines(t *testing.T) {
	vip := netip.MustParseAddr("192.168.26.10")
	web := VirtualAddr{Proto: "TCP", Addr: vip, Port: 80}
	tests := []struct {
		name, got, want string
	}{
		{"vs up", VSLine(web, true), "VS [192.168.26.10]:tcp:80 UP"},
		{"vs down udp", VSLine(VirtualAddr{Proto: "udp", Addr: vip, Port: 53}, false), "VS [192.168.26.10]:udp:53 DOWN"},
		{"vs fwmark", VSLine(VirtualAddr{FWMark: 80}, true), "VS FWM 80 UP"},
		{"vs ipv6", VSLine(VirtualAddr{Proto: "TCP", Addr: netip.MustParseAddr("2001:db8::10"), Port: 443}, true),
			"VS [2001:db8::10]:tcp:443 UP"},
		{"rs down", RSLine(netip.MustParseAddrPort("10.11.12.1:80"), web, false),
			"RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN"},
		{"rs of fwmark service", RSLine(netip.MustParseAddrPort("10.11.12.4:21"), VirtualAddr{FWMark: 21}, true),
			"RS [10.11.12.4]:tcp:21 FWM 21 UP"},
		{"role master", RoleLine("lvs", admin.HAStatus{Role: "primary", State: "active"}), `INSTANCE "lvs" MASTER 100`},
		{"role backup", RoleLine("lvs", admin.HAStatus{Role: "backup", State: "standby"}), `INSTANCE "lvs" BACKUP 50`},
		{"role fault", RoleLine("lvs", admin.HAStatus{Role: "backup", State: "standby", Faults: []string{"link"}}), `INSTANCE "lvs" FAULT 50`},
		{"role stop", RoleLine("lvs", admin.HAStatus{Role: "primary", State: "stopping"}), `INSTANCE "lvs" STOP 100`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestVirtualOf(t *testing.T) {
	st := admintest.SampleStatus(t)
	var got []string
	for _, s := range st.Services {
		got = append(got, VirtualOf(s).String())
	}
	want := "FWM 80,[192.168.26.10]:udp:53,[192.168.26.10]:tcp:80"
	if strings.Join(got, ",") != want {
		t.Errorf("VirtualOf names = %s, want %s", strings.Join(got, ","), want)
	}
}

// fixedClock returns a clock that says t0 and then one second later each call.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// next reads one event or fails the test after a second.
func next(t *testing.T, s *Subscription) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ev, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

func TestEventLogDelivers(t *testing.T) {
	l := NewEventLog(8, fixedClock())
	a, b := l.Subscribe(4), l.Subscribe(4)
	e1 := l.Publish("VS [192.168.26.10]:tcp:80 UP")
	l.Publish("two\nlines")
	for _, s := range []*Subscription{a, b} {
		if got := next(t, s); got != e1 || got.Seq != 1 || got.Time.IsZero() {
			t.Errorf("first event = %+v, want %+v", got, e1)
		}
		if got := next(t, s); got.Line != "two lines" || got.Seq != 2 {
			t.Errorf("second event = %+v, want seq 2 %q", got, "two lines")
		}
	}
	b.Close()
	l.Publish("after b closed")
	if got := next(t, a); got.Line != "after b closed" {
		t.Errorf("a got %q", got.Line)
	}
	if _, err := b.Next(context.Background()); !errors.Is(err, ErrEventsClosed) {
		t.Errorf("Next on a closed subscription = %v, want ErrEventsClosed", err)
	}
}

// TestEventLogSlowSubscriber checks that a reader that falls behind loses
// the oldest events, is told how many, and never holds up the publisher.
func TestEventLogSlowSubscriber(t *testing.T) {
	l := NewEventLog(0, fixedClock())
	slow := l.Subscribe(2)
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 10000; i++ {
			l.Publish(fmt.Sprintf("event %d", i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	if got := next(t, slow); got.Line != "lost 9998 events" || got.Lost != 9998 || got.Seq != 0 {
		t.Errorf("first read = %+v, want the notice of 9998 lost events", got)
	}
	for _, want := range []string{"event 9999", "event 10000"} {
		if got := next(t, slow); got.Line != want {
			t.Errorf("read %q, want %q", got.Line, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if ev, err := slow.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next on an empty subscription = %+v, %v; want a timeout", ev, err)
	}
}

func TestEventLogHistory(t *testing.T) {
	l := NewEventLog(3, fixedClock())
	for i := 1; i <= 5; i++ {
		l.Publish(fmt.Sprintf("e%d", i))
	}
	var got []string
	for _, ev := range l.Recent() {
		got = append(got, fmt.Sprintf("%d:%s", ev.Seq, ev.Line))
	}
	if strings.Join(got, " ") != "3:e3 4:e4 5:e5" {
		t.Errorf("Recent = %v, want the last three", got)
	}
	tests := []struct {
		name  string
		after uint64
		want  []string
	}{
		{"all kept", 2, []string{"e3", "e4", "e5"}},
		{"some", 4, []string{"e5"}},
		{"older than history", 0, []string{"lost 2 events", "e3", "e4", "e5"}},
		{"up to date", 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := l.SubscribeAfter(8, tt.after)
			defer s.Close()
			var got []string
			for range tt.want {
				got = append(got, next(t, s).Line)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("SubscribeAfter(%d) replayed %v, want %v", tt.after, got, tt.want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			defer cancel()
			if ev, err := s.Next(ctx); err == nil {
				t.Errorf("extra event replayed: %+v", ev)
			}
		})
	}
}

func TestEventLogClose(t *testing.T) {
	l := NewEventLog(2, nil)
	s := l.Subscribe(4)
	l.Publish("last")
	l.Close()
	if ev := l.Publish("ignored"); ev.Seq != 0 {
		t.Errorf("Publish after Close = %+v, want nothing", ev)
	}
	if got := next(t, s); got.Line != "last" {
		t.Errorf("buffered event lost at Close: got %q", got.Line)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrEventsClosed) {
		t.Errorf("Next after Close = %v, want ErrEventsClosed", err)
	}
	if _, err := l.Subscribe(1).Next(context.Background()); !errors.Is(err, ErrEventsClosed) {
		t.Errorf("Next on a subscription to a closed log = %v, want ErrEventsClosed", err)
	}
}

// TestEventLogConcurrent runs publishers and readers together (go test -race).
func TestEventLogConcurrent(t *testing.T) {
	l := NewEventLog(16, nil)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counts := make([]int, 4)
	for r := range counts {
		s := l.Subscribe(1024)
		wg.Go(func() {
			for {
				ev, err := s.Next(ctx)
				if err != nil {
					return
				}
				if ev.Lost > 0 {
					counts[r] += int(ev.Lost)
				} else {
					counts[r]++
				}
			}
		})
	}
	var pub sync.WaitGroup
	for p := 0; p < 4; p++ {
		pub.Go(func() {
			for i := 0; i < 500; i++ {
				l.Publish("x")
				_ = l.Recent()
			}
		})
	}
	pub.Wait()
	l.Close()
	wg.Wait()
	for r, n := range counts {
		if n != 2000 {
			t.Errorf("reader %d accounted for %d events, want 2000 (read or reported lost)", r, n)
		}
	}
}

// stream opens the events endpoint and returns a line reader.
func stream(t *testing.T, url string, header map[string]string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

func readLines(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
	return out
}

func TestEventsHandler(t *testing.T) {
	l := NewEventLog(8, nil)
	l.Publish("old 1")
	l.Publish("old 2")
	srv := httptest.NewServer(&EventsHandler{Log: l, KeepAlive: 50 * time.Millisecond})
	defer srv.Close()
	defer l.Close() // ends the streams before srv.Close waits for them

	plain, pr := stream(t, srv.URL, nil)
	sse, sr := stream(t, srv.URL, map[string]string{"Accept": "text/event-stream"})
	resumed, rr := stream(t, srv.URL+"?format=sse", map[string]string{"Last-Event-ID": "1"})
	if ct := plain.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("plain Content-Type = %q", ct)
	}
	for _, r := range []*http.Response{sse, resumed} {
		if ct := r.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("SSE Content-Type = %q", ct)
		}
	}
	l.Publish("RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN")
	if got := readLines(t, pr, 1); got[0] != "RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN" {
		t.Errorf("plain stream = %q", got)
	}
	want := "id: 3|data: RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN|"
	if got := strings.Join(readLines(t, sr, 3), "|"); got != want {
		t.Errorf("SSE stream = %q, want %q", got, want)
	}
	want = "id: 2|data: old 2||id: 3|data: RS [10.11.12.1]:tcp:80 [192.168.26.10]:tcp:80 DOWN|"
	if got := strings.Join(readLines(t, rr, 6), "|"); got != want {
		t.Errorf("resumed SSE stream = %q, want %q", got, want)
	}
	// An idle SSE stream gets keep-alive comments.
	if got := readLines(t, sr, 2); got[0] != ": keep-alive" {
		t.Errorf("idle SSE stream sent %q, want a keep-alive comment", got)
	}
}

func TestEventsHandlerLoss(t *testing.T) {
	l := NewEventLog(1, nil)
	for _, line := range []string{"a", "b", "c"} {
		l.Publish(line)
	}
	srv := httptest.NewServer(&EventsHandler{Log: l})
	defer srv.Close()
	defer l.Close()
	// Resuming after event 0 with one event kept: two are lost.
	_, sr := stream(t, srv.URL+"?format=sse&after=0", nil)
	want := "event: lost|data: lost 2 events||id: 3|data: c|"
	if got := strings.Join(readLines(t, sr, 6), "|"); got != want {
		t.Errorf("SSE after a loss = %q, want %q", got, want)
	}
	_, pr := stream(t, srv.URL+"?after=0", nil)
	if got := strings.Join(readLines(t, pr, 2), "|"); got != "lost 2 events|c" {
		t.Errorf("plain stream after a loss = %q, want %q", got, "lost 2 events|c")
	}
}

func TestEventsHandlerBadResume(t *testing.T) {
	srv := httptest.NewServer(&EventsHandler{Log: NewEventLog(1, nil)})
	defer srv.Close()
	resp, err := http.Get(srv.URL + "?after=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("?after=x: %s, want 400", resp.Status)
	}
}
