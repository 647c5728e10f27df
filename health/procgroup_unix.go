//go:build unix

package health

import (
	"os/exec"
	"syscall"
)

// killGroup starts cmd in a process group of its own and makes the
// context's cancellation kill the whole group with SIGKILL, so a check
// script's children die with it (nanny killed only the child it forked).
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
