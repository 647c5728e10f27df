package health

import (
	"fmt"
	"net/netip"
	"time"
)

// State is where a real server stands with its monitor.
type State uint8

// States.
const (
	StateUnknown  State = iota // not checked yet
	StateUp                    // in the table with a weight (nanny "[ active ]")
	StateDown                  // not in the table (nanny "[inactive]")
	StateQuiesced              // failed, kept in the table with weight 0 (quiesce_server)
	StateDrain                 // up, but its agent asked for weight 0
)

var stateNames = [...]string{"unknown", "up", "down", "quiesced", "drain"}

// String returns the state's lower-case name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// IsUp reports whether the server takes new connections (nanny's
// "[ active ]" with a weight above zero); the sorry server counts these.
func (s State) IsUp() bool { return s == StateUp }

// Admin is an administrator's override of a monitor, nanny's signals.
type Admin uint8

// Overrides.
const (
	AdminNormal Admin = iota // SIGHUP: back to checking ("removing glasses")
	AdminDown                // SIGUSR1: forced down ("opaque glasses on")
	AdminUp                  // SIGUSR2: forced up at full weight ("rose-colored glasses on")
)

var adminNames = [...]string{"normal", "forced down", "forced up"}

// String returns "normal", "forced down" or "forced up".
func (a Admin) String() string {
	if int(a) < len(adminNames) {
		return adminNames[a]
	}
	return fmt.Sprintf("Admin(%d)", a)
}

// ActionKind is what the daemon does to the table for an Action.
type ActionKind uint8

// Action kinds: ipvsadm -a, -e and -d in nanny; Notice changes nothing.
const (
	ActNotice    ActionKind = iota // log Msg only
	ActAdd                         // add the server with Weight
	ActSetWeight                   // set the weight of the server, which is in the table
	ActRemove                      // remove the server
)

var actionNames = [...]string{"notice", "add", "set-weight", "remove"}

// String returns the kind's name.
func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", k)
}

// Action is one thing the daemon must do, with its log line in nanny's words
// ("[ active ] making 10.11.12.1:80 available", "[inactive] shutting down
// 10.11.12.2:80 due to connection failure (connection refused)").
type Action struct {
	Kind   ActionKind
	Weight int // for ActAdd and ActSetWeight
	Msg    string
}

// Nanny's status words (globals.h NANNY_ACTIVE_STATUS, NANNY_INACTIVE_STATUS).
const (
	activeTag   = "[ active ]"
	inactiveTag = "[inactive]"
)

// Monitor is nanny's run loop for one (virtual service, real server) pair,
// as a step function: Step takes each check's Result and returns the new
// State and the Actions for the daemon. It does no I/O and reads no clock.
//
// It follows nanny.c exactly: countThresh = reentry/timeout; the count
// starts at countThresh so the first success enters at once, with weight
// max(1, weight>>5); a single failure removes an active server (or sets its
// weight to 0 with quiesce_server, and a quiesced server re-enters with -e);
// a failure while out restarts the count; while active, every
// max(1, 20/timeout) checks (every check when timeout > 20 s) the weight
// doubles up to the configured weight, then follows the load monitor.
type Monitor struct {
	addr    netip.AddrPort
	weight  int // configured weight (nanny -w)
	timeout time.Duration
	thresh  int // countThresh
	every   int // checks between weight adjustments
	quiesce bool
	load    loadMode

	active  bool   // isActive
	inTable bool   // isSrvUp
	count   int    // currCount
	last    int    // lastWeight: the weight nanny last set while active
	pct     int    // agent weight percentage, -1 when none was given
	drained bool   // agent drain in force
	admin   Admin  // override in force
	state   State  // reported state
	reason  string // why the server is in its state
	since   time.Time

	checks, failures uint64        // results stepped, and of those the failed ones
	took             time.Duration // how long the last check ran
}

// NewMonitor returns the monitor of s before its first check.
func NewMonitor(s Spec) *Monitor {
	t := s.timeout()
	m := &Monitor{
		addr:    s.Addr,
		weight:  s.Weight,
		timeout: t,
		thresh:  int(s.reentry() / t),
		every:   max(1, int(20*time.Second/t)),
		quiesce: s.Quiesce,
		load:    modeOf(s.LoadMonitor),
		pct:     -1,
	}
	m.count = m.thresh
	return m
}

// Step advances the monitor by one check result at time now.
func (m *Monitor) Step(now time.Time, r Result) (State, []Action) {
	if m.admin != AdminNormal {
		return m.state, nil // nanny stops checking while an override is on
	}
	m.checks, m.took = m.checks+1, r.Took
	if !r.OK {
		m.failures++
	}
	avail, why := r.OK, r.Reason
	if avail && m.load == loadAgent && r.Load.State == AgentDown {
		avail, why = false, agentDownReason(r.Load)
	}
	var acts []Action
	if avail {
		m.count++
	}
	switch {
	case avail && !m.active && m.count >= m.thresh:
		acts = m.enter(now, why)
	case !avail && m.active:
		m.count = 0
		acts = m.fail(now, why)
	case !avail:
		m.count = 0
		if m.state == StateUnknown {
			m.setState(now, StateDown, why)
			acts = append(acts, Action{Kind: ActNotice,
				Msg: fmt.Sprintf("%s %s is not available: %s", inactiveTag, m.addr, orFailure(why))})
		}
	}
	if m.active && m.load == loadAgent {
		acts = append(acts, m.agent(now, r.Load)...)
	}
	if m.active && (m.timeout > 20*time.Second || m.count%m.every == 0) {
		acts = append(acts, m.adjust(now, r.Load)...)
	}
	return m.state, acts
}

// enter is nanny's "Available, but inactive, and time to make it active".
func (m *Monitor) enter(now time.Time, why string) []Action {
	m.active = true
	w0 := max(1, m.weight>>5)
	a := Action{Kind: ActAdd, Weight: w0, Msg: fmt.Sprintf("%s making %s available", activeTag, m.addr)}
	if m.inTable { // only ever after a quiesce: nanny's "quiesce_srv && isSrvUp"
		a.Kind = ActSetWeight
	}
	m.inTable = true
	m.last = w0
	m.drained = false
	m.setState(now, StateUp, why)
	return []Action{a}
}

// fail is nanny's "Active, but no longer available (just went down)".
func (m *Monitor) fail(now time.Time, why string) []Action {
	m.active = false
	m.drained = false
	a := Action{Kind: ActRemove, Msg: fmt.Sprintf("%s shutting down %s due to %s", inactiveTag, m.addr, orFailure(why))}
	if m.quiesce && m.inTable {
		a.Kind = ActSetWeight
		m.setState(now, StateQuiesced, why)
	} else {
		m.inTable = false
		m.setState(now, StateDown, why)
	}
	return []Action{a}
}

// target is the weight the ramp and the load formula aim at: the configured
// weight, or the agent's percentage of it.
func (m *Monitor) target() int {
	if m.pct < 0 {
		return m.weight
	}
	if m.pct == 0 {
		return 0
	}
	return min(max(1, (m.weight*m.pct+50)/100), DefaultScale*m.weight)
}

// adjust is nanny's adjustWeight: the slow-start doubling, then the load.
func (m *Monitor) adjust(now time.Time, l Load) []Action {
	if m.drained {
		return nil
	}
	t := m.target()
	if m.last < t {
		m.last = min(m.last<<1, t)
		return []Action{m.setWeight("slow start")}
	}
	if l.Kind != LoadAverage || m.load == loadOff {
		return nil
	}
	next, changed := loadWeight(m.last, t, DefaultScale, float32(l.Value))
	if !changed {
		return nil
	}
	m.last = next
	return []Action{m.setWeight(fmt.Sprintf("load %.2f", l.Value))}
}

// agent applies an agent's state word and weight percentage (HAProxy
// agent-check): drain sets weight 0 until up, ready or a percentage above 0
// arrives; a lower percentage lowers the weight at once, a higher one is
// reached by the slow-start ramp.
func (m *Monitor) agent(now time.Time, l Load) []Action {
	var acts []Action
	drain := l.State == AgentDrain || l.Kind == LoadPercent && l.Value == 0
	resume := l.State == AgentUp || l.Kind == LoadPercent && l.Value > 0
	lowered := false
	if l.Kind == LoadPercent && int(l.Value) != m.pct {
		m.pct = int(l.Value)
		lowered = m.last > m.target()
	} else if l.State == AgentUp && m.pct == 0 {
		m.pct = -1 // "up" after "0%": back to the configured weight
	}
	switch {
	case drain && !m.drained:
		m.drained = true
		m.setState(now, StateDrain, agentReason(l, "drain"))
		return []Action{{Kind: ActSetWeight, Weight: 0,
			Msg: fmt.Sprintf("%s draining %s: %s", activeTag, m.addr, agentReason(l, "drain"))}}
	case resume && m.drained:
		m.drained = false
		m.last = min(m.last, m.target())
		m.setState(now, StateUp, agentReason(l, "ready"))
		acts = append(acts, m.setWeight("agent ready"))
	case lowered && !m.drained:
		m.last = m.target()
		acts = append(acts, m.setWeight(fmt.Sprintf("agent %d%%", m.pct)))
	}
	return acts
}

func (m *Monitor) setWeight(why string) Action {
	return Action{Kind: ActSetWeight, Weight: m.last,
		Msg: fmt.Sprintf("%s adjusting weight of %s to %d (%s)", activeTag, m.addr, m.last, why)}
}

// Force applies an administrator's override at time now, as nanny's
// checkState: forced down removes an active server (even with
// quiesce_server) and stops checking; forced up adds the server at its full
// configured weight and stops checking; normal resumes checking with the
// count at countThresh, so the next success enters at once and the next
// failure removes. The Runner runs that next check at once, as nanny did.
//
// Unlike nanny, forcing up a quiesced server sets its weight (nanny ran
// ipvsadm -a on an entry that existed, failed and exited), forcing down
// forgets that the server was in the table (nanny later ran -e on the
// entry it had deleted), and the forced-up weight is what the ramp starts
// from (nanny kept a stale one, 0 for a server never up, and doubled 0).
func (m *Monitor) Force(now time.Time, a Admin) (State, []Action) {
	if a == m.admin {
		return m.state, nil
	}
	m.admin = a
	switch a {
	case AdminDown:
		why := "forced down by the administrator (opaque glasses on)"
		if !m.active {
			if m.state == StateUnknown {
				m.setState(now, StateDown, why)
			}
			return m.state, []Action{{Kind: ActNotice, Msg: fmt.Sprintf("%s %s %s", inactiveTag, m.addr, why)}}
		}
		m.active, m.inTable, m.drained = false, false, false
		m.setState(now, StateDown, why)
		return m.state, []Action{{Kind: ActRemove, Msg: fmt.Sprintf("%s shutting down %s: %s", inactiveTag, m.addr, why)}}
	case AdminUp:
		why := "forced up by the administrator (rose-colored glasses on)"
		m.drained = false
		m.last = m.weight
		if m.active {
			m.setState(now, StateUp, why)
			return m.state, []Action{m.setWeight(why)}
		}
		act := Action{Kind: ActAdd, Weight: m.weight, Msg: fmt.Sprintf("%s making %s available: %s", activeTag, m.addr, why)}
		if m.inTable {
			act.Kind = ActSetWeight
		}
		m.active, m.inTable = true, true
		m.setState(now, StateUp, why)
		return m.state, []Action{act}
	default:
		m.count = m.thresh
		return m.state, []Action{{Kind: ActNotice, Msg: fmt.Sprintf("resuming checks of %s (removing glasses)", m.addr)}}
	}
}

// Rearm sets the count of a server that is out to countThresh, so its next
// success enters at once, as in a monitor just made (Runner.Recheck). An
// active server, and one under an override, is left as it is.
func (m *Monitor) Rearm() {
	if !m.active && m.admin == AdminNormal {
		m.count = m.thresh
	}
}

// Reconfigure applies changed settings of the same server (a reload): the
// state, the count and the ramp are kept, the thresholds follow the new
// timeout and reentry. A new weight applies at once to a server whose slow
// start is over, and at once when it is lower than the current one; during
// the slow start a higher weight is reached by the ramp. Turning
// quiesce_server off removes a quiesced server's entry. (lvs restarted no
// nanny for a server that stayed and never re-applied its weight.)
func (m *Monitor) Reconfigure(now time.Time, s Spec) (State, []Action) {
	oldTarget := m.target()
	t := s.timeout()
	m.weight, m.timeout, m.quiesce = s.Weight, t, s.Quiesce
	m.thresh, m.every = int(s.reentry()/t), max(1, int(20*time.Second/t))
	m.load = modeOf(s.LoadMonitor)
	var acts []Action
	if m.load != loadAgent {
		m.pct = -1
		if m.drained {
			m.drained = false
			m.setState(now, StateUp, "agent removed from the configuration")
			acts = append(acts, m.setWeight("agent removed"))
		}
	}
	if !m.quiesce && m.inTable && !m.active {
		m.inTable = false
		m.setState(now, StateDown, m.reason)
		return m.state, append(acts, Action{Kind: ActRemove,
			Msg: fmt.Sprintf("%s removing quiesced %s: quiesce_server turned off", inactiveTag, m.addr)})
	}
	if !m.active || m.drained {
		return m.state, acts
	}
	if next := m.target(); m.last != next && (m.last >= oldTarget || m.last > next) {
		m.last = next
		acts = append(acts, m.setWeight("weight changed"))
	}
	return m.state, acts
}

// WantLoad reports whether the load monitor should be read with the next
// check, so that Step gets the reading in Result.Load if the check passes:
// an agent after every check; a load command only when nanny's adjustWeight
// would run it, that is when the server will be active, an adjustment is
// due and the slow start is over.
func (m *Monitor) WantLoad() bool {
	switch {
	case m.admin != AdminNormal || m.load == loadOff:
		return false
	case m.load == loadAgent:
		return true
	}
	count := m.count + 1
	if !m.active && count < m.thresh {
		return false
	}
	last := m.last
	if !m.active {
		last = max(1, m.weight>>5)
	}
	due := m.timeout > 20*time.Second || count%m.every == 0
	return due && last >= m.target()
}

// Status is a monitor's state for reports and for a takeover.
type Status struct {
	Addr   netip.AddrPort
	State  State
	Weight int // weight in the table; 0 when out of it or quiesced
	Admin  Admin
	Reason string
	Since  time.Time // when State was entered
	// Checks and Failures count the results stepped (checks run while no
	// override is on) and the failed ones; Latency is how long the last
	// one ran (0 before the first, or when the Runner did not time it).
	Checks, Failures uint64
	Latency          time.Duration
}

// Status returns the monitor's current state.
func (m *Monitor) Status() Status {
	return Status{Addr: m.addr, State: m.state, Weight: m.Weight(), Admin: m.admin, Reason: m.reason, Since: m.since,
		Checks: m.checks, Failures: m.failures, Latency: m.took}
}

// Weight is the weight the server has in the table: 0 when it is out of
// it, quiesced or drained.
func (m *Monitor) Weight() int {
	if !m.active || m.drained {
		return 0
	}
	return m.last
}

func (m *Monitor) setState(now time.Time, s State, why string) {
	if s != m.state {
		m.since = now
	}
	m.state, m.reason = s, why
}

func orFailure(why string) string {
	if why == "" {
		return "connection failure"
	}
	return why
}

func agentDownReason(l Load) string { return agentReason(l, "down") }

func agentReason(l Load, word string) string {
	if l.Detail != "" {
		return "agent reported " + word + ": " + l.Detail
	}
	return "agent reported " + word
}
