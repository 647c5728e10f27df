package sched

import (
	"fmt"
	"slices"
	"strings"

	"lvs/ipvs"
)

// constructors maps every scheduler name ipvsadm -s accepts to its
// constructor, as the kernel's register_ip_vs_scheduler list does.
var constructors = map[string]func(ipvs.SchedOptions) (ipvs.Scheduler, error){
	"rr":    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewRR(), nil },
	"wrr":   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewWRR(), nil },
	"lc":    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return LC{}, nil },
	"wlc":   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return WLC{}, nil },
	"sed":   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return SED{}, nil },
	"nq":    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NQ{}, nil },
	"fo":    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return FO{}, nil },
	"ovf":   func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return OVF{}, nil },
	"lblc":  func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewLBLC(o), nil },
	"lblcr": func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewLBLCR(o), nil },
	"dh":    func(ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewDH(), nil },
	"sh":    func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewSH(o), nil },
	"mh":    func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewMH(o) },
	"twos":  func(o ipvs.SchedOptions) (ipvs.Scheduler, error) { return NewTwoS(o), nil },
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
	mk, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("unknown scheduler %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	return mk(opts)
}

// Names returns every scheduler name New accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
