//go:build linux

package bench

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestProgStats: over a window in which a program named as lvsd's fast
// path runs 1,000 times (BPF_PROG_TEST_RUN) and another program runs
// too, --prog-stats counts the 1,000 runs and their time, not the other's.
func TestProgStats(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root (BPF)")
	}
	load := func(name string) *ebpf.Program {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: ebpf.SocketFilter, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
		if err != nil {
			t.Skipf("skipped: cannot load a program: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	fast, other := load("lvs_fastpath"), load("lvs_other")
	p, err := startProgStats()
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	p.read(0)
	data := make([]byte, 64)
	if _, err := fast.Run(&ebpf.RunOptions{Data: data, Repeat: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Run(&ebpf.RunOptions{Data: data, Repeat: 500}); err != nil {
		t.Fatal(err)
	}
	p.read(1)
	if runs := p.at[1].runs - p.at[0].runs; runs != 1000 {
		t.Errorf("counted %d runs, want 1000", runs)
	}
	if ns := p.end(); ns <= 0 || ns > 1e6 {
		t.Errorf("run time per run %v ns", ns)
	}
	var none *progStatsRun // not asked for
	none.read(0)
	if none.end() != 0 {
		t.Error("a nil measurement reported a figure")
	}
}
