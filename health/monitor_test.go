package health

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	t0   = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	rip1 = netip.MustParseAddrPort("10.11.12.1:80")
	rip2 = netip.MustParseAddrPort("10.11.12.2:80")
	up   = Result{OK: true}
	down = Result{Reason: "connection failure (connection refused)"}
)

// stepper drives a Monitor with a fake clock that advances one timeout per
// check, as the Runner would.
type stepper struct {
	t   *testing.T
	m   *Monitor
	now time.Time
	dt  time.Duration
}

func newStepper(t *testing.T, s Spec) *stepper {
	if s.Addr == (netip.AddrPort{}) {
		s.Addr = rip1
	}
	return &stepper{t: t, m: NewMonitor(s), now: t0, dt: s.timeout()}
}

func (s *stepper) step(r Result) (State, []Action) {
	st, acts := s.m.Step(s.now, r)
	s.now = s.now.Add(s.dt)
	return st, acts
}

// acts renders actions compactly: "add 2", "set 4", "remove", "notice".
func acts(as []Action) string {
	var out []string
	for _, a := range as {
		switch a.Kind {
		case ActAdd:
			out = append(out, fmt.Sprintf("add %d", a.Weight))
		case ActSetWeight:
			out = append(out, fmt.Sprintf("set %d", a.Weight))
		default:
			out = append(out, a.Kind.String())
		}
	}
	return strings.Join(out, ",")
}

// expectStep steps once and checks the state and the actions.
func (s *stepper) expectStep(r Result, wantState State, wantActs string) []Action {
	s.t.Helper()
	st, as := s.step(r)
	if st != wantState || acts(as) != wantActs {
		s.t.Fatalf("Step(%+v) at %v = %v, [%s]; want %v, [%s]", r, s.now.Add(-s.dt).Sub(t0), st, acts(as), wantState, wantActs)
	}
	return as
}

func TestMonitorFirstSuccessEntersAtOnce(t *testing.T) {
	for _, tt := range []struct{ weight, w0 int }{{1, 1}, {10, 1}, {31, 1}, {32, 1}, {64, 2}, {100, 3}, {0, 1}} {
		s := newStepper(t, Spec{Weight: tt.weight})
		as := s.expectStep(up, StateUp, fmt.Sprintf("add %d", tt.w0))
		if want := "[ active ] making 10.11.12.1:80 available"; as[0].Msg != want {
			t.Errorf("weight %d: message %q, want %q", tt.weight, as[0].Msg, want)
		}
		if got := s.m.Weight(); got != tt.w0 {
			t.Errorf("weight %d: Weight() = %d, want max(1, weight>>5) = %d", tt.weight, got, tt.w0)
		}
	}
}

func TestMonitorSingleFailureRemoves(t *testing.T) {
	s := newStepper(t, Spec{Weight: 1, Addr: rip2})
	s.expectStep(up, StateUp, "add 1")
	as := s.expectStep(down, StateDown, "remove")
	want := "[inactive] shutting down 10.11.12.2:80 due to connection failure (connection refused)"
	if as[0].Msg != want {
		t.Errorf("message %q, want %q", as[0].Msg, want)
	}
	mismatch := Result{Reason: `expect mismatch: got "HTTP/1.0 500"`}
	s.expectStep(up, StateDown, "") // re-entry needs 18 successes now
	if st := s.m.Status(); st.Reason != down.Reason || st.Since != t0.Add(10*time.Second) {
		t.Errorf("Status() = %+v, want the failure's reason and time", st)
	}
	s = newStepper(t, Spec{Weight: 1, Addr: rip2})
	s.expectStep(up, StateUp, "add 1")
	as = s.expectStep(mismatch, StateDown, "remove")
	if want := `[inactive] shutting down 10.11.12.2:80 due to expect mismatch: got "HTTP/1.0 500"`; as[0].Msg != want {
		t.Errorf("message %q, want %q", as[0].Msg, want)
	}
	s = newStepper(t, Spec{Weight: 1})
	as = s.expectStep(Result{}, StateDown, "notice")
	if want := "[inactive] 10.11.12.1:80 is not available: connection failure"; as[0].Msg != want {
		t.Errorf("first failure message %q, want %q", as[0].Msg, want)
	}
	s.expectStep(Result{}, StateDown, "") // logged once
}

func TestMonitorReentry(t *testing.T) {
	tests := []struct {
		timeout, reentry time.Duration
		thresh           int
	}{
		{10 * time.Second, 180 * time.Second, 18}, // defaults
		{6 * time.Second, 15 * time.Second, 2},    // the sample lvs.cf: 15/6 = 2
		{7 * time.Second, 20 * time.Second, 2},    // integer division
		{10 * time.Second, 5 * time.Second, 0},    // reentry < timeout: at once
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.timeout, "/", tt.reentry), func(t *testing.T) {
			s := newStepper(t, Spec{Weight: 1, Timeout: tt.timeout, Reentry: tt.reentry})
			s.expectStep(up, StateUp, "add 1")
			s.expectStep(down, StateDown, "remove")
			// A failure in the middle of the count starts it again.
			for range tt.thresh - 1 {
				s.expectStep(up, StateDown, "")
			}
			if tt.thresh > 0 {
				s.expectStep(down, StateDown, "")
			}
			for range tt.thresh - 1 {
				s.expectStep(up, StateDown, "")
			}
			s.expectStep(up, StateUp, "add 1")
		})
	}
	// Defaults come from a zero Spec.
	if m := NewMonitor(Spec{}); m.thresh != 18 || m.every != 2 {
		t.Errorf("NewMonitor(Spec{}) thresh %d every %d, want 18 and 2", m.thresh, m.every)
	}
}

func TestMonitorRamp(t *testing.T) {
	tests := []struct {
		name             string
		weight           int
		timeout, reentry time.Duration
		want             []string // actions of successive successful steps
	}{
		// timeout 10: every 20/10 = 2 checks; the count is 19 at entry.
		{"timeout 10", 64, 10 * time.Second, 180 * time.Second,
			[]string{"add 2", "set 4", "", "set 8", "", "set 16", "", "set 32", "", "set 64", "", "", ""}},
		// timeout 6, reentry 15 (the sample): thresh 2, every 3; the count
		// is 3 at entry, so nanny doubled in the entering cycle too.
		{"timeout 6", 100, 6 * time.Second, 15 * time.Second,
			[]string{"add 3,set 6", "", "", "set 12", "", "", "set 24", "", "", "set 48", "", "", "set 96", "", "", "set 100", "", "", ""}},
		// timeout > 20: every check.
		{"timeout 30", 10, 30 * time.Second, 180 * time.Second,
			[]string{"add 1,set 2", "set 4", "set 8", "set 10", ""}},
		// timeout 15: 20/15 = 1, every check as well.
		{"timeout 15", 5, 15 * time.Second, 180 * time.Second,
			[]string{"add 1,set 2", "set 4", "set 5", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStepper(t, Spec{Weight: tt.weight, Timeout: tt.timeout, Reentry: tt.reentry})
			for i, w := range tt.want {
				_, as := s.step(up)
				if got := acts(as); got != w {
					t.Fatalf("check %d: actions [%s], want [%s]", i+1, got, w)
				}
			}
		})
	}
	s := newStepper(t, Spec{Weight: 64})
	s.step(up)
	_, as := s.step(up)
	if want := "[ active ] adjusting weight of 10.11.12.1:80 to 4 (slow start)"; as[0].Msg != want {
		t.Errorf("ramp message %q, want %q", as[0].Msg, want)
	}
}

// TestMonitorRampAfterReentry checks that a server coming back ramps from
// w0 again.
func TestMonitorRampAfterReentry(t *testing.T) {
	s := newStepper(t, Spec{Weight: 64, Timeout: 10 * time.Second, Reentry: 20 * time.Second})
	for range 12 {
		s.step(up)
	}
	if s.m.Weight() != 64 {
		t.Fatalf("Weight() = %d after the ramp, want 64", s.m.Weight())
	}
	s.expectStep(down, StateDown, "remove")
	s.expectStep(up, StateDown, "")
	s.expectStep(up, StateUp, "add 2,set 4") // count 2: thresh reached, 2%2 == 0
	s.expectStep(up, StateUp, "")
	s.expectStep(up, StateUp, "set 8")
}

func TestMonitorQuiesce(t *testing.T) {
	s := newStepper(t, Spec{Weight: 1, Quiesce: true, Timeout: 10 * time.Second, Reentry: 20 * time.Second})
	// Never in the table: the first success adds.
	s.expectStep(down, StateDown, "notice")
	s.expectStep(up, StateDown, "")
	s.expectStep(up, StateUp, "add 1")
	// A failure keeps it with weight 0.
	as := s.expectStep(down, StateQuiesced, "set 0")
	if !strings.HasPrefix(as[0].Msg, "[inactive] shutting down 10.11.12.1:80 due to") {
		t.Errorf("quiesce message %q", as[0].Msg)
	}
	if st := s.m.Status(); st.Weight != 0 || st.State != StateQuiesced {
		t.Errorf("Status() = %+v, want quiesced with weight 0", st)
	}
	s.expectStep(down, StateQuiesced, "")
	s.expectStep(up, StateQuiesced, "")
	// Re-entry edits the weight of the entry that stayed (ipvsadm -e).
	s.expectStep(up, StateUp, "set 1")
}

func TestMonitorForce(t *testing.T) {
	s := newStepper(t, Spec{Weight: 64, Quiesce: true})
	s.expectStep(up, StateUp, "add 2")

	st, as := s.m.Force(s.now, AdminDown)
	if st != StateDown || acts(as) != "remove" || !strings.Contains(as[0].Msg, "opaque glasses on") {
		t.Fatalf("Force(down) = %v, %+v; want down, a removal (even with quiesce)", st, as)
	}
	if st, as := s.m.Force(s.now, AdminDown); st != StateDown || as != nil {
		t.Errorf("Force(down) again = %v, %+v; want no change", st, as)
	}
	s.expectStep(up, StateDown, "") // no checking while forced
	if s.m.WantLoad() {
		t.Error("WantLoad() while forced down")
	}

	st, as = s.m.Force(s.now, AdminUp)
	if st != StateUp || acts(as) != "add 64" || !strings.Contains(as[0].Msg, "rose-colored glasses on") {
		t.Fatalf("Force(up) = %v, %+v; want up, added at the full weight", st, as)
	}
	s.expectStep(down, StateUp, "") // no checking while forced

	st, as = s.m.Force(s.now, AdminNormal)
	if st != StateUp || acts(as) != "notice" {
		t.Fatalf("Force(normal) = %v, %+v; want up, a notice", st, as)
	}
	// Back to normal: the next failure counts at once (quiesce applies again).
	s.expectStep(down, StateQuiesced, "set 0")
	// Forced up while quiesced: the entry exists, so its weight is set.
	if st, as = s.m.Force(s.now, AdminUp); st != StateUp || acts(as) != "set 64" {
		t.Fatalf("Force(up) when quiesced = %v, [%s]; want up, set 64", st, acts(as))
	}
	s.m.Force(s.now, AdminNormal)
	// The count is at countThresh: after a failure and a forced period the
	// next success would enter at once; here the server is up, and ramped.
	s.expectStep(up, StateUp, "")
	if s.m.Weight() != 64 {
		t.Errorf("Weight() = %d after forced up, want 64", s.m.Weight())
	}

	// Back to normal after forced down: the first success enters at once.
	s = newStepper(t, Spec{Weight: 1})
	s.expectStep(down, StateDown, "notice")
	s.m.Force(s.now, AdminDown)
	s.m.Force(s.now, AdminNormal)
	s.expectStep(up, StateUp, "add 1")
}

func TestMonitorLoad(t *testing.T) {
	avg := func(l float64) Result { return Result{OK: true, Load: Load{Kind: LoadAverage, Value: l}} }
	s := newStepper(t, Spec{Weight: 10, LoadMonitor: "uptime"})
	var want []bool
	var got []bool
	// Ramp: 1 → 2 → 4 → 8 → 10 on even counts; the load is only wanted
	// once the ramp is done and an adjustment is due.
	for range 9 {
		got = append(got, s.m.WantLoad())
		s.step(up)
	}
	want = []bool{false, false, false, false, false, false, false, false, false}
	if !reflect.DeepEqual(got, want) || s.m.Weight() != 10 {
		t.Fatalf("WantLoad during the ramp = %v, weight %d; want %v, 10", got, s.m.Weight(), want)
	}
	if !s.m.WantLoad() {
		t.Fatal("WantLoad() = false when an adjustment is due after the ramp")
	}
	as := s.expectStep(avg(0), StateUp, "set 15")
	if want := "[ active ] adjusting weight of 10.11.12.1:80 to 15 (load 0.00)"; as[0].Msg != want {
		t.Errorf("load message %q, want %q", as[0].Msg, want)
	}
	if s.m.WantLoad() {
		t.Error("WantLoad() = true on a check with no adjustment due")
	}
	s.expectStep(avg(0), StateUp, "") // not due: the reading is ignored
	s.expectStep(avg(0), StateUp, "set 20")
	s.step(up)
	s.expectStep(avg(3), StateUp, "set 13") // 20 − 5·1.26 = 13.7
	s.step(up)
	s.expectStep(avg(9), StateUp, "set 10") // 13 − 10 = 3, floored at 10
	s.step(up)
	s.expectStep(Result{OK: true}, StateUp, "") // failed reading: unchanged

	if m := NewMonitor(Spec{Weight: 1}); m.WantLoad() {
		t.Error("WantLoad() without a load monitor")
	}
	if m := NewMonitor(Spec{Weight: 1, LoadMonitor: "rup"}); m.WantLoad() {
		t.Error("WantLoad() before the first check, whose count 19 is odd")
	}
	if m := NewMonitor(Spec{Weight: 1, LoadMonitor: "rup", Timeout: 30 * time.Second}); !m.WantLoad() {
		t.Error("WantLoad() = false for weight 1 (no ramp), timeout 30: due on every check")
	}
}

func TestMonitorAgent(t *testing.T) {
	agent := func(l Load) Result { return Result{OK: true, Load: l} }
	s := newStepper(t, Spec{Weight: 20, Timeout: 30 * time.Second, LoadMonitor: "http://%h:9100/"})
	if !s.m.WantLoad() {
		t.Fatal("WantLoad() = false with an agent")
	}
	s.expectStep(agent(Load{State: AgentUp}), StateUp, "add 1,set 2")
	s.expectStep(agent(Load{}), StateUp, "set 4")
	s.expectStep(agent(Load{}), StateUp, "set 8")
	s.expectStep(agent(Load{}), StateUp, "set 16")
	s.expectStep(agent(Load{}), StateUp, "set 20")
	// A lower percentage applies at once; a higher one through the ramp.
	s.expectStep(agent(Load{State: AgentUp, Kind: LoadPercent, Value: 25}), StateUp, "set 5")
	s.expectStep(agent(Load{Kind: LoadPercent, Value: 25}), StateUp, "")
	s.expectStep(agent(Load{Kind: LoadPercent, Value: 100}), StateUp, "set 10")
	s.expectStep(agent(Load{}), StateUp, "set 20")
	// Drain: weight 0 until up; the ramp pauses.
	as := s.expectStep(agent(Load{State: AgentDrain}), StateDrain, "set 0")
	if want := "[ active ] draining 10.11.12.1:80: agent reported drain"; as[0].Msg != want {
		t.Errorf("drain message %q, want %q", as[0].Msg, want)
	}
	s.expectStep(agent(Load{}), StateDrain, "")
	if st := s.m.Status(); st.Weight != 0 || st.State.IsUp() {
		t.Errorf("Status() while drained = %+v, want weight 0, not up", st)
	}
	s.expectStep(agent(Load{State: AgentUp}), StateUp, "set 20")
	// 0% drains too.
	s.expectStep(agent(Load{Kind: LoadPercent, Value: 0}), StateDrain, "set 0")
	s.expectStep(agent(Load{State: AgentUp}), StateUp, "set 20")
	// Down is a failed check, with the agent's words.
	as = s.expectStep(agent(Load{State: AgentDown, Detail: "disk full"}), StateDown, "remove")
	if want := "[inactive] shutting down 10.11.12.1:80 due to agent reported down: disk full"; as[0].Msg != want {
		t.Errorf("agent down message %q, want %q", as[0].Msg, want)
	}
	// A load average from the agent follows nanny's formula.
	s = newStepper(t, Spec{Weight: 1, Timeout: 30 * time.Second, LoadMonitor: "https://%h/load"})
	s.expectStep(agent(Load{}), StateUp, "add 1")
	s.expectStep(agent(Load{Kind: LoadAverage, Value: 0}), StateUp, "") // 1.5 → 1
	s = newStepper(t, Spec{Weight: 8, Timeout: 30 * time.Second, LoadMonitor: "https://%h/load"})
	s.expectStep(agent(Load{}), StateUp, "add 1,set 2")
	s.expectStep(agent(Load{}), StateUp, "set 4")
	s.expectStep(agent(Load{}), StateUp, "set 8")
	s.expectStep(agent(Load{Kind: LoadAverage, Value: 0}), StateUp, "set 12")
	// An agent's "down" means nothing without an agent configured.
	s = newStepper(t, Spec{Weight: 1, LoadMonitor: "uptime"})
	s.expectStep(agent(Load{State: AgentDown}), StateUp, "add 1")
}

func TestEnumStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{StateUp.String(), "up"}, {StateQuiesced.String(), "quiesced"}, {State(9).String(), "State(9)"},
		{AdminDown.String(), "forced down"}, {Admin(7).String(), "Admin(7)"},
		{ActSetWeight.String(), "set-weight"}, {ActionKind(9).String(), "ActionKind(9)"},
		{UDP.String(), "udp"}, {TCP.String(), "tcp"},
	} {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestMonitorReconfigure(t *testing.T) {
	base := Spec{Weight: 64, Timeout: 10 * time.Second}
	ramped := func() *stepper {
		s := newStepper(t, base)
		for range 12 {
			s.step(up)
		}
		if s.m.Weight() != 64 {
			t.Fatalf("Weight() = %d after the ramp, want 64", s.m.Weight())
		}
		return s
	}
	reconf := func(s *stepper, sp Spec, want string) {
		t.Helper()
		if _, as := s.m.Reconfigure(s.now, sp); acts(as) != want {
			t.Fatalf("Reconfigure(weight %d) = [%s], want [%s]", sp.Weight, acts(as), want)
		}
	}
	with := func(f func(*Spec)) Spec { sp := base; f(&sp); return sp }

	// Slow start over: a new weight applies at once, both ways.
	s := ramped()
	reconf(s, with(func(sp *Spec) { sp.Weight = 32 }), "set 32")
	reconf(s, with(func(sp *Spec) { sp.Weight = 100 }), "set 100")
	reconf(s, with(func(sp *Spec) { sp.Weight = 100 }), "")

	// During the slow start: higher through the ramp, lower at once.
	s = newStepper(t, base)
	s.expectStep(up, StateUp, "add 2")
	s.expectStep(up, StateUp, "set 4")
	reconf(s, with(func(sp *Spec) { sp.Weight = 128 }), "")
	s.expectStep(up, StateUp, "")
	s.expectStep(up, StateUp, "set 8")
	reconf(s, with(func(sp *Spec) { sp.Weight = 3 }), "set 3")

	// New thresholds: timeout 30 adjusts on every check; reentry 30/30 = 1.
	s = newStepper(t, base)
	s.expectStep(up, StateUp, "add 2")
	reconf(s, with(func(sp *Spec) { sp.Timeout, sp.Reentry = 30*time.Second, 30*time.Second }), "")
	s.expectStep(up, StateUp, "set 4")
	s.expectStep(down, StateDown, "remove")
	s.expectStep(up, StateUp, "add 2,set 4")

	// quiesce_server turned off removes a quiesced entry; re-entry adds.
	q := with(func(sp *Spec) { sp.Quiesce = true })
	s = newStepper(t, q)
	s.expectStep(up, StateUp, "add 2")
	s.expectStep(down, StateQuiesced, "set 0")
	if st, as := s.m.Reconfigure(s.now, base); st != StateDown || acts(as) != "remove" {
		t.Fatalf("Reconfigure(quiesce off) = %v, [%s]; want down, remove", st, acts(as))
	}
	for range 17 {
		s.expectStep(up, StateDown, "")
	}
	s.expectStep(up, StateUp, "add 2,set 4") // count 18 at re-entry: even, so the ramp starts at once
}

func TestMonitorCountsChecksAndLatency(t *testing.T) {
	s := newStepper(t, Spec{Weight: 1})
	s.step(Result{OK: true, Took: 3 * time.Millisecond})
	s.step(Result{OK: false, Reason: "refused", Took: 7 * time.Millisecond})
	st := s.m.Status()
	if st.Checks != 2 || st.Failures != 1 || st.Latency != 7*time.Millisecond {
		t.Errorf("after one good and one failed check: checks %d failures %d latency %v; want 2 1 7ms",
			st.Checks, st.Failures, st.Latency)
	}
}
