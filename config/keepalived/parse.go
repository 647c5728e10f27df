package keepalived

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"lvs/config"
)

// Stmt is one keyword of keepalived.conf with its arguments and, for a
// block, the statements inside its braces. A list entry such as an address
// in virtual_ipaddress is a statement whose keyword is the address.
type Stmt struct {
	Key   string
	Args  []string
	Block []*Stmt // nil for a plain keyword
	File  string  // where the keyword is
	Line  int
}

// IsBlock reports whether the statement opened a { } block (maybe empty).
func (s *Stmt) IsBlock() bool { return s.Block != nil }

// String returns the keyword and its arguments as written, for messages.
func (s *Stmt) String() string { return strings.Join(append([]string{s.Key}, s.Args...), " ") }

// maxDepth bounds block nesting; keepalived's deepest is four levels.
const maxDepth = 64

// Parse reads keepalived.conf text: name is used in messages and to resolve
// relative includes, which are read through files. configID selects the
// @ID conditional lines (keepalived -i); "" ignores them with a warning.
// The error is an errors.Join of *config.ParseError; warnings come back
// apart. The statements are returned even with errors.
func Parse(name string, data []byte, files Files, configID string) (stmts []*Stmt, warnings []*config.ParseError, err error) {
	d := &diag{}
	lx := &lexer{files: files, configID: configID, d: d}
	lx.file(name, data, 0)
	p := &parser{toks: lx.toks, d: d}
	stmts = p.stmts(0, nil)
	return stmts, d.sortedWarnings(), d.err()
}

type parser struct {
	toks []token
	i    int
	d    *diag
}

// stmts reads statements up to the } that closes open (nil at the top).
func (p *parser) stmts(depth int, open *Stmt) []*Stmt {
	out := []*Stmt{}
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		switch {
		case t.brace("}"):
			p.i++
			if open != nil {
				return out
			}
			p.d.errorf(t.file, t.line, `unexpected "}": no block is open`)
			continue
		case t.brace("{"):
			p.i++
			p.d.errorf(t.file, t.line, `unexpected "{": expected a keyword before it`)
			p.stmts(depth+1, &Stmt{Key: "{", File: t.file, Line: t.line})
			continue
		}
		s := &Stmt{Key: t.text, File: t.file, Line: t.line}
		p.i++
		for p.i < len(p.toks) && !p.toks[p.i].brace("{") && !p.toks[p.i].brace("}") &&
			p.toks[p.i].file == t.file && p.toks[p.i].line == t.line {
			s.Args = append(s.Args, p.toks[p.i].text)
			p.i++
		}
		// The { may also start the next line (global_defs\n{).
		if p.i < len(p.toks) && p.toks[p.i].brace("{") {
			p.i++
			if depth+1 >= maxDepth {
				p.d.errorf(t.file, t.line, "%s: blocks nested deeper than %d", t.text, maxDepth)
				p.i = len(p.toks)
				return out
			}
			s.Block = p.stmts(depth+1, s)
		}
		out = append(out, s)
	}
	if open != nil {
		p.d.errorf(open.File, open.Line, `%s: the block opened here is not closed: expected "}" before the end of the file`, open.Key)
	}
	return out
}

// diag collects errors and warnings, each naming its file and line.
type diag struct {
	errs     []*config.ParseError
	warnings []*config.ParseError
}

func (d *diag) errorf(file string, line int, format string, args ...any) {
	d.errs = append(d.errs, &config.ParseError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (d *diag) warnf(file string, line int, format string, args ...any) {
	d.warnings = append(d.warnings, &config.ParseError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// at is errorf at a statement.
func (d *diag) at(s *Stmt, format string, args ...any) { d.errorf(s.File, s.Line, format, args...) }

// warn is warnf at a statement.
func (d *diag) warn(s *Stmt, format string, args ...any) { d.warnf(s.File, s.Line, format, args...) }

func byPlace(a, b *config.ParseError) int {
	return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
}

func (d *diag) sortedWarnings() []*config.ParseError {
	slices.SortStableFunc(d.warnings, byPlace)
	return d.warnings
}

func (d *diag) err() error {
	slices.SortStableFunc(d.errs, byPlace)
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}
