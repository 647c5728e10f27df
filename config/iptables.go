package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// DefaultIptablesFile is where `service iptables save` puts the rules (guide §3.6).
const DefaultIptablesFile = "/etc/sysconfig/iptables"

// understood is appended to every "rule not understood" error.
const understood = "lvsd understands only `-t mangle -A PREROUTING [-p tcp|udp] [-s NET] [-d NET] [-i DEV] [--sport P] [--dport P] -j MARK --set-mark N` " +
	"and `-t nat -A POSTROUTING [-p tcp|udp] [-s NET] [-d NET] [-o DEV] [--sport P] [--dport P] -j MASQUERADE` (guide §3.4, §3.5)"

// ParseIptables reads the subset of an iptables-save file that the guide
// uses: MARK rules in mangle PREROUTING and MASQUERADE rules in nat
// POSTROUTING. It also accepts the guide's commands as written
// (`/sbin/iptables -t mangle -A PREROUTING …`), one per line. Any other
// rule, a chain policy other than ACCEPT, or a table left without COMMIT is
// an error naming the line: lvsd must not silently drop a rule it cannot
// apply. The error is an errors.Join of *ParseError.
func ParseIptables(name string, r io.Reader) (*Rules, error) { return parseIptables(name, r, false) }

// parseIptables is ParseIptables, or ParseIp6tables with v6.
func parseIptables(name string, r io.Reader, v6 bool) (*Rules, error) {
	d := &diag{file: name}
	rules := &Rules{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	sc.Split(scanLines)
	table, tableLine, n := "", 0, 0
	for sc.Scan() {
		n++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		switch {
		case s[0] == '*':
			if table != "" {
				d.errorf(n, "table %s (line %d) has no COMMIT before the next table", table, tableLine)
			}
			table, tableLine = s[1:], n
			if !knownTable(table) {
				d.errorf(n, "unknown table %q: expected filter, nat, mangle, raw or security", table)
			}
		case s == "COMMIT":
			if table == "" {
				d.errorf(n, "COMMIT without a table: expected a *TABLE line first")
			}
			table = ""
		case s[0] == ':':
			policyLine(d, n, table, s)
		default:
			words, err := shellWords(s)
			if err != nil {
				d.errorf(n, "%v", err)
				continue
			}
			ruleLine(d, rules, n, table, words, v6)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("reading %s: line %d is longer than %d bytes", name, n+1, maxLineLen)
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if table != "" {
		d.errorf(tableLine, "table %s is not committed: expected COMMIT before the end of the file", table)
	}
	rules.Warnings = d.warnings
	return rules, d.err()
}

// kernelTable reports whether rules of table t stay with the kernel: the
// filter, raw and security tables act on the router's own traffic (SSH,
// heartbeats, health checks), which lvsd leaves to the kernel.
func kernelTable(t string) bool { return t == "filter" || t == "raw" || t == "security" }

// tableOf returns the -t TABLE of an iptables command line, or def.
func tableOf(words []string, def string) string {
	for i := 0; i+1 < len(words); i++ {
		if words[i] == "-t" || words[i] == "--table" {
			return words[i+1]
		}
	}
	return def
}

func knownTable(t string) bool {
	switch t {
	case "filter", "nat", "mangle", "raw", "security":
		return true
	}
	return false
}

// policyLine checks ":CHAIN POLICY [packets:bytes]".
func policyLine(d *diag, n int, table, s string) {
	f := strings.Fields(s[1:])
	if table == "" {
		d.errorf(n, "chain %s declared outside a table: expected a *TABLE line first", s)
		return
	}
	if len(f) < 2 || len(f) > 3 {
		d.errorf(n, "expected \":CHAIN POLICY [0:0]\", got %q", s)
		return
	}
	switch f[1] {
	case "ACCEPT":
	case "-":
		// A user-defined chain: harmless while no rule uses it.
	default:
		if kernelTable(table) {
			d.warnf(n, "policy %s of %s %s is left to the kernel: it filters the router's own traffic, not what lvsd forwards", f[1], table, f[0])
			return
		}
		d.errorf(n, "policy %s of %s %s cannot be applied by lvsd: only ACCEPT policies are understood", f[1], table, f[0])
	}
}

// shellWords splits a line as a shell would for iptables-save output:
// blanks separate words; double quotes (with \" and \\ escapes) and single
// quotes group them.
func shellWords(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			if inWord {
				out, inWord = append(out, w.String()), false
				w.Reset()
			}
		case c == '"' || c == '\'':
			inWord = true
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if c == '"' && s[j] == '\\' && j+1 < len(s) {
					j++
				}
				w.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated quote %c in %q", c, s)
			}
			i = j
		default:
			inWord = true
			w.WriteByte(c)
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}

// rule collects the options of one rule line.
type rule struct {
	table, chain, target string
	m                    Match
	ports                struct{ s, d []PortRange } // --sport/--dport or multiport lists
	mark                 uint32
	hasMark              bool
	ifaceOpt             string // "-i" or "-o"
	v6                   bool   // an ip6tables rule: IPv6 addresses
}

// ruleLine parses one "-A …" line (or an "iptables -t T -A …" command).
func ruleLine(d *diag, rules *Rules, n int, table string, words []string, v6 bool) {
	r := &rule{table: table, v6: v6}
	r.m.IPv6 = v6
	if w := words[0]; w == commandName(v6) || strings.HasSuffix(w, "/"+commandName(v6)) {
		words, r.table = words[1:], "filter"
	} else if table == "" {
		d.errorf(n, "rule outside a table: expected *mangle or *nat before it, or a full `iptables -t TABLE …` command")
		return
	}
	if t := tableOf(words, r.table); kernelTable(t) {
		d.warnf(n, "rule in table %s is left to the kernel: lvsd applies only the guide's mangle PREROUTING MARK and nat POSTROUTING MASQUERADE rules; %s rules still filter the router's own traffic", t, t)
		return
	}
	if err := r.options(words); err != nil {
		d.errorf(n, "%v", err)
		return
	}
	if err := r.check(); err != nil {
		d.errorf(n, "%v; %s", err, understood)
		return
	}
	sp, dp := r.ports.s, r.ports.d
	if len(sp) == 0 {
		sp = []PortRange{{}}
	}
	if len(dp) == 0 {
		dp = []PortRange{{}}
	}
	for _, s := range sp {
		for _, p := range dp {
			m := r.m
			m.SPortLo, m.SPortHi, m.DPortLo, m.DPortHi = s.Lo, s.Hi, p.Lo, p.Hi
			if r.target == "MARK" {
				rules.Marks = append(rules.Marks, MarkRule{Match: m, Mark: r.mark, File: d.file, Line: n})
			} else {
				rules.Masquerades = append(rules.Masquerades, MasqRule{Match: m, File: d.file, Line: n})
			}
		}
	}
}

// check accepts exactly the two kinds of rule lvsd implements.
func (r *rule) check() error {
	switch {
	case r.chain == "":
		return fmt.Errorf("no -A CHAIN in the rule")
	case r.target == "MARK" && (r.table != "mangle" || r.chain != "PREROUTING"):
		return fmt.Errorf("-j MARK in %s %s is not understood", r.table, r.chain)
	case r.target == "MARK" && !r.hasMark:
		return fmt.Errorf("-j MARK needs --set-mark N")
	case r.target == "MASQUERADE" && (r.table != "nat" || r.chain != "POSTROUTING"):
		return fmt.Errorf("-j MASQUERADE in %s %s is not understood", r.table, r.chain)
	case r.target == "":
		return fmt.Errorf("rule in %s %s has no -j target", r.table, r.chain)
	case r.target != "MARK" && r.target != "MASQUERADE":
		return fmt.Errorf("target %s (%s %s) is not understood", r.target, r.table, r.chain)
	case r.m.Iface != "" && r.target == "MARK" && r.ifaceOpt != "-i", r.m.Iface != "" && r.target == "MASQUERADE" && r.ifaceOpt != "-o":
		return fmt.Errorf("%s is not allowed in %s", r.ifaceOpt, r.chain)
	case (len(r.ports.s) > 0 || len(r.ports.d) > 0) && r.m.Proto == ProtoAny:
		return fmt.Errorf("ports need -p tcp or -p udp")
	}
	return nil
}

// options reads the words of a rule into r.
func (r *rule) options(words []string) error {
	for i := 0; i < len(words); i++ {
		opt := words[i]
		arg := func() (string, error) {
			if i+1 >= len(words) || (strings.HasPrefix(words[i+1], "-") && len(words[i+1]) > 1) {
				return "", fmt.Errorf("option %s needs a value", opt)
			}
			i++
			return words[i], nil
		}
		if opt == "!" {
			return fmt.Errorf("negation (!) is not understood; %s", understood)
		}
		if !knownOptions[opt] {
			return fmt.Errorf("option %s is not understood; %s", opt, understood)
		}
		v, err := arg()
		if err != nil {
			return err
		}
		if err := r.option(opt, v); err != nil {
			return err
		}
	}
	return nil
}

// knownOptions are the options option understands; each takes one value.
var knownOptions = map[string]bool{}

func init() {
	for _, o := range strings.Fields(`-t --table -A --append -p --protocol -s --source --src -d --destination --dst
		-i --in-interface -o --out-interface -m --match --comment --sport --source-port --sports --source-ports
		--dport --destination-port --dports --destination-ports -j --jump --set-mark --set-xmark`) {
		knownOptions[o] = true
	}
}

// option applies one option and its value.
func (r *rule) option(opt, v string) (err error) {
	switch opt {
	case "-t", "--table":
		if !knownTable(v) {
			return fmt.Errorf("unknown table %q after -t: expected mangle or nat (is a blank missing, as in the guide's \"-t mangle-A\"?)", v)
		}
		r.table = v
	case "-A", "--append":
		r.chain = v
	case "-p", "--protocol":
		switch v {
		case "tcp", "6":
			r.m.Proto = ProtoTCP
		case "udp", "17":
			r.m.Proto = ProtoUDP
		case "all", "0":
			r.m.Proto = ProtoAny
		default:
			return fmt.Errorf("protocol %q is not understood: expected tcp, udp or all", v)
		}
	case "-s", "--source", "--src":
		r.m.Src, err = r.prefix(v)
	case "-d", "--destination", "--dst":
		r.m.Dst, err = r.prefix(v)
	case "-i", "--in-interface", "-o", "--out-interface":
		r.m.Iface, r.ifaceOpt = v, opt[:2]
		if opt[1] == '-' {
			r.ifaceOpt = "-" + opt[2:3]
		}
	case "-m", "--match":
		if v != "tcp" && v != "udp" && v != "comment" && v != "multiport" {
			return fmt.Errorf("match -m %s is not understood: expected tcp, udp, multiport or comment; %s", v, understood)
		}
	case "--comment":
	case "--sport", "--source-port", "--sports", "--source-ports":
		r.ports.s, err = parsePortList(v)
	case "--dport", "--destination-port", "--dports", "--destination-ports":
		r.ports.d, err = parsePortList(v)
	case "-j", "--jump":
		r.target = v
	case "--set-mark", "--set-xmark":
		r.mark, err = parseMark(v)
		r.hasMark = err == nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", opt, err)
	}
	return nil
}

// parseMark parses "80", "0x50" or "0x50/0xffffffff" (the only mask that
// sets the whole mark, which is what IPVS matches).
func parseMark(s string) (uint32, error) {
	v, mask, hasMask := strings.Cut(s, "/")
	n, ok := parseCInt(v)
	if !ok || n < 1 || n > math.MaxUint32 {
		return 0, fmt.Errorf("expected a firewall mark from 1 to 4294967295, got %q", v)
	}
	if hasMask {
		m, ok := parseCInt(mask)
		if !ok || m != math.MaxUint32 {
			return 0, fmt.Errorf("mask %q is not understood: expected 0xffffffff (the whole mark)", mask)
		}
	}
	return uint32(n), nil
}
