package config

import (
	"errors"
	"fmt"
)

// ParseError is one problem found in a configuration or rules file, at a line.
type ParseError struct {
	File string
	Line int
	Msg  string // what was expected and what was found: `port: expected a port number or service name, got "htp"`
}

// Error returns "FILE:LINE: message".
func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ErrInvalid is matched (errors.Is) by every *ParseError, so callers can tell
// a broken file from an I/O error.
var ErrInvalid = errors.New("invalid configuration")

// Is makes errors.Is(err, ErrInvalid) true for a ParseError.
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

// Errors returns the *ParseError values joined in err (as returned by Parse
// and ParseIptables), in order. Other errors are returned as a ParseError
// without file or line.
func Errors(err error) []*ParseError {
	if err == nil {
		return nil
	}
	var out []*ParseError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		return []*ParseError{pe}
	}
	return []*ParseError{{Msg: err.Error()}}
}

// diag collects errors and warnings of one file.
type diag struct {
	file     string
	errs     []error
	warnings []*ParseError
}

func (d *diag) errorf(line int, format string, args ...any) {
	d.errs = append(d.errs, &ParseError{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (d *diag) warnf(line int, format string, args ...any) {
	d.warnings = append(d.warnings, &ParseError{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (d *diag) err() error { return errors.Join(d.errs...) }
