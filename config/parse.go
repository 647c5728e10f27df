package config

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Parse reads an lvs.cf file. name is used in messages ("FILE:LINE: …").
//
// It reports every problem, not just the first: the error is an errors.Join
// of *ParseError, sorted by line. Warnings (problems that leave a working
// configuration) are in Config.Warnings. Parse returns the configuration
// even when err != nil, so callers can print its warnings; do not use it
// then. A read error is returned as is, wrapped with the file name.
func Parse(name string, r io.Reader) (*Config, error) {
	d := &diag{file: name}
	lines, err := readLines(r, d)
	if err != nil {
		return nil, err
	}
	p := &parser{d: d, lines: lines, pos: positions{}}
	c := p.file()
	validate(c, d, p.pos)
	sortByLine(d.warnings)
	c.Warnings = d.warnings
	slices.SortStableFunc(d.errs, func(a, b error) int {
		return cmp.Compare(a.(*ParseError).Line, b.(*ParseError).Line)
	})
	return c, d.err()
}

func sortByLine(ps []*ParseError) {
	slices.SortStableFunc(ps, func(a, b *ParseError) int { return cmp.Compare(a.Line, b.Line) })
}

// positions remembers, for each block object, the line of each of its keys
// (key "" is the block header), so validation can point at the right line.
type positions map[any]map[string]int

func (ps positions) line(obj any, key string) int {
	m := ps[obj]
	if n, ok := m[key]; ok {
		return n
	}
	return m[""]
}

type parser struct {
	d     *diag
	lines []line
	i     int
	pos   positions
}

// next returns the next line, or false at the end of the file.
func (p *parser) next() (line, bool) {
	if p.i >= len(p.lines) {
		return line{}, false
	}
	p.i++
	return p.lines[p.i-1], true
}

func isWord(t token, w string) bool { return t.quote == 0 && t.text == w }

// file parses the top level.
func (p *parser) file() *Config {
	c := NewConfig()
	seen := map[string]int{}
	p.pos[c] = map[string]int{}
	for {
		l, ok := p.next()
		if !ok {
			return c
		}
		switch k := l.toks[0]; {
		case isWord(k, "}"):
			p.d.errorf(l.num, `unexpected "}": no block is open`)
		case isWord(k, "virtual"), isWord(k, "failover"):
			if v := p.virtual(l); v != nil {
				if k.text == "virtual" {
					c.Virtuals = append(c.Virtuals, v)
				} else {
					c.Failovers = append(c.Failovers, v)
				}
			}
		case isWord(k, "bgp"):
			p.bgp(l, c)
		case isWord(k, "fwmark_rule"):
			b := &FWMarkBlock{}
			if p.ruleBlock(l, b, &b.Name, &b.Line, &b.Keys, markKeys) {
				c.FWMarkRules = append(c.FWMarkRules, b)
			}
		case isWord(k, "masquerade"):
			b := &MasqueradeBlock{}
			if p.ruleBlock(l, b, &b.Name, &b.Line, &b.Keys, masqKeys) {
				c.Masquerades = append(c.Masquerades, b)
			}
		case isWord(l.toks[len(l.toks)-1], "{"):
			p.unknownBlock(l, "at the top level", "virtual, failover, fwmark_rule, masquerade or bgp")
		default:
			applyKey(p, globalKeys, "the global section", c, &c.Keys, seen, l)
			p.pos[c][k.text] = l.num
		}
	}
}

// header checks `KIND NAME {` and returns NAME. ok is false when the header
// is too broken to keep the block; the body is still read so that braces
// stay balanced and errors inside it are reported.
func (p *parser) header(l line) (name string, ok bool) {
	kind := l.toks[0].text
	t := l.toks
	switch {
	case len(t) == 1:
		p.d.errorf(l.num, `%s: missing arguments: expected "%s NAME {"`, kind, kind)
		return "", false
	case isWord(t[1], "{"):
		p.d.errorf(l.num, `%s: missing name: expected "%s NAME {", got "%s {"`, kind, kind, kind)
		return "", false
	case len(t) == 2:
		if p.i < len(p.lines) && len(p.lines[p.i].toks) == 1 && isWord(p.lines[p.i].toks[0], "{") {
			p.d.errorf(l.num, `%s %s: "{" must be the third word of this line, not on a line of its own`, kind, t[1].text)
			p.i++
		} else {
			p.d.errorf(l.num, `%s %s: expected "{" after the name, got end of line`, kind, t[1].text)
		}
		return t[1].text, false
	case !isWord(t[2], "{"):
		p.d.errorf(l.num, `%s %s: expected "{" as the third word, got %q`, kind, t[1].text, t[2].text)
		return t[1].text, false
	case len(t) > 3:
		p.d.errorf(l.num, `%s %s: unexpected arguments after "{": %s (the block's keys go on the following lines)`,
			kind, t[1].text, quoteToks(t[3:]))
		return t[1].text, false
	}
	if t[1].text == "" {
		p.d.errorf(l.num, "%s: the name must not be empty", kind)
		return "", false
	}
	return t[1].text, true
}

// body reads the lines of a block opened at line open up to its "}",
// passing each other line to each. A top-level block header inside a block
// means its "}" is missing: body reports that and leaves the header to the
// top level, so one missing brace does not hide the blocks after it.
func (p *parser) body(what string, open int, each func(line)) {
	p.bodyIn(what, open, topLevelBlock, each)
}

// bodyIn is body where outer tells which block headers belong to an
// enclosing scope.
func (p *parser) bodyIn(what string, open int, outer func(token) bool, each func(line)) {
	for {
		l, ok := p.next()
		if !ok {
			p.d.errorf(open, `%s is not closed: expected "}" before the end of the file`, what)
			return
		}
		if isWord(l.toks[0], "}") {
			if len(l.toks) > 1 {
				p.d.errorf(l.num, `unexpected arguments after "}": %s ("}" must be alone on its line)`, quoteToks(l.toks[1:]))
			}
			return
		}
		if k := l.toks[0]; len(l.toks) == 3 && isWord(l.toks[2], "{") && outer(k) {
			p.d.errorf(l.num, `%s %s starts inside %s (line %d): expected "}" to close %s first`, k.text, l.toks[1].text, what, open, what)
			p.i--
			return
		}
		each(l)
	}
}

func topLevelBlock(k token) bool {
	return isWord(k, "virtual") || isWord(k, "failover") || isWord(k, "fwmark_rule") || isWord(k, "masquerade")
}

// unknownBlock reports a block this scope does not know and skips it.
func (p *parser) unknownBlock(l line, where, known string) {
	msg := fmt.Sprintf("unknown block %q %s: expected %s", l.toks[0].text, where, known)
	if l.toks[0].quote == 0 && len(l.toks) == 3 {
		if h := hint(l.toks[0].text, strings.Split(strings.ReplaceAll(known, " or ", ", "), ", ")); h != "" {
			msg += h
		}
	}
	p.d.errorf(l.num, "%s", msg)
	p.skip(l.num, l.toks[0].text)
}

// skip consumes a block body, nested blocks included.
func (p *parser) skip(open int, what string) {
	p.body(what+" block", open, func(l line) {
		if isWord(l.toks[len(l.toks)-1], "{") {
			p.skip(l.num, l.toks[0].text)
		}
	})
}

// virtual parses a virtual or failover block.
func (p *parser) virtual(h line) *Virtual {
	kind := h.toks[0].text
	name, ok := p.header(h)
	v := NewVirtual(name)
	v.Line = h.num
	pos := map[string]int{"": h.num}
	p.pos[v] = pos
	seen := map[string]int{}
	where := fmt.Sprintf("%s %s", kind, name)
	firstPortless := 0 // line of the first server block without a port
	flags, flagsLine := "", 0
	p.body(where, h.num, func(l line) {
		switch k := l.toks[0]; {
		case isWord(k, "server"):
			if s := p.server(l, where); s != nil {
				v.Servers = append(v.Servers, s)
				if s.Port == 0 && firstPortless == 0 {
					firstPortless = s.Line
				}
			}
		case isWord(l.toks[len(l.toks)-1], "{"):
			p.unknownBlock(l, "in "+where, "server")
		default:
			applyKey(p, virtualKeys, where, v, &v.Keys, seen, l)
			pos[k.text] = l.num
			if k.text == "scheduler_flags" && len(l.toks) == 3 {
				flags, flagsLine = l.toks[2].text, l.num
			}
		}
	})
	p.checkFlagNames(v, where, flags, flagsLine)
	if n := pos["port"]; firstPortless != 0 && n > firstPortless {
		p.d.warnf(n, "%s: port %d is set after server blocks without a port (line %d): lvs-go gives them port %d, Piranha gave them the port in force when the server block was read",
			where, v.Port, firstPortless, v.Port)
	}
	if !ok {
		return nil
	}
	return v
}

// server parses a server block inside the virtual block where.
func (p *parser) server(h line, where string) *Server {
	name, ok := p.header(h)
	s := NewServer(name)
	s.Line = h.num
	pos := map[string]int{"": h.num}
	p.pos[s] = pos
	seen := map[string]int{}
	in := fmt.Sprintf("%s, server %s", where, name)
	outer := func(k token) bool { return isWord(k, "server") || topLevelBlock(k) }
	p.bodyIn(in, h.num, outer, func(l line) {
		if isWord(l.toks[len(l.toks)-1], "{") {
			p.unknownBlock(l, "in "+in, "no blocks here")
			return
		}
		applyKey(p, serverKeys, in, s, &s.Keys, seen, l)
		pos[l.toks[0].text] = l.num
	})
	if !ok {
		return nil
	}
	return s
}

// ruleBlock parses a fwmark_rule or masquerade block into x.
func ruleBlock[T any](p *parser, h line, x *T, name *string, at *int, keys *[]string, defs []keyDef[T]) bool {
	n, ok := p.header(h)
	*name, *at = n, h.num
	pos := map[string]int{"": h.num}
	p.pos[x] = pos
	seen := map[string]int{}
	where := fmt.Sprintf("%s %s", h.toks[0].text, n)
	p.body(where, h.num, func(l line) {
		if isWord(l.toks[len(l.toks)-1], "{") {
			p.unknownBlock(l, "in "+where, "no blocks here")
			return
		}
		applyKey(p, defs, where, x, keys, seen, l)
		pos[l.toks[0].text] = l.num
	})
	return ok
}

func (p *parser) ruleBlock(h line, x any, name *string, at *int, keys *[]string, defs any) bool {
	switch b := x.(type) {
	case *FWMarkBlock:
		return ruleBlock(p, h, b, name, at, keys, defs.([]keyDef[FWMarkBlock]))
	case *MasqueradeBlock:
		return ruleBlock(p, h, b, name, at, keys, defs.([]keyDef[MasqueradeBlock]))
	}
	panic("config: unknown rule block type")
}

func quoteToks(ts []token) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%q", t.text)
	}
	return strings.Join(parts, " ")
}

// checkFlagNames reports scheduler flags spelt for another scheduler
// (sh-port with scheduler mh); validate reports flags on other schedulers.
func (p *parser) checkFlagNames(v *Virtual, where, flags string, line int) {
	if v.Scheduler != SchedSH && v.Scheduler != SchedMH {
		return
	}
	for _, f := range strings.Split(flags, ",") {
		if strings.HasPrefix(f, "sh-") && v.Scheduler != SchedSH || strings.HasPrefix(f, "mh-") && v.Scheduler != SchedMH {
			p.d.errorf(line, "%s: scheduler_flags %q does not belong to scheduler %s (expected %s)",
				where, f, v.Scheduler, v.SchedFlags.format(v.Scheduler))
		}
	}
}
