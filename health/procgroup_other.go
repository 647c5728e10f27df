//go:build !unix

package health

import "os/exec"

// killGroup leaves exec.CommandContext's default, killing the process
// alone: there are no process groups to kill here.
func killGroup(cmd *exec.Cmd) {}
