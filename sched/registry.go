package sched

import (
	"fmt"
	"slices"
	"strings"

	"lvs/config"
	"lvs/ipvs"
)

// constructors maps every scheduler lvs.cf and ipvsadm -s name to its
// constructor, as the kernel's register_ip_vs_scheduler list does. The
// names themselves are config's (config.SchedulerNames, the one list that
// lvsd -t, lvsadm and the web tool check against); a scheduler config
// names without a constructor here fails TestEveryNameHasAScheduler.
var constructors = [...]func(ipvs.SchedOptions) (ipvs.Scheduler, error){
	config.SchedRR:    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewRR(), nil },
	config.SchedWRR:   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewWRR(), nil },
	config.SchedLC:    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return LC{}, nil },
	config.SchedWLC:   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return WLC{}, nil },
	config.SchedSED:   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return SED{}, nil },
	config.SchedNQ:    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NQ{}, nil },
	config.SchedFO:    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return FO{}, nil },
	config.SchedOVF:   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return OVF{}, nil },
	config.SchedLBLC:  func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewLBLC(o), nil },
	config.SchedLBLCR: func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewLBLCR(o), nil },
	config.SchedDH:    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewDH(), nil },
	config.SchedSH:    func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewSH(o), nil },
	config.SchedMH:    func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewMH(o) },
	config.SchedTWOS:  func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewTwoS(o), nil },
}

// Default is the scheduler ipvsadm and Piranha use when none is named.
const Default = "wlc"

// New makes the scheduler called name with the given options. Its signature
// is ipvs.SchedulerFactory, so a Table takes it directly:
//
//	ipvs.NewTable(ipvs.NewRegistry(), sched.New)
//
// An empty name means Default, as ipvsadm -A without -s. Names are
// case-sensitive, as ip_vs_sched_getbyname's strcmp; an unknown name is an
// error that lists the valid ones.
func New(name string, opts ipvs.SchedOptions) (ipvs.Scheduler, error) {
	if name == "" {
		name = Default
	}
	s, ok := config.ParseScheduler(name)
	if !ok || int(s) >= len(constructors) || constructors[s] == nil {
		return nil, fmt.Errorf("unknown scheduler %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	return constructors[s](opts)
}

// Names returns every scheduler name New accepts, sorted.
func Names() []string {
	names := config.SchedulerNames()
	slices.Sort(names)
	return names
}
