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

// TestFlowMapGrowsUnderMemoryLimit: in a memory cgroup too small for the
// default flow map's ceiling (the maps are charged to lvsd's cgroup, while
// the ceiling follows the machine's memory), lvsd halves the map it
// reserves at start until the kernel takes it, keeps its fast path, and
// grows to that map. Opening and growing run in a child process
// (this test binary again) placed in a cgroup v1 memory group limited to
// 256 MiB before it allocates.
func TestFlowMapGrowsUnderMemoryLimit(t *testing.T) {
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlowMapGrowsUnderMemoryLimit$")
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
	t.Log(text)
	if strings.Contains(text, "full map grown") {
		t.Skipf("skipped: the kernel did not charge the map to the cgroup\n%s", text)
	}
	if !strings.Contains(text, "trying half") || !strings.Contains(text, "grown to") {
		t.Errorf("want the reserved map halved until the kernel took it, then grown to; child said:\n%s", text)
	}
}

// flowMapChild is the child's side: wait to be placed, open the fast path
// as lvsd does, grow its IPv4 map as lvsd does for a table full of
// connections, say what happened.
func flowMapChild() {
	bufio.NewReader(os.Stdin).ReadString('\n')
	d := &lvsd{log: slog.New(slog.NewTextHandler(os.Stdout, nil))}
	fp, err := d.openFlowMaps()
	if err != nil {
		fmt.Printf("open failed: %v\n", err)
		os.Exit(1)
	}
	start, _ := fp.Capacity()
	for {
		c4, c6 := fp.Capacity()
		n4 := nextFlowMap(1<<30, c4, int(d.flowCeil.Load()))
		if n4 == 0 {
			break
		}
		d.resizeFlowMaps(fp, c4, c6, n4, 0)
	}
	switch got, _ := fp.Capacity(); {
	case got == 2*DefaultFlowMap():
		fmt.Printf("full map grown: %d entries\n", got)
	case got > start:
		fmt.Printf("grown to %d entries from %d, of %d\n", got, start, 2*DefaultFlowMap())
	default:
		fmt.Printf("not grown from %d entries\n", start)
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

// TestNextFlowMap: a map grows to its ceiling once the connections could
// fill an eighth of its entries (two each), and not before.
func TestNextFlowMap(t *testing.T) {
	tests := []struct{ flows, size, ceiling, want int }{
		{0, 1 << 18, 2468378, 0},
		{1 << 14, 1 << 18, 2468378, 0},         // an eighth: not yet
		{1<<14 + 1, 1 << 18, 2468378, 2468378}, // past it: the ceiling at once
		{1 << 22, 2468378, 2468378, 0},         // at the ceiling
		{1 << 22, 1 << 18, 1 << 17, 0},         // above a ceiling lowered below it
	}
	for _, tt := range tests {
		if got := nextFlowMap(tt.flows, tt.size, tt.ceiling); got != tt.want {
			t.Errorf("nextFlowMap(%d, %d, %d) = %d, want %d", tt.flows, tt.size, tt.ceiling, got, tt.want)
		}
	}
}
