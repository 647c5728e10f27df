package sim

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// TopologyError is one problem in a topology file, as FILE:LINE: message.
type TopologyError struct {
	File string
	Line int
	Msg  string // what was expected, and what was found
}

// Error returns "FILE:LINE: message".
func (e *TopologyError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// dec walks yaml.Nodes and collects every error with its line.
type dec struct {
	file string
	errs []error
}

func (d *dec) errf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &TopologyError{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (d *dec) err() error { return errors.Join(d.errs...) }

// fields returns the key→value pairs of a mapping, reporting keys not in allowed.
func (d *dec) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	m := map[string]*yaml.Node{}
	if n == nil {
		return m
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n, "expected %s as a mapping (key: value lines), got %s", what, kindName(n))
		return m
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			d.errf(k, "unknown key %q in %s, expected one of: %s", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := m[k.Value]; dup {
			d.errf(k, "key %q given twice in %s", k.Value, what)
		}
		m[k.Value] = v
	}
	return m
}

// need reports a missing required key, attributing it to the mapping's line.
func (d *dec) need(parent *yaml.Node, m map[string]*yaml.Node, key, what string) *yaml.Node {
	v, ok := m[key]
	if !ok {
		d.errf(parent, "%s: missing %q", what, key)
	}
	return v
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func (d *dec) str(n *yaml.Node, what string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.errf(n, "expected %s as a single value, got %s", what, kindName(n))
		return ""
	}
	return n.Value
}

func (d *dec) list(n *yaml.Node, what string) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "expected %s as a list (- item lines), got %s", what, kindName(n))
		return nil
	}
	return n.Content
}

// strs accepts a list of strings or one string.
func (d *dec) strs(n *yaml.Node, what string) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, e := range d.list(n, what) {
		out = append(out, d.str(e, what))
	}
	return out
}

func (d *dec) intIn(n *yaml.Node, what string, lo, hi int) int {
	s := d.str(n, what)
	if n == nil || s == "" {
		return 0
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		d.errf(n, "expected %s as a whole number from %d to %d, got %q", what, lo, hi, s)
		return 0
	}
	return v
}

func (d *dec) port(n *yaml.Node, what string) int { return d.intIn(n, what, 1, 65535) }

func (d *dec) float(n *yaml.Node, what string, lo, hi float64) float64 {
	s := d.str(n, what)
	if n == nil || s == "" {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < lo || v > hi {
		d.errf(n, "expected %s as a number from %g to %g, got %q", what, lo, hi, s)
		return 0
	}
	return v
}

func (d *dec) duration(n *yaml.Node, what string, max time.Duration) time.Duration {
	s := d.str(n, what)
	if n == nil || s == "" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 || v > max {
		d.errf(n, "expected %s as a duration like 500ms or 10s (at most %v), got %q", what, max, s)
		return 0
	}
	return v
}

func (d *dec) boolean(n *yaml.Node, what string) bool {
	s := d.str(n, what)
	if n == nil || s == "" {
		return false
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		d.errf(n, "expected %s as true or false, got %q", what, s)
	}
	return v
}

// size parses byte counts such as 4096, 64KB, 20MB.
func (d *dec) size(n *yaml.Node, what string) int64 {
	s := d.str(n, what)
	if n == nil || s == "" {
		return 0
	}
	mult := int64(1)
	num := s
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if t, ok := strings.CutSuffix(strings.ToUpper(s), u.suf); ok {
			num, mult = strings.TrimSpace(t), u.m
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v*mult > 1<<30 {
		d.errf(n, "expected %s as a size like 4096, 64KB or 20MB (at most 1GB), got %q", what, s)
		return 0
	}
	return v * mult
}

func (d *dec) addr(n *yaml.Node, what string) netip.Addr {
	s := d.str(n, what)
	if n == nil || s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		d.errf(n, "expected %s as an IPv4 address like 10.11.12.1, got %q (or an IPv6 one like fd00:11:12::1)", what, s)
		return netip.Addr{}
	}
	return a
}

func (d *dec) prefix(n *yaml.Node, what string) netip.Prefix {
	s := d.str(n, what)
	if n == nil || s == "" {
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		d.errf(n, "expected %s as an IPv4 address with prefix length like 10.11.12.1/24, got %q (or an IPv6 one like fd00:11:12::1/64)", what, s)
		return netip.Prefix{}
	}
	return p
}

func (d *dec) addrPort(n *yaml.Node, what string) netip.AddrPort {
	s := d.str(n, what)
	if n == nil || s == "" {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() || ap.Port() == 0 {
		d.errf(n, "expected %s as ADDRESS:PORT like 192.168.26.10:80, got %q (IPv6: like [2001:db8::10]:80)", what, s)
		return netip.AddrPort{}
	}
	return ap
}

func (d *dec) oneOf(n *yaml.Node, what string, choices ...string) string {
	s := d.str(n, what)
	if n == nil || s == "" {
		return ""
	}
	if !slices.Contains(choices, s) {
		d.errf(n, "expected %s to be one of %s, got %q", what, strings.Join(choices, ", "), s)
		return ""
	}
	return s
}
