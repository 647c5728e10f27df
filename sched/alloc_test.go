package sched

import (
	"testing"

	"lvs/ipvs"
)

// Every Pick is allocation-free (lblc and lblcr once their cache chains
// have grown to hold the addresses seen).
func TestPickNoAllocs(t *testing.T) {
	fl := clientFlows(256)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			flags := ipvs.SchedFlag1 | ipvs.SchedFlag2
			f := newFixture(t, name, ipvs.SchedOptions{Flags: flags, Seed: 9}, 1, 2, 3, 4, 0, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3)
			f.overload("B")
			f.conns("C", 3, 1)
			s := f.svc()
			for i := range fl {
				s.Sched.Pick(s, &fl[i])
			}
			i := 0
			got := testing.AllocsPerRun(2000, func() {
				s.Sched.Pick(s, &fl[i%len(fl)])
				i++
			})
			if got != 0 {
				t.Errorf("%s Pick allocs = %v, want 0", name, got)
			}
		})
	}
}
