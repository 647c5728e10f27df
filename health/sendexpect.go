package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
)

// sendExpectChecker is nanny's send/expect test over TCP (pinger): connect,
// write send if set, then, if expect is set, wait for the reply and judge
// the bytes of exactly one read. The default HTTP probe on virtual port 80
// is this checker with HTTPSend and HTTPExpect.
//
// nanny gave the connect and the read a timeout each; here the whole check
// shares the context's one deadline (the service timeout), so a check never
// outlasts its interval.
type sendExpectChecker struct {
	addr    netip.AddrPort
	send    string
	hasSend bool
	match   *matcher
}

func (c *sendExpectChecker) Check(ctx context.Context) Result {
	conn, res, ok := dial(ctx, "tcp", c.addr)
	if !ok {
		return res
	}
	defer conn.Close()
	if c.hasSend {
		if _, err := io.WriteString(conn, c.send); err != nil {
			return failure("write", err)
		}
	}
	if !c.match.has {
		return Result{OK: true}
	}
	buf := make([]byte, c.match.readLen())
	n, err := conn.Read(buf) // one read(2), as nanny
	return c.match.judge(buf[:n], err)
}

// readMax is nanny's read buffer (char read_buf[255]) less the NUL.
const readMax = 254

// matcher judges the first read of a reply as nanny's pinger did.
//
// Plain mode reads len(expect) bytes (at most 254) and passes iff the read
// returned that many and they equal expect: a prefix match of the first
// read, so a reply that arrives in two segments can fail. An expect of "*"
// with its one-byte read accepts anything, even an empty read at EOF.
//
// Regex mode (use_regex) reads up to 254 bytes and passes iff the regular
// expression matches anywhere in them, as regexec with REG_EXTENDED on the
// NUL-terminated buffer. nanny used POSIX ERE (regcomp); this is Go's RE2
// syntax, compiled with (?s) so that '.' matches a newline as it does in
// POSIX without REG_NEWLINE. The differences that matter: RE2 has no
// backreferences (\1) and no GNU \< \>, which are refused (use \b); inside
// a bracket expression a backslash escapes in RE2 but is literal in POSIX;
// RE2 adds Perl classes such as \d; and RE2 reads the reply as UTF-8, so an
// invalid byte is one U+FFFD. Leftmost-longest versus leftmost-first does
// not change whether a match exists. The expression is checked when the
// checker is built, where nanny logged the error and failed every check.
type matcher struct {
	has    bool
	expect string
	re     *regexp.Regexp
}

func newMatcher(p probe) (*matcher, error) {
	m := &matcher{has: p.hasExpect, expect: p.expect}
	if p.hasExpect && p.regex {
		re, err := regexp.Compile("(?s)" + p.expect)
		if err != nil {
			return nil, fmt.Errorf("%w: use_regex: expect %q: %v", ErrSpec, p.expect, err)
		}
		m.re = re
	}
	return m, nil
}

// readLen is the byte count of nanny's single read: len(expect) capped at
// 254, 254 in regex mode, and 1 without expect (UDP).
func (m *matcher) readLen() int {
	switch {
	case !m.has:
		return 1
	case m.re != nil:
		return readMax
	}
	return min(len(m.expect), readMax)
}

// judge decides on the bytes got from one read and its error.
func (m *matcher) judge(got []byte, err error) Result {
	if err != nil && !errors.Is(err, io.EOF) {
		return failure("read", err)
	}
	n := m.readLen()
	switch {
	case !m.has:
		// UDP without expect: any reply will do. (nanny dereferenced the
		// NULL expect string here and crashed.)
		return Result{OK: true}
	case n == 1 && m.expect[0] == '*' && m.re == nil:
		return Result{OK: true}
	case m.re != nil:
		if i := bytes.IndexByte(got, 0); i >= 0 {
			got = got[:i] // regexec sees a C string
		}
		if m.re.Match(got) {
			return Result{OK: true}
		}
		return Result{Reason: "expect mismatch: got " + quote(got)}
	case len(got) < n:
		return Result{Reason: fmt.Sprintf("expect mismatch: short read, got %s, want %d bytes", quote(got), n)}
	case string(got[:n]) != m.expect[:n]:
		return Result{Reason: "expect mismatch: got " + quote(got)}
	}
	return Result{OK: true}
}
