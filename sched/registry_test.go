package sched

import (
	"testing"

	"lvs/config"
	"lvs/ipvs"
)

// Every scheduler name lvs.cf accepts makes a scheduler of that name, and
// nothing else does: config's list is the only one.
func TestEveryNameHasAScheduler(t *testing.T) {
	for _, name := range config.SchedulerNames() {
		s, err := New(name, ipvs.SchedOptions{})
		if err != nil || s.Name() != name {
			t.Errorf("New(%q) = %v, %v; want a scheduler named %q", name, s, err, name)
		}
	}
	for _, name := range []string{"", "WLC", "fastest", "sched-99"} {
		s, err := New(name, ipvs.SchedOptions{})
		if name == "" {
			if err != nil || s.Name() != Default {
				t.Errorf("New(\"\") = %v, %v; want %s", s, err, Default)
			}
			continue
		}
		if err == nil {
			t.Errorf("New(%q) = %v, want an error", name, s.Name())
		}
	}
	if got, want := len(Names()), len(config.SchedulerNames()); got != want {
		t.Errorf("Names() has %d schedulers, config %d", got, want)
	}
}
