package daemon

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"lvs/config"
	"lvs/dataplane"
)

// A reload (SIGHUP, the API, config sync) whose lvs.cf puts a VIP or
// nat_router on an interface lvsd does not serve yet makes lvsd serve it
// without a restart: the new port is appended after the others (their
// indexes, which connections and routes carry, stay), the workers stop,
// every port's links are opened again for the longer port list and the
// workers start over the same connection table, counters and published
// state. Frames that reach the old links while they are swapped are lost,
// as on a link flap; established connections keep their entries.

// packetPath is what swapping the packet path needs beyond what start
// builds: the host and link factory to open a new port with, how to run a
// worker in the daemon's group, and the lock that lets the metrics read
// the workers and rings while a reload replaces them.
type packetPath struct {
	host  host
	links LinkFactory
	spawn func(func() error) // runs a worker where its error ends lvsd (run's group)
	done  []chan struct{}    // per running worker: closed when its Run returned

	// mu guards d.workers and d.rings against the metrics' readers. The
	// management goroutine, the only writer, reads them without it.
	mu sync.RWMutex
	// stopped is how many of d.workers (the first ones) no longer run:
	// they stay listed so their counters, and their rings', keep counting.
	stopped int
}

// startWorkers runs every worker that has not run yet.
func (d *lvsd) startWorkers() {
	for _, w := range d.workers[d.pp.stopped+len(d.pp.done):] {
		done := make(chan struct{})
		d.pp.done = append(d.pp.done, done)
		d.pp.spawn(func() error {
			defer close(done)
			d.workerThread()
			return w.Run()
		})
	}
}

// grownSite plans cfg as site.plan does, on the running ports and a new
// port for each interface cfg names that lvsd does not serve yet.
func (d *lvsd) grownSite(cfg *config.Config) (*site, error) {
	served := d.site.names()
	var add []iface
	for _, n := range interfaceNames(cfg) {
		if slices.Contains(served, n) {
			continue
		}
		ifc, err := d.pp.host.iface(n)
		if err != nil {
			return nil, fmt.Errorf("serving interface %s: %w", n, err)
		}
		add = append(add, ifc)
	}
	if len(add) == 0 {
		return d.site.plan(cfg)
	}
	all, err := d.pp.host.addrs()
	if err != nil {
		return nil, fmt.Errorf("serving interface %s: %w", add[0].name, err)
	}
	// The running site's maps are read by the workers: the new site gets
	// its own.
	b := &site{ports: slices.Clone(d.site.ports), local: maps.Clone(d.site.local), local6: maps.Clone(d.site.local6),
		kernelRoutes: slices.Clone(d.site.kernelRoutes), wake: d.site.wake}
	for _, ifc := range add {
		b.addPort(ifc)
	}
	b.addLocal(all)
	return b.plan(cfg)
}

// servePorts makes the packet path serve the ports of s, which extend the
// running ones (grownSite): the workers stop, the dataplane takes the
// longer list and every port's links are opened again with their
// workers, and the fast path is attached to the new ports. It runs on the
// management goroutine before the state naming the new ports is
// published, and leaves s as d.site. On an error the packet path serves
// the ports it served before.
func (d *lvsd) servePorts(s *site) error {
	old, oldSite := d.dp.Ports, d.site
	d.stopWorkers()
	d.dp.Ports, d.site = s.ports, s // openLinks opens d.site's ports
	err := d.reopenLinks()
	if err != nil {
		d.stopWorkers()
		d.dp.Ports, d.site = old, oldSite
		if err2 := d.reopenLinks(); err2 != nil {
			return fmt.Errorf("%w; reopening the old ports: %w", err, err2)
		}
		return err
	}
	if d.fast != nil {
		for _, p := range s.ports[len(old):] {
			if err := d.fast.Attach(p.Ifindex); err != nil {
				d.log.Warn("eBPF fast path not attached to a new interface; its frames go through the workers",
					"interface", p.Name, "err", err)
			}
		}
	}
	d.log.Info("serving new interfaces without a restart", "interfaces", d.names(s.ports[len(old):]), "workers", len(d.workers)-d.pp.stopped)
	return nil
}

// stopWorkers closes every link and waits for the running workers to
// return.
func (d *lvsd) stopWorkers() {
	for _, l := range d.links {
		l.Close()
	}
	for _, done := range d.pp.done {
		<-done
	}
	d.pp.mu.Lock()
	d.pp.stopped += len(d.pp.done)
	d.pp.mu.Unlock()
	d.pp.done = nil
	d.links, d.ctl = nil, nil
}

// reopenLinks opens links and workers for every port of the dataplane and
// starts the workers. The new workers are listed after the stopped ones.
func (d *lvsd) reopenLinks() error {
	d.pp.mu.Lock()
	err := d.openLinks(d.pp.links)
	if err != nil {
		d.pp.stopped = len(d.workers) - len(d.pp.done) // those opened never run
	}
	d.pp.mu.Unlock()
	if err != nil {
		for _, l := range d.links {
			l.Close()
		}
		d.links, d.ctl = nil, nil
		return err
	}
	d.startWorkers()
	return nil
}

// names lists the names of ports.
func (d *lvsd) names(ports []*dataplane.Port) []string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		out = append(out, p.Name)
	}
	return out
}
