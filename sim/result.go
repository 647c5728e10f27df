package sim

import (
	"time"
)

// Result is everything a scenario run produced; reports are written from it
// alone, so a fixed Result gives a fixed report.
type Result struct {
	Topology    string          `json:"topology"`
	File        string          `json:"file"`
	Description string          `json:"description"`
	Guide       string          `json:"guide,omitempty"`
	SiteID      string          `json:"site_id"`
	Router      string          `json:"router"`       // lvsd or kernel
	RouterLabel string          `json:"router_label"` // one line for people
	Started     time.Time       `json:"started"`
	Setup       time.Duration   `json:"setup_ns"`    // building namespaces and services
	Duration    time.Duration   `json:"duration_ns"` // the scenario itself
	Nodes       []NodeInfo      `json:"nodes"`
	Steps       []*StepResult   `json:"steps"`
	Asserts     []*AssertResult `json:"asserts"`
	Notes       []string        `json:"notes,omitempty"`
	// RouterSetup is what the router implementation loaded, for readers who
	// want to see it: the stand-in's nftables ruleset.
	RouterSetup string `json:"router_setup,omitempty"`
}

// NodeInfo is one node as built, for the report's site table.
type NodeInfo struct {
	Name      string   `json:"name"`
	Role      Role     `json:"role"`
	Addresses []string `json:"addresses"`
	Services  []string `json:"services,omitempty"`
}

// StepResult is what one scenario step did.
type StepResult struct {
	Name    string         `json:"name"`
	Kind    string         `json:"kind"`     // "http", "download", …, "fault stop-service", "assert"
	At      time.Duration  `json:"at_ns"`    // planned offset
	Start   time.Duration  `json:"start_ns"` // actual offset
	End     time.Duration  `json:"end_ns"`
	What    string         `json:"what"`              // one line: "600 GETs from client1, client2 to 192.168.26.10:80"
	Skipped string         `json:"skipped,omitempty"` // why it did not run
	Error   string         `json:"error,omitempty"`   // a fault that could not be injected
	Traffic *TrafficResult `json:"traffic,omitempty"`
}

// TrafficResult counts the requests of one traffic step.
type TrafficResult struct {
	Kind      TrafficKind    `json:"kind"`
	Target    string         `json:"target"`
	Requests  int            `json:"requests"` // attempted
	OK        int            `json:"ok"`
	Failed    int            `json:"failed"`
	NotRun    int            `json:"not_run"`            // cut by the step's duration bound
	PerServer map[string]int `json:"per_server"`         // successful requests per real server
	Failures  map[string]int `json:"failures,omitempty"` // reason → count
	Bytes     int64          `json:"bytes"`
	Corrupt   int            `json:"corrupt"`   // downloads whose checksum did not match
	RouterTx  int64          `json:"router_tx"` // bytes the active router sent during the step (all steps running then)
	Events    []Event        `json:"-"`
}

// Event is one request: when it ended, from which source, who answered.
type Event struct {
	T      time.Duration // offset from scenario start
	Source string
	Server string // "" when it failed
	Err    string
}

// AssertResult is one checked assertion.
type AssertResult struct {
	Kind    AssertKind     `json:"kind"`
	Of      string         `json:"of"`
	Passed  bool           `json:"passed"`
	Skipped string         `json:"skipped,omitempty"`
	Summary string         `json:"summary"`           // "shares within ±5 points of weights"
	Details []string       `json:"details,omitempty"` // one line per server or failure
	Shares  []ShareRow     `json:"shares,omitempty"`
	Measure *time.Duration `json:"measure_ns,omitempty"` // takeover time
}

// ShareRow compares a real server's share of requests with its weight.
type ShareRow struct {
	Server   string  `json:"server"`
	Address  string  `json:"address"`
	Weight   int     `json:"weight"`
	Want     float64 `json:"want"`
	Requests int     `json:"requests"`
	Got      float64 `json:"got"`
	OK       bool    `json:"ok"`
}

// Passed reports whether no assertion failed (skipped ones do not count)
// and every fault and check step that ran succeeded.
func (r *Result) Passed() bool {
	_, failed, _ := r.Counts()
	return failed == 0
}

// Counts returns how many assertions passed, failed and were skipped; a
// fault or check step that ran and failed counts as a failed assertion.
func (r *Result) Counts() (passed, failed, skipped int) {
	for _, s := range r.Steps {
		if s.Skipped == "" && s.Error != "" {
			failed++
		}
	}
	for _, a := range r.Asserts {
		switch {
		case a.Skipped != "":
			skipped++
		case a.Passed:
			passed++
		default:
			failed++
		}
	}
	return
}

// step returns the result of the step named name, or nil.
func (r *Result) step(name string) *StepResult {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}
