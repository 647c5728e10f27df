package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LoadKind says what a load reading carries.
type LoadKind uint8

// Load kinds.
const (
	LoadNone    LoadKind = iota // no reading: none wanted, or the monitor failed (Detail says why)
	LoadAverage                 // Value is the 1-minute load average (nanny's getRemoteLoad)
	LoadPercent                 // Value is a percentage of the configured weight (agent "75%")
)

// AgentState is a state word of an HTTP agent's reply (HAProxy agent-check).
type AgentState uint8

// Agent states.
const (
	AgentNone  AgentState = iota // no state word
	AgentUp                      // "up" or "ready": leave drain
	AgentDrain                   // "drain": weight 0, keep existing connections
	AgentDown                    // "down", "fail", "failed", "stopped" or "maint": the server is down
)

// Load is one reading of a load monitor.
type Load struct {
	Kind   LoadKind
	Value  float64
	State  AgentState
	Detail string // the agent's "#" description, or why no reading was had
}

// A LoadChecker reads a real server's load once; it returns by the time ctx
// is done. Like a Checker it is used by one goroutine at a time.
type LoadChecker interface {
	Load(ctx context.Context) Load
}

// loadMode is how a monitor's load_monitor behaves.
type loadMode uint8

const (
	loadOff     loadMode = iota // none
	loadCommand                 // uptime, rup, ruptime, a command: read when nanny's adjustWeight would
	loadAgent                   // an agent URL: read after every successful check
)

func modeOf(loadMonitor string) loadMode {
	switch {
	case loadMonitor == "" || loadMonitor == "none":
		return loadOff
	case isAgentURL(loadMonitor):
		return loadAgent
	}
	return loadCommand
}

// NewLoadChecker returns the load monitor of s, or nil when load_monitor is
// unset or none. As lvs and nanny: uptime runs `RSH RIP uptime` with
// rsh_command (default rsh); rsh and ssh given directly do the same; rup,
// ruptime and any other command run as `CMD RIP`.
//
// An http:// or https:// URL (%h and %p replaced) is an agent on the real
// server, read after every passed check, HAProxy agent-check style: the
// first line of a 2xx reply holds words such as "up", "ready", "drain",
// "down#reason", "maint", "75%" (of the configured weight) or a bare load
// average such as "0.42" (nanny's formula).
func NewLoadChecker(s Spec) (LoadChecker, error) { return resolve(&s).loadChecker() }

func (p probe) loadChecker() (LoadChecker, error) {
	host := p.addr.Addr().String()
	switch lm := p.loadMonitor; modeOf(lm) {
	case loadOff:
		return nil, nil
	case loadAgent:
		return newAgent(lm, p.addr)
	default:
		if lm == "uptime" {
			lm = p.rsh
			if lm == "" {
				lm = "rsh"
			}
		}
		argv := []string{lm, host}
		if lm == "rsh" || lm == "ssh" {
			argv = append(argv, "uptime")
		}
		return &commandLoad{argv: argv}, nil
	}
}

// commandLoad runs a load command and parses its output as getRemoteLoad.
type commandLoad struct{ argv []string }

func (c *commandLoad) Load(ctx context.Context) Load {
	out, ok, why := runProgram(ctx, c.argv)
	if !ok {
		return Load{Detail: "failed to read remote load: " + why}
	}
	avg, err := parseLoad(out)
	if err != nil {
		return Load{Detail: err.Error()}
	}
	return Load{Kind: LoadAverage, Value: float64(avg)}
}

var errBadLoad = errors.New("bad load average returned")

// parseLoad takes the 1-minute load average out of uptime or rup output as
// nanny's getRemoteLoad: find "load", then the next ':', skip two bytes,
// take the digits and dots that follow, which must end at ',' or ' ', and
// convert them with strtod into a C float.
//
// Where no ':' follows "load", nanny gave up; ruptime prints exactly that
// ("load 0.00, 0.00, 0.00"), so here the number after "load" and its blanks
// is taken instead, which lets the guide's ruptime choice work.
func parseLoad(out string) (float32, error) {
	i := strings.Index(out, "load")
	if i < 0 {
		return 0, fmt.Errorf("%w: %q", errBadLoad, out)
	}
	rest := out[i:]
	if j := strings.IndexByte(rest, ':'); j >= 0 {
		if j+2 > len(rest) {
			return 0, fmt.Errorf("%w: %q", errBadLoad, out)
		}
		rest = rest[j+2:]
	} else {
		rest = strings.TrimLeft(rest[len("load"):], " \t")
	}
	k := 0
	for k < len(rest) && (rest[k] >= '0' && rest[k] <= '9' || rest[k] == '.') {
		k++
	}
	if k == len(rest) || rest[k] != ',' && rest[k] != ' ' {
		return 0, fmt.Errorf("%w: %q", errBadLoad, out)
	}
	return strtof(rest[:k]), nil
}

// strtof converts digits and dots as strtod would, then to float: the
// longest numeric prefix counts ("1.2.3" is 1.2) and none at all is 0.
func strtof(s string) float32 {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		if j := strings.IndexByte(s[i+1:], '.'); j >= 0 {
			s = s[:i+1+j]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return float32(f)
}

// loadWeight is nanny's adjustWeight for a server whose slow start is over.
// With W the configured weight, L the last weight and S the scale:
//
//	load < 1: new = L + (W/2)·(1−load)^(1/3), at most S·W
//	load > 1: new = L − (W/2)·(load−1)^(1/3), at least W
//
// truncated to an int as C does, and applied only when |new − L| ≥ W/4.
// A load of exactly 1 or a failed reading (negative) leaves L. The load is
// a C float, as nanny's.
func loadWeight(last, weight, scale int, load float32) (int, bool) {
	if load < 0 || load == 1 {
		return last, false
	}
	half := float64(weight) / 2
	var next int
	if load < 1 {
		next = int(float64(last) + half*math.Pow(1.0-float64(load), 1.0/3))
		next = min(next, scale*weight)
	} else {
		next = int(float64(last) - half*math.Pow(float64(load)-1.0, 1.0/3))
		next = max(next, weight)
	}
	diff := next - last
	if diff < 0 {
		diff = -diff
	}
	if float32(diff) >= float32(weight)/4 {
		return next, next != last
	}
	return last, false
}
