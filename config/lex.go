package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// token is one word of a line. A token that starts with a double or single
// quote runs to the matching quote and may contain blanks (Piranha's
// tokenizeString); text holds it without the quotes.
type token struct {
	text  string
	quote byte // '"' or '\'' when the token was quoted, else 0
}

// line is one significant (not blank, not comment) line of a file.
type line struct {
	num  int
	toks []token
}

// maxLineLen bounds one line, so a file without newlines cannot exhaust memory.
const maxLineLen = 1 << 20

// readLines splits r into significant lines as Piranha's getNextToks does:
// blanks are spaces and tabs, a line whose first non-blank is '#' is a
// comment, and "\r" or "\n" ends a line. Lexical problems are reported to d
// and the line is dropped.
func readLines(r io.Reader, d *diag) ([]line, error) {
	var out []line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	sc.Split(scanLines)
	n := 0
	for sc.Scan() {
		n++
		s := strings.TrimLeft(sc.Text(), " \t")
		if s == "" || s[0] == '#' {
			continue
		}
		toks, err := tokenize(s)
		if err != nil {
			d.errorf(n, "%v", err)
			continue
		}
		out = append(out, line{num: n, toks: toks})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return out, fmt.Errorf("reading %s: line %d is longer than %d bytes", d.file, n+1, maxLineLen)
		}
		return out, fmt.Errorf("reading %s: %w", d.file, err)
	}
	return out, nil
}

// scanLines is bufio.ScanLines that also ends a line at a lone "\r"
// (Piranha treats either character as a line end) and counts "\r\n" once.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		switch c {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need one more byte to tell "\r\n" from "\r"
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// tokenize splits one line (without leading blanks) into tokens.
func tokenize(s string) ([]token, error) {
	var toks []token
	for len(s) > 0 {
		var t token
		if q := s[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote: %c%s has no closing %c on this line", q, s[1:], q)
			}
			t = token{text: s[1 : 1+end], quote: q}
			s = s[end+2:]
			if len(s) > 0 && s[0] != ' ' && s[0] != '\t' {
				return nil, fmt.Errorf("expected a blank after the closing %c of %c%s%c, got %q", q, q, t.text, q, s[:1])
			}
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			t = token{text: s[:end]}
			s = s[end:]
		}
		toks = append(toks, t)
		s = strings.TrimLeft(s, " \t")
	}
	return toks, nil
}

// quoteValue returns v as one lvs.cf token: bare when it can be, else in
// double quotes (or single quotes when v holds a double quote).
func quoteValue(v string, always bool) string {
	if !always && v != "" && !strings.ContainsAny(v, " \t\"'#{}") {
		return v
	}
	if strings.IndexByte(v, '"') >= 0 {
		return "'" + v + "'"
	}
	return `"` + v + `"`
}

// quotable reports whether v can be written as one token at all: a value
// holding both quote characters, or a line end, cannot.
func quotable(v string) bool {
	return !strings.ContainsAny(v, "\r\n") && !(strings.IndexByte(v, '"') >= 0 && strings.IndexByte(v, '\'') >= 0)
}
