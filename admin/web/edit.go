package web

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// An lvs.cf edit works on the text of the file in the layout config.Format
// writes: one key per line, `KIND NAME {` headers and `}` alone on a line.
// Working on text rather than on the model lets a form hand the parser
// exactly what the administrator typed, so a wrong value is reported by
// config.Parse, at a line we can map back to the form field.

// blockPath names a block: nil for the global section, {virtual} for a
// virtual block and {virtual, server} for a server block inside it.
type blockPath []string

func (p blockPath) String() string {
	switch len(p) {
	case 0:
		return "global settings"
	case 1:
		return "virtual " + p[0]
	}
	return "virtual " + p[0] + ", server " + p[1]
}

// kv is one key to set or, when del is true, to remove.
type kv struct {
	key, val string
	del      bool
}

// errNoBlock is returned when an edit names a block the text does not have.
var errNoBlock = errors.New("no such block")

// header splits a block header line ("virtual web {") into kind and name.
func header(line string) (kind, name string, ok bool) {
	s := strings.TrimSpace(line)
	rest, found := strings.CutSuffix(s, " {")
	if !found {
		return "", "", false
	}
	if rest == "bgp" { // the one block without a name (pages_bgp.go)
		return rest, "", true
	}
	kind, name, ok = strings.Cut(rest, " ")
	if !ok {
		return "", "", false
	}
	name = strings.TrimSpace(name)
	if len(name) >= 2 && (name[0] == '"' || name[0] == '\'') && name[len(name)-1] == name[0] {
		name = name[1 : len(name)-1]
	}
	return kind, name, true
}

func isClose(line string) bool { return strings.TrimSpace(line) == "}" }

// lineInfo says where a line of the text belongs: its block and its key
// ("" for a header, a closing brace or a line outside any key).
type lineInfo struct {
	path blockPath
	key  string
}

// index maps every line of text (0-based) to its block and key. Blocks
// other than virtual and server (fwmark_rule, masquerade, failover) get a
// path starting with their kind in brackets so they never match a form.
func index(lines []string) []lineInfo {
	out := make([]lineInfo, len(lines))
	var stack []string
	for i, l := range lines {
		if kind, name, ok := header(l); ok {
			switch {
			case len(stack) == 0 && kind == "virtual":
				stack = []string{name}
			case len(stack) == 0:
				stack = []string{"[" + kind + "]" + name}
			default:
				stack = append(stack[:1:1], name)
			}
			out[i] = lineInfo{path: append(blockPath(nil), stack...)}
			continue
		}
		if isClose(l) {
			out[i] = lineInfo{path: append(blockPath(nil), stack...)}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		key, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		out[i] = lineInfo{path: append(blockPath(nil), stack...), key: key}
	}
	return out
}

// span returns the lines of block p: from its header to its closing brace
// inclusive, and body, the end (exclusive) of its own keys: the first
// nested block header or the closing brace. For the global section start is
// -1 and end and body are the first block header (or the end of the text).
func span(lines []string, p blockPath) (start, body, end int, err error) {
	idx := index(lines)
	if len(p) == 0 {
		for i, li := range idx {
			if len(li.path) > 0 {
				return -1, i, i, nil
			}
		}
		return -1, len(lines), len(lines), nil
	}
	start = -1
	for i, li := range idx {
		if start < 0 {
			if li.key == "" && slices.Equal(li.path, p) && !isClose(lines[i]) {
				start, body = i, -1
			}
			continue
		}
		if body < 0 && (len(li.path) > len(p) || isClose(lines[i]) && slices.Equal(li.path, p)) {
			body = i
		}
		if isClose(lines[i]) && slices.Equal(li.path, p) {
			return start, body, i, nil
		}
	}
	return 0, 0, 0, fmt.Errorf("%s: %w", p, errNoBlock)
}

func splitLines(text string) []string {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// indentOf is the key indentation of config.Format inside block p.
func indentOf(p blockPath) string {
	switch len(p) {
	case 0:
		return ""
	case 1:
		return "     "
	}
	return "         "
}

// setKeys sets or removes keys of block p: a key already there is changed
// in place, a new one goes after the block's other keys.
func setKeys(text string, p blockPath, kvs []kv) (string, error) {
	lines := splitLines(text)
	for _, e := range kvs {
		start, body, _, err := span(lines, p)
		if err != nil {
			return "", err
		}
		at := -1
		for i := start + 1; i < body; i++ {
			if k, _, _ := strings.Cut(strings.TrimSpace(lines[i]), " "); k == e.key {
				at = i
				break
			}
		}
		line := indentOf(p) + e.key + " = " + e.val
		switch {
		case e.del && at >= 0:
			lines = append(lines[:at], lines[at+1:]...)
		case e.del:
		case at >= 0:
			lines[at] = line
		default:
			lines = append(lines[:body], append([]string{line}, lines[body:]...)...)
		}
	}
	return joinLines(lines), nil
}

// keyValue returns the value text of key in block p ("" when absent).
func keyValue(text string, p blockPath, key string) string {
	lines := splitLines(text)
	start, body, _, err := span(lines, p)
	if err != nil {
		return ""
	}
	for i := start + 1; i < body; i++ {
		k, rest, _ := strings.Cut(strings.TrimSpace(lines[i]), " ")
		if k == key {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "="))
		}
	}
	return ""
}

// addBlock adds an empty block: a virtual at the end of the file, a server
// at the end of its virtual.
func addBlock(text string, p blockPath) (string, error) {
	lines := splitLines(text)
	if _, _, _, err := span(lines, p); err == nil {
		return "", fmt.Errorf("%s already exists", p)
	}
	switch len(p) {
	case 1:
		return joinLines(append(lines, "virtual "+p[0]+" {", "}")), nil
	case 2:
		_, _, end, err := span(lines, p[:1])
		if err != nil {
			return "", err
		}
		ind := indentOf(p[:1])
		add := []string{ind + "server " + p[1] + " {", ind + "}"}
		return joinLines(append(lines[:end], append(add, lines[end:]...)...)), nil
	}
	return "", fmt.Errorf("cannot add %s", p)
}

// deleteBlock removes block p and everything in it.
func deleteBlock(text string, p blockPath) (string, error) {
	lines := splitLines(text)
	start, _, end, err := span(lines, p)
	if err != nil || start < 0 {
		return "", fmt.Errorf("deleting %s: %w", p, errNoBlock)
	}
	return joinLines(append(lines[:start], lines[end+1:]...)), nil
}

// renameBlock changes the name in block p's header.
func renameBlock(text string, p blockPath, name string) (string, error) {
	if len(p) == 0 || p[len(p)-1] == name {
		return text, nil
	}
	lines := splitLines(text)
	to := append(append(blockPath(nil), p[:len(p)-1]...), name)
	if _, _, _, err := span(lines, to); err == nil {
		return "", fmt.Errorf("%s already exists", to)
	}
	start, _, _, err := span(lines, p)
	if err != nil {
		return "", err
	}
	kind, _, _ := header(lines[start])
	lines[start] = indentOf(p[:len(p)-1]) + kind + " " + name + " {"
	return joinLines(lines), nil
}

// bumpSerial increments serial_no, as the Piranha GUI did on each save.
func bumpSerial(text string) string {
	n, _ := strconv.Atoi(keyValue(text, nil, "serial_no"))
	out, err := setKeys(text, nil, []kv{{key: "serial_no", val: strconv.Itoa(n + 1)}})
	if err != nil {
		return text
	}
	return out
}

// upsert is what a block's form does on ACCEPT: add the block when the
// staged text lacks it, set the form's keys, then give it the form's name.
func upsert(p blockPath, kvs []kv, name string) func(string) (string, error) {
	return func(t string) (string, error) {
		var err error
		if _, _, _, miss := span(splitLines(t), p); miss != nil {
			if t, err = addBlock(t, p); err != nil {
				return "", err
			}
		}
		if t, err = setKeys(t, p, kvs); err != nil {
			return "", err
		}
		return renameBlock(t, p, name)
	}
}
