package ipvsadm

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// RestoreError is a line of -R input that does not parse. Its text names
// the line; Err is the *UsageError or ErrNoScheduler of that line.
type RestoreError struct {
	Line int
	Err  error
}

// Error names the line.
func (e *RestoreError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the line's own error.
func (e *RestoreError) Unwrap() error { return e.Err }

// ParseRestore reads `lvsadm -R` input: one ipvsadm command line per line,
// as `ipvsadm -S` writes them. A line may start with "ipvsadm" or "lvsadm";
// blank lines and "#" comments are skipped (ipvsadm-restore's grep -v '^#').
// Every line must be a table edit (-A -E -D -C -a -e -d). Unlike ipvsadm,
// which runs each line as it reads it, the whole input is parsed first and
// applied as one batch by the caller: all of it or none. lines[i] is the
// input line number of cmds[i].
func ParseRestore(r io.Reader) (cmds []Command, lines []int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		words := restoreWords(sc.Text())
		if len(words) == 0 {
			continue
		}
		c, err := ParseArgs(words)
		if err != nil {
			return nil, nil, &RestoreError{Line: n, Err: err}
		}
		if !c.Kind.IsEdit() {
			return nil, nil, &RestoreError{Line: n, Err: usagef("the '%s' command cannot be restored", c.Kind)}
		}
		if c.Socket != "" {
			return nil, nil, &RestoreError{Line: n, Err: usagef("Illegal 'socket' option with the 'restore' command")}
		}
		cmds = append(cmds, c)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading restore input: %w", err)
	}
	return cmds, lines, nil
}

// restoreWords splits a line at blanks, drops a comment and the program
// names config_stream_read drops.
func restoreWords(line string) []string {
	var out []string
	for _, w := range strings.Fields(line) {
		if strings.HasPrefix(w, "#") {
			break
		}
		if w == "ipvsadm" || w == "lvsadm" {
			continue
		}
		out = append(out, w)
	}
	return out
}
