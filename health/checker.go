package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Defaults of lvs.cf and nanny's command line (lvsInitVirtualServer, nanny main).
const (
	DefaultTimeout = 10 * time.Second  // timeout: check interval and per-check timeout
	DefaultReentry = 180 * time.Second // reentry: quiet time before a failed server returns
	DefaultScale   = 10                // nanny -S: load-based weights stay below Scale×weight
)

// Protocol is the transport a virtual service balances, and so the one nanny
// probes with (nanny -u for UDP).
type Protocol uint8

// Protocols.
const (
	TCP Protocol = iota
	UDP
)

// String returns "tcp" or "udp", as in lvs.cf.
func (p Protocol) String() string {
	if p == UDP {
		return "udp"
	}
	return "tcp"
}

// Spec is everything health needs for one (virtual service, real server)
// pair. The daemon fills it from lvs.cf; the fields carry the names of the
// keys they come from. Send and Expect are as written in lvs.cf: the escapes
// are expanded here, as nanny's convert_str did.
type Spec struct {
	Virtual  string         // virtual NAME
	Server   string         // server NAME
	Addr     netip.AddrPort // server address and port: probed, and what the table holds
	VPort    uint16         // virtual port; the default HTTP probe applies only when it is 80
	Protocol Protocol       // protocol
	Weight   int            // weight
	Timeout  time.Duration  // timeout; 0 means DefaultTimeout
	Reentry  time.Duration  // reentry; 0 means DefaultReentry
	Quiesce  bool           // quiesce_server
	Sorry    netip.AddrPort // sorry_server and the virtual port; zero when none

	Send        string // send
	Expect      string // expect
	UseRegex    bool   // use_regex
	SendProgram string // send_program: overrides Send; %h and %p tokens
	LoadMonitor string // load_monitor: none, uptime, rup, ruptime, a command, or an agent URL
	RshCommand  string // rsh_command (global): rsh or ssh, for load_monitor = uptime
}

// Key names one monitor: a real server of a virtual service, by their lvs.cf names.
type Key struct {
	Virtual string
	Server  string
}

// Key returns the monitor key of s.
func (s *Spec) Key() Key { return Key{Virtual: s.Virtual, Server: s.Server} }

func (s *Spec) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

func (s *Spec) reentry() time.Duration {
	if s.Reentry <= 0 {
		return DefaultReentry
	}
	return s.Reentry
}

// Result is the outcome of one check. Reason says why a check failed, in
// words for the log ("connection failure (connection refused)", "timeout
// (connect)", `expect mismatch: got "HTTP/1.0 500"`); on success it may hold a
// note (nanny's "didn't get anything back"). Load is the load monitor's
// reading taken after a successful check, when one was wanted.
type Result struct {
	OK     bool
	Reason string
	Load   Load
	// Took is how long the check ran (set by the Runner; 0 when unknown).
	Took time.Duration
}

// A Checker probes one real server once. Check returns by the time ctx is
// done; the Runner gives it a context with the service's timeout. A Checker
// is safe for use by one goroutine at a time: the Runner never runs two
// checks of one probe at once.
type Checker interface {
	Check(ctx context.Context) Result
}

// ErrSpec is wrapped by the errors of NewChecker and NewLoadChecker for
// settings that cannot work (a regular expression that does not compile, an
// empty send_program).
var ErrSpec = errors.New("health: bad check settings")

// HTTPSend and HTTPExpect are nanny's default probe: with no send, expect or
// send_program and a virtual port of 80, nanny sends a GET and expects a reply
// that starts "HTTP".
const (
	HTTPSend   = "GET / HTTP/1.0\r\n\r\n"
	HTTPExpect = "HTTP"
)

// probe is the resolved way a server is checked, after nanny's defaults and
// escapes. Monitors whose probe and address are equal share one Checker.
type probe struct {
	proto       Protocol
	addr        netip.AddrPort
	timeout     time.Duration
	send        string
	expect      string
	hasSend     bool
	hasExpect   bool
	regex       bool
	program     string
	loadMonitor string
	rsh         string
}

// resolve applies nanny's main(): send_program overrides send; with no
// send/expect/program and virtual port 80 the HTTP probe is assumed; the
// escapes of send and expect are expanded. An empty string counts as unset.
func resolve(s *Spec) probe {
	p := probe{proto: s.Protocol, addr: s.Addr, timeout: s.timeout(), regex: s.UseRegex,
		program: s.SendProgram, loadMonitor: s.LoadMonitor, rsh: s.RshCommand}
	p.send, p.hasSend = s.Send, s.Send != ""
	p.expect, p.hasExpect = s.Expect, s.Expect != ""
	if p.program != "" {
		p.send, p.hasSend = "", false
	}
	if s.VPort == 80 && !p.hasSend && !p.hasExpect && p.program == "" {
		p.send, p.hasSend, p.expect, p.hasExpect = HTTPSend, true, HTTPExpect, true
		return p
	}
	p.send, p.expect = unescape(p.send), unescape(p.expect)
	return p
}

// NewChecker returns the checker nanny would run for s: the external program
// when send_program is set, else a UDP probe for UDP services, else
// send/expect over TCP when either is set (or the default HTTP probe on
// virtual port 80), else a plain TCP connect.
func NewChecker(s Spec) (Checker, error) { return resolve(&s).checker() }

func (p probe) checker() (Checker, error) {
	switch {
	case p.program != "":
		return newProgramChecker(p)
	case p.proto == UDP:
		m, err := newMatcher(p)
		if err != nil {
			return nil, err
		}
		return &udpChecker{addr: p.addr, send: p.send, hasSend: p.hasSend, match: m}, nil
	case p.hasSend || p.hasExpect:
		m, err := newMatcher(p)
		if err != nil {
			return nil, err
		}
		return &sendExpectChecker{addr: p.addr, send: p.send, hasSend: p.hasSend, match: m}, nil
	default:
		return &tcpChecker{addr: p.addr}, nil
	}
}

// unescape expands the escapes of send and expect as nanny's convert_str:
// \\ \r \n \t \' \" become one byte; any other backslash is kept as written
// (where convert_str looped for ever), and a string of one byte is left alone.
func unescape(s string) string {
	if len(s) <= 1 || !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '\\':
			b.WriteByte('\\')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '\'':
			b.WriteByte('\'')
		case '"':
			b.WriteByte('"')
		default:
			b.WriteByte(c)
			continue
		}
		i++
	}
	return b.String()
}

// failure builds a failed Result whose reason names the stage and the cause
// in nanny's words ("CONNECT to %s:%d timed out", "connection failure").
func failure(stage string, err error) Result {
	return Result{Reason: reason(stage, err)}
}

func reason(stage string, err error) string {
	switch {
	case isTimeout(err):
		return "timeout (" + stage + ")"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection failure (connection refused)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection failure (connection reset by peer)"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "connection failure (no route to host)"
	case errors.Is(err, syscall.ENETUNREACH):
		return "connection failure (network unreachable)"
	}
	return fmt.Sprintf("connection failure (%s: %v)", stage, err)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// quote renders received bytes for a log line, cut at 64 bytes.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return fmt.Sprintf("%q…", b[:max])
	}
	return fmt.Sprintf("%q", b)
}
