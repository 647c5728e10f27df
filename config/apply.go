package config

import (
	"fmt"
	"strings"
)

// applyKey parses one `key = value…` line of a block described by defs
// into x. keys collects the key order; seen maps each key to its first line.
func applyKey[T any](p *parser, defs []keyDef[T], where string, x *T, keys *[]string, seen map[string]int, l line) {
	k := l.toks[0]
	var def *keyDef[T]
	for i := range defs {
		if defs[i].name == k.text && k.quote == 0 {
			def = &defs[i]
			break
		}
	}
	if def == nil {
		names := make([]string, len(defs))
		for i, d := range defs {
			names[i] = d.name
		}
		p.d.errorf(l.num, "unknown key %q in %s%s", k.text, where, hint(k.text, names))
		return
	}
	if len(l.toks) < 2 || !isWord(l.toks[1], "=") {
		got := "end of line"
		if len(l.toks) >= 2 {
			got = fmt.Sprintf("%q", l.toks[1].text)
		}
		p.d.errorf(l.num, `%s: expected "=" after the key, got %s`, k.text, got)
		return
	}
	vals, err := values(def.nargs, l.toks[2:])
	if err == nil {
		tmp := *x // a failed set must leave the block as it was
		if err = def.set(&tmp, vals); err == nil {
			*x = tmp
		}
	}
	if err != nil {
		p.d.errorf(l.num, "%s: %v", k.text, err)
		return
	}
	if first, dup := seen[k.text]; dup {
		p.d.warnf(l.num, "%s: duplicate key in %s (first on line %d): the last value wins", k.text, where, first)
		return
	}
	seen[k.text] = l.num
	*keys = append(*keys, k.text)
}

// values checks the number of value tokens after "=".
func values(nargs int, v []token) ([]token, error) {
	if nargs == listArgs {
		if len(v) == 0 || !isWord(v[0], "[") || !isWord(v[len(v)-1], "]") || len(v) < 2 {
			return nil, fmt.Errorf(`expected a list "[ a b … ]", got %s`, gotToks(v))
		}
		return v[1 : len(v)-1], nil
	}
	if len(v) < nargs {
		if nargs == 2 {
			return nil, fmt.Errorf("missing arguments: expected an IP address and a device (192.168.26.10 eth0:1), got %s", gotToks(v))
		}
		return nil, fmt.Errorf(`missing arguments: expected a value after "="`)
	}
	if len(v) > nargs {
		extra := v[nargs:]
		msg := fmt.Sprintf("unexpected arguments after %s: %s", quoteToks(v[:nargs]), quoteToks(extra))
		if strings.HasPrefix(extra[0].text, "#") && extra[0].quote == 0 {
			msg += " (comments must be on a line of their own)"
		} else if nargs == 1 {
			msg += " (quote a value that contains blanks)"
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return v, nil
}

func gotToks(v []token) string {
	if len(v) == 0 {
		return "nothing"
	}
	return quoteToks(v)
}

// hint suggests the nearest known name for a misspelt one.
func hint(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(got, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance, for hints on short words.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
