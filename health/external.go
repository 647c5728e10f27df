package health

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// programChecker is nanny's external_check, used when send_program is set
// (send is then ignored). The program line is split on spaces, with no shell
// and no quoting (strtok); a token that is exactly %h becomes the real
// server address and one that is exactly %p its port. The program runs with
// stdin and stderr on /dev/null and is killed, with its process group, at
// the timeout. Its output is judged as nanny did:
//
//   - output equal to expect (after the last byte is chopped): up;
//   - any other output: down;
//   - expect unset: down whatever the program printed ("Expect string is
//     NULL, but the external sending program returned a non-NULL result");
//   - no output at all because the program exited non-zero, was killed at the
//     timeout or could not start: down if expect is unset, but UP if expect
//     is set ("didn't get anything back"). This quirk is reproduced on
//     purpose so that sites keep nanny's verdicts; the Result's Reason says
//     what happened.
type programChecker struct {
	argv      []string
	expect    string
	hasExpect bool
}

func newProgramChecker(p probe) (*programChecker, error) {
	argv := programArgv(p.program, p.addr.Addr().String(), strconv.Itoa(int(p.addr.Port())))
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: send_program %q: no command to run", ErrSpec, p.program)
	}
	return &programChecker{argv: argv, expect: p.expect, hasExpect: p.hasExpect}, nil
}

// programArgv splits line as nanny's external_check: strtok on " " (runs of
// spaces are one separator, tabs are not separators) and exact-token %h/%p.
func programArgv(line, host, port string) []string {
	var argv []string
	for _, tok := range strings.Split(line, " ") {
		switch tok {
		case "":
			continue
		case "%h":
			tok = host
		case "%p":
			tok = port
		}
		argv = append(argv, tok)
	}
	return argv
}

func (c *programChecker) Check(ctx context.Context) Result {
	out, ok, why := runProgram(ctx, c.argv)
	switch {
	case !ok && !c.hasExpect:
		return Result{Reason: why + "; no expect string set"}
	case !ok:
		return Result{OK: true, Reason: why + "; no output, counted as up as nanny did"}
	case !c.hasExpect:
		return Result{Reason: "program output " + quote([]byte(out)) + " but no expect string set"}
	case out != c.expect:
		return Result{Reason: "expect mismatch: program printed " + quote([]byte(out))}
	}
	return Result{OK: true}
}

// programOutMax is nanny's getExecOutput buffer (char buf[4096]) less the NUL.
const programOutMax = 4095

// programWaitDelay bounds how long Wait may block on the output pipe after
// the program was killed (a grandchild that left the group keeps it open).
const programWaitDelay = 500 * time.Millisecond

// runProgram is nanny's getExecOutput: run argv (found on PATH, as execvp),
// stdin and stderr on /dev/null, killed with its process group when ctx is
// done. ok is false when the program could not start, exited non-zero or was
// killed; why then says which. The output is the first 4095 bytes with the
// last byte chopped (the newline, or whatever byte came last) and cut at a
// NUL, as nanny's strdup of the buffer.
func runProgram(ctx context.Context, argv []string) (out string, ok bool, why string) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var buf capped
	cmd.Stdout = &buf
	cmd.WaitDelay = programWaitDelay
	killGroup(cmd)
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		return "", false, fmt.Sprintf("program %s killed at the timeout", argv[0])
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		if exit.Exited() {
			return "", false, fmt.Sprintf("program %s exited with status %d", argv[0], exit.ExitCode())
		}
		return "", false, fmt.Sprintf("program %s %v", argv[0], exit.ProcessState)
	case err != nil:
		return "", false, fmt.Sprintf("program %s could not run: %v", argv[0], err)
	}
	b := buf.b
	if len(b) >= 1 {
		b = b[:len(b)-1]
	}
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b), true, ""
}

// capped keeps the first programOutMax bytes written to it and drops the
// rest, so a chatty program neither blocks nor grows memory.
type capped struct{ b []byte }

func (c *capped) Write(p []byte) (int, error) {
	if room := programOutMax - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
