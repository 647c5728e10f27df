package bench

import (
	"io"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// progStatsRun measures lvsd's fast-path program over one UDP window
// (--prog-stats): the kernel's BPF run-time statistics, switched on for
// the window only (BPF_ENABLE_STATS holds them on while its descriptor is
// open), give every program's total run time and run count; the figure
// is the total over the lvs_fastpath programs (the ECMP mode's two
// directors each have one) between the window's edges, per run: one run
// per frame the program saw, both directions and the frames it passed on
// to lvsd's sockets included. nil when not asked for or not an lvsd
// contender: its methods then do nothing.
type progStatsRun struct {
	stats io.Closer
	at    [2]progTotals
}

type progTotals struct{ ns, runs uint64 }

// progStats starts the measurement for contender c's window of kind hook
// (duringSaturation or duringFixed; the overload and scaling windows, "",
// are not measured).
func (r *runner) progStats(c contender, hook string) *progStatsRun {
	if !r.o.ProgStats || hook == "" || c.process() == nil {
		return nil
	}
	p, err := startProgStats()
	if err != nil {
		r.notes = append(r.notes, "--prog-stats: "+err.Error())
		return nil
	}
	return p
}

func startProgStats() (*progStatsRun, error) {
	s, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, err
	}
	return &progStatsRun{stats: s}, nil
}

// read takes the totals at the window's start (0) or end (1).
func (p *progStatsRun) read(edge int) {
	if p == nil {
		return
	}
	var t progTotals
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // gone meanwhile
		}
		if info, err := prog.Info(); err == nil && info.Name == "lvs_fastpath" {
			if st, err := prog.Stats(); err == nil {
				t.ns += uint64(st.Runtime)
				t.runs += st.RunCount
			}
		}
		prog.Close()
	}
	p.at[edge] = t
}

// end switches the statistics off and returns the run time per run over
// the window, 0 when nothing ran.
func (p *progStatsRun) end() float64 {
	if p == nil {
		return 0
	}
	p.stats.Close()
	runs := p.at[1].runs - p.at[0].runs
	if runs == 0 || p.at[1].runs < p.at[0].runs {
		return 0
	}
	return float64(p.at[1].ns-p.at[0].ns) / float64(runs)
}
