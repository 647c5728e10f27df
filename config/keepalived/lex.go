package keepalived

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Files is how the reader reaches included files. Read and Glob may be nil:
// include lines are then reported and skipped (the fuzz target reads no files).
type Files struct {
	Read func(name string) ([]byte, error)
	Glob func(pattern string) ([]string, error)
}

// OSFiles reads included files from the file system.
var OSFiles = Files{Read: os.ReadFile, Glob: filepath.Glob}

// token is one word of keepalived.conf with where it came from. Braces are
// tokens of their own; quoted words have their quotes removed and their
// escapes expanded.
type token struct {
	text   string
	quoted bool
	file   string
	line   int
}

// brace reports whether t is an unquoted { or }.
func (t token) brace(b string) bool { return !t.quoted && t.text == b }

// maxIncludeDepth stops include loops (a file including itself).
const maxIncludeDepth = 32

// maxSubstitutions bounds the recursive replacement of $PARAMETERs, so a
// parameter defined in terms of itself ends.
const maxSubstitutions = 16

// maxLineLen stops substitution from growing a line without bound.
const maxLineLen = 64 << 10

// lexer turns files into tokens: comments dropped, conditional lines
// selected, parameters substituted and includes spliced in place.
type lexer struct {
	files    Files
	configID string
	params   map[string]string
	d        *diag
	toks     []token
}

// file reads the lines of one file (name for messages, data its bytes).
func (lx *lexer) file(name string, data []byte, depth int) {
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		s := strings.TrimSuffix(raw, "\r")
		trimmed := strings.TrimLeft(s, " \t")
		if strings.HasPrefix(trimmed, "@") {
			var keep bool
			if s, keep = lx.conditional(name, n, trimmed); !keep {
				continue
			}
			trimmed = strings.TrimLeft(s, " \t")
		}
		if strings.HasPrefix(trimmed, "$") {
			if lx.define(name, n, trimmed) {
				continue
			}
		}
		s = lx.substitute(s)
		words, err := words(s)
		if err != nil {
			lx.d.errorf(name, n, "%v", err)
			continue
		}
		if len(words) == 0 {
			continue
		}
		if w := words[0]; !w.quoted && isInclude(w.text) {
			lx.include(name, n, words, depth)
			continue
		}
		for _, w := range words {
			w.file, w.line = name, n
			lx.toks = append(lx.toks, w)
		}
	}
}

// conditional handles a line starting with @ID or @^ID: the rest of the line
// is kept when ID is (or, with ^, is not) the configuration id.
func (lx *lexer) conditional(name string, n int, s string) (rest string, keep bool) {
	word, rest, _ := strings.Cut(s, " ")
	if i := strings.IndexByte(word, '\t'); i >= 0 {
		word, rest = word[:i], word[i+1:]+" "+rest
	}
	id, neg := strings.CutPrefix(word[1:], "^")
	if lx.configID == "" {
		lx.d.warnf(name, n, "conditional line %s: ignored, as no configuration id was given (--config-id)", word)
		return "", false
	}
	return rest, (id == lx.configID) != neg
}

// define handles $NAME=VALUE and reports whether the line was one.
func (lx *lexer) define(name string, n int, s string) bool {
	eq := strings.IndexByte(s, '=')
	if eq < 2 || !validParam(s[1:eq]) {
		return false
	}
	val := strings.TrimSpace(s[eq+1:])
	if strings.HasSuffix(val, `\`) {
		lx.d.errorf(name, n, "$%s: multi-line parameter definitions are not supported", s[1:eq])
		return true
	}
	if lx.params == nil {
		lx.params = map[string]string{}
	}
	lx.params[s[1:eq]] = val
	return true
}

func validParam(p string) bool {
	for i, c := range p {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return p != ""
}

// substitute replaces ${NAME} anywhere and $NAME before a blank or the end
// of the line, again and again while something changes (keepalived
// substitutes recursively); undefined parameters stay as written.
func (lx *lexer) substitute(s string) string {
	if len(lx.params) == 0 || !strings.Contains(s, "$") {
		return s
	}
	for range maxSubstitutions {
		if len(s) > maxLineLen {
			break // a parameter that doubles itself
		}
		next := s
		for name, val := range lx.params {
			next = strings.ReplaceAll(next, "${"+name+"}", val)
			for _, end := range []string{" ", "\t"} {
				next = strings.ReplaceAll(next, "$"+name+end, val+end)
			}
			if strings.HasSuffix(next, "$"+name) {
				next = strings.TrimSuffix(next, "$"+name) + val
			}
		}
		if next == s {
			break
		}
		s = next
	}
	return s
}

func isInclude(w string) bool {
	return slices.Contains([]string{"include", "includer", "includem", "includew", "includeb", "includea"}, w)
}

// include splices the files that the pattern of an include line names, in
// name order, relative to the directory of the including file.
func (lx *lexer) include(name string, n int, words []token, depth int) {
	if len(words) != 2 {
		lx.d.errorf(name, n, "%s: expected one file name or pattern, got %d words", words[0].text, len(words)-1)
		return
	}
	if depth >= maxIncludeDepth {
		lx.d.errorf(name, n, "%s %s: includes nested deeper than %d (does a file include itself?)", words[0].text, words[1].text, maxIncludeDepth)
		return
	}
	if lx.files.Read == nil || lx.files.Glob == nil {
		lx.d.warnf(name, n, "%s %s: included files are not read here", words[0].text, words[1].text)
		return
	}
	pattern := words[1].text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(name), pattern)
	}
	matches, err := lx.files.Glob(pattern)
	if err != nil {
		lx.d.errorf(name, n, "%s %s: %v", words[0].text, words[1].text, err)
		return
	}
	if len(matches) == 0 {
		lx.d.warnf(name, n, "%s %s: no file matches", words[0].text, words[1].text)
		return
	}
	slices.Sort(matches)
	for _, m := range matches {
		data, err := lx.files.Read(m)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				lx.d.warnf(name, n, "%s %s: %v", words[0].text, words[1].text, err)
			} else {
				lx.d.errorf(name, n, "%s %s: %v", words[0].text, words[1].text, err)
			}
			continue
		}
		lx.file(m, data, depth+1)
	}
}

// words splits one line into tokens: blanks separate words, { and } are
// words of their own, # or ! outside quotes starts a comment, and " or '
// quote a part of a word (keepalived.conf(5), "Quoted strings").
func words(s string) ([]token, error) {
	var out []token
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) || s[i] == '#' || s[i] == '!' {
			return out, nil
		}
		if s[i] == '{' || s[i] == '}' {
			out = append(out, token{text: s[i : i+1]})
			i++
			continue
		}
		var b strings.Builder
		t := token{}
	word:
		for i < len(s) {
			switch c := s[i]; c {
			case ' ', '\t', '{', '}', '#', '!':
				break word
			case '$':
				// An undefined ${PARAMETER} stays one word, braces and all.
				if j := strings.IndexByte(s[i:], '}'); i+1 < len(s) && s[i+1] == '{' && j > 0 {
					b.WriteString(s[i : i+j+1])
					i += j + 1
					continue
				}
				b.WriteByte(c)
				i++
			case '"', '\'':
				t.quoted = true
				j, err := quoted(s, i+1, c, &b)
				if err != nil {
					return nil, err
				}
				i = j
			default:
				b.WriteByte(c)
				i++
			}
		}
		t.text = b.String()
		out = append(out, t)
	}
}

// quoted copies the quoted string that starts at s[i] up to its closing q,
// expanding escapes, and returns the index after the closing quote.
func quoted(s string, i int, q byte, b *strings.Builder) (int, error) {
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			return i + 1, nil
		case c == '\\' && i+1 < len(s):
			n, width := escape(s[i+1:])
			b.WriteString(n)
			i += 1 + width
		default:
			b.WriteByte(c)
			i++
		}
	}
	return 0, errors.New("unterminated quoted string: expected a closing " + string(q))
}

// escape expands the escape at the start of s (after the backslash) and
// returns the text and the number of bytes it used: \a \b \E \f \n \r \t \v,
// \nnn (octal), \xXX (hex), \cC (control C), and \C for any other C.
func escape(s string) (string, int) {
	simple := map[byte]string{'a': "\a", 'b': "\b", 'E': "\x1b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v"}
	c := s[0]
	if r, ok := simple[c]; ok {
		return r, 1
	}
	digits := func(from int, max int, ok func(byte) bool) int {
		n := from
		for n < len(s) && n-from < max && ok(s[n]) {
			n++
		}
		return n
	}
	switch {
	case c >= '0' && c <= '7':
		n := digits(0, 3, func(b byte) bool { return b >= '0' && b <= '7' })
		v, _ := strconv.ParseUint(s[:n], 8, 16)
		return string([]byte{byte(v)}), n
	case c == 'x':
		n := digits(1, 2, func(b byte) bool {
			return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
		})
		if n == 1 {
			return "x", 1
		}
		v, _ := strconv.ParseUint(s[1:n], 16, 8)
		return string([]byte{byte(v)}), n
	case c == 'c' && len(s) > 1:
		return string([]byte{s[1] & 0x1f}), 2
	}
	return s[:1], 1
}
