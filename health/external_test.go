package health

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable /bin/sh script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExternalProgram(t *testing.T) {
	dir := t.TempDir()
	okProg := script(t, dir, "ok", `echo OK`)
	failProg := script(t, dir, "fail", `echo FAIL`)
	noNL := script(t, dir, "nonl", `printf OK`)
	exit2 := script(t, dir, "exit2", `echo OK; exit 2`)
	sleeper := script(t, dir, "sleeper", `echo OK; exec sleep 30`)
	args := script(t, dir, "args", `echo "$1 $2 $3 $#"`)
	nul := script(t, dir, "nul", `printf 'OK\000junk\n'`)
	addr := netip.MustParseAddrPort("127.0.0.1:8443")
	tests := []struct {
		name    string
		program string
		expect  string
		ok      bool
		reason  string
	}{
		{"output equals expect", okProg, "OK", true, ""},
		{"output differs", failProg, "OK", false, `expect mismatch: program printed "FAIL"`},
		{"last byte chopped even without newline", noNL, "OK", false, `printed "O"`},
		{"cut at NUL", nul, "OK", true, ""},
		{"no expect: down even on success", okProg, "", false, `program output "OK" but no expect string set`},
		{"non-zero exit with expect: up (nanny quirk)", exit2, "OK", true, "exited with status 2; no output, counted as up"},
		{"non-zero exit without expect: down", exit2, "", false, "exited with status 2; no expect string set"},
		{"killed at timeout with expect: up (nanny quirk)", sleeper, "OK", true, "killed at the timeout"},
		{"killed at timeout without expect: down", sleeper, "", false, "killed at the timeout"},
		{"%h and %p replaced, exact tokens only", args + "  %h %p x%h", "127.0.0.1 8443 x%h 3", true, ""},
		{"missing program", filepath.Join(dir, "missing") + " %h", "OK", true, "could not run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Spec{Addr: addr, VPort: 443, SendProgram: tt.program, Expect: tt.expect, Send: "ignored"}
			timeout := 5 * time.Second // generous: a shell script on a busy machine
			if tt.program == sleeper {
				timeout = 300 * time.Millisecond
			}
			start := time.Now()
			wantResult(t, tt.name, runCheck(t, s, timeout), tt.ok, tt.reason)
			if d := time.Since(start); tt.program == sleeper && d > 3*time.Second {
				t.Errorf("check took %v; the program should be killed at the 300ms timeout", d)
			}
		})
	}
}

func TestProgramArgv(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"/bin/testlink %h", []string{"/bin/testlink", "10.0.0.1"}},
		{"/usr/local/bin/check_https %h %p", []string{"/usr/local/bin/check_https", "10.0.0.1", "443"}},
		{"  a   b  ", []string{"a", "b"}},
		{"a\tb %h:%p", []string{"a\tb", "%h:%p"}},
		{"   ", nil},
	}
	for _, tt := range tests {
		if got := programArgv(tt.line, "10.0.0.1", "443"); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("programArgv(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
	if _, err := NewChecker(Spec{SendProgram: "   "}); err == nil {
		t.Error("NewChecker(send_program of blanks) succeeded, want ErrSpec")
	}
}

// TestExternalKillsProcessGroup checks that a program's children die with
// it at the timeout.
func TestExternalKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	prog := script(t, dir, "forker", `sleep 30 & echo $! > `+pidFile+`; wait`)
	s := Spec{Addr: netip.MustParseAddrPort("127.0.0.1:1"), SendProgram: prog, Expect: "x"}
	c, err := NewChecker(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	res := c.Check(ctx)
	wantResult(t, "forker", res, true, "killed at the timeout")
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("Check took %v, want about the 1s timeout", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the background child to die", func() bool { return !alive(pid) })
}

// alive reports whether pid exists and is not a zombie (an orphan may wait
// for a reaper that a container lacks).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
