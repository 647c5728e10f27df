package web

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"lvs/config"
)

// An edit is one accepted change of the staged lvs.cf: a description for
// the pending list and the text transformation, kept so that the edits can
// be replayed on a newer lvs.cf after a conflict.
type edit struct {
	Desc  string
	apply func(text string) (string, error)
}

// stage is one session's unsaved work: the lvs.cf it started from and the
// edits accepted since. The staged text is base with every edit applied.
type stage struct {
	baseEtag string
	baseText string // normalised (config.Format) text of the file at baseEtag
	edits    []edit
	text     string // the staged text, normalised
}

// pending reports whether the session has accepted edits not yet applied.
func (st *stage) pending() bool { return st != nil && len(st.edits) > 0 }

// FieldError is a problem config.Parse found, placed on a form: Field is the
// lvs.cf key it belongs to ("" for the form as a whole).
type FieldError struct {
	Field string
	Line  int
	Msg   string
}

// missingKey finds the key of config.Validate's "missing KEY: expected …".
var missingKey = regexp.MustCompile(`(?:^|: )missing (\w+): expected`)

// check is the outcome of checking a candidate text.
type check struct {
	cfg      *config.Config
	errs     []FieldError // errors, each with the field of form p when it has one
	warnings []FieldError
	text     string // the normalised text when there are no errors
}

// checkText parses text with config.Parse, as `lvsd --config-test` does,
// and places each error and warning on a key of block p when it is on one
// of p's lines.
func checkText(name, text string, p blockPath) check {
	c, err := config.Parse(name, strings.NewReader(text))
	idx := index(splitLines(text))
	place := func(pe *config.ParseError) FieldError {
		fe := FieldError{Line: pe.Line, Msg: pe.Error()}
		if pe.Line >= 1 && pe.Line <= len(idx) && (slices.Equal(idx[pe.Line-1].path, p) || len(p) == 0 && pe.Line == 1) {
			fe.Field = idx[pe.Line-1].key
			// A missing key is reported at the block's header (line 1 for
			// the global section): it belongs to the key's field.
			if m := missingKey.FindStringSubmatch(pe.Msg); m != nil && (fe.Field == "" || pe.Line == 1) {
				fe.Field = m[1]
			}
		}
		return fe
	}
	var out check
	out.cfg = c
	for _, pe := range config.Errors(err) {
		out.errs = append(out.errs, place(pe))
	}
	if c != nil {
		for _, pe := range c.Warnings {
			out.warnings = append(out.warnings, place(pe))
		}
	}
	if len(out.errs) == 0 && c != nil {
		out.text = string(config.Format(c))
	}
	return out
}

// newStage starts a stage on the file text raw (possibly with comments),
// normalised through config.Format when it parses.
func newStage(raw []byte, etag string) *stage {
	text := string(raw)
	if c, err := config.Parse("lvs.cf", bytes.NewReader(raw)); err == nil {
		text = string(config.Format(c))
	}
	return &stage{baseEtag: etag, baseText: text, text: text}
}

// accept applies e to the staged text and checks the result; on success
// the edit is recorded, otherwise nothing changes and the check says why.
func (st *stage) accept(name string, e edit, p blockPath) check {
	next, err := e.apply(st.text)
	if err != nil {
		return check{errs: []FieldError{{Msg: err.Error()}}}
	}
	ck := checkText(name, next, p)
	if len(ck.errs) == 0 {
		st.edits = append(st.edits, e)
		st.text = ck.text
	}
	return ck
}

// rebase replays the edits on a newer file. Edits that no longer apply
// (their block is gone, or the result does not check) are dropped and
// returned with the reason, so the administrator sees what was lost.
func (st *stage) rebase(name string, raw []byte, etag string) (dropped []string) {
	fresh := newStage(raw, etag)
	for _, e := range st.edits {
		if ck := fresh.accept(name, e, nil); len(ck.errs) > 0 {
			dropped = append(dropped, fmt.Sprintf("%s: %s", e.Desc, ck.errs[0].Msg))
		}
	}
	*st = *fresh
	return dropped
}
