package procstat

import (
	"os"
	"os/exec"
	"testing"
)

func TestAlive(t *testing.T) {
	state, start, ok := Stat(os.Getpid())
	if !ok || start == 0 || state == 'Z' {
		t.Fatalf("Stat(self) = %c %d %v", state, start, ok)
	}
	if !Alive(os.Getpid(), start) || !Alive(os.Getpid(), 0) {
		t.Error("Alive(self) = false")
	}
	if Alive(os.Getpid(), start+1) {
		t.Error("Alive(self, another start time) = true: a reused PID must count as dead")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	if Alive(cmd.Process.Pid, 0) {
		t.Error("Alive(reaped child) = true")
	}
	if Alive(0, 0) || Alive(-1, 0) {
		t.Error("Alive of a non-positive PID = true")
	}
}
