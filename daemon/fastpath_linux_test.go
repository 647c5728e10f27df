package daemon

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"lvs/internal/testutil"
)

// TestFlowMapHalvesUnderMemoryLimit: in a memory cgroup too small for the
// default flow map (the map is charged to lvsd's cgroup, while the default
// follows the machine's memory), lvsd halves the map until the kernel
// takes it instead of losing the fast path. The opening runs in a child
// process (this test binary again) placed in a cgroup v1 memory group
// limited to 256 MiB before it allocates.
func TestFlowMapHalvesUnderMemoryLimit(t *testing.T) {
	const limitBytes = 256 << 20
	if os.Getenv("LVS_FLOWMAP_CHILD") != "" {
		flowMapChild()
		return
	}
	testutil.RequireRoot(t)
	if DefaultFlowMap()*2*flowMapEntryBytes <= limitBytes {
		t.Skip("skipped: the default flow map fits the limit on this machine")
	}
	parent := memoryCgroup(t)
	cg := filepath.Join(parent, fmt.Sprintf("lvs-flowmap-test-%d", os.Getpid()))
	os.Remove(cg) // a crashed run's, empty
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Skipf("skipped: cannot create a memory cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(cg) })
	if err := os.WriteFile(filepath.Join(cg, "memory.limit_in_bytes"), []byte(strconv.Itoa(limitBytes)), 0o644); err != nil {
		t.Skipf("skipped: cannot limit the cgroup: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlowMapHalvesUnderMemoryLimit$")
	cmd.Env = append(os.Environ(), "LVS_FLOWMAP_CHILD=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // by PID: the child this test started
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("moving the child into %s: %v", cg, err)
	}
	io.WriteString(in, "go\n")
	in.Close()
	err = cmd.Wait()
	text := out.String()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, text)
	}
	if strings.Contains(text, "full map opened") {
		t.Skipf("skipped: the kernel did not charge the map to the cgroup\n%s", text)
	}
	if !strings.Contains(text, "trying half") || !strings.Contains(text, "opened with") {
		t.Errorf("want the map halved until it opened; child said:\n%s", text)
	}
}

// flowMapChild is the child's side: wait to be placed, open the default
// flow map as lvsd does, say what happened.
func flowMapChild() {
	bufio.NewReader(os.Stdin).ReadString('\n')
	d := &lvsd{log: slog.New(slog.NewTextHandler(os.Stdout, nil))}
	fp, flows, err := d.openFlowMap()
	switch {
	case err != nil:
		fmt.Printf("open failed at %d connections: %v\n", flows, err)
		os.Exit(1)
	case flows == DefaultFlowMap():
		fmt.Printf("full map opened: %d connections\n", flows)
	default:
		fmt.Printf("opened with %d connections of %d\n", flows, DefaultFlowMap())
	}
	fp.Close()
	os.Exit(0)
}

// memoryCgroup is this process's cgroup v1 memory group, or the test is
// skipped.
func memoryCgroup(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && f[1] == "memory" {
			dir := filepath.Join("/sys/fs/cgroup/memory", f[2])
			if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
				return dir
			}
		}
	}
	t.Skip("skipped: no cgroup v1 memory controller")
	return ""
}
