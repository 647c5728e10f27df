package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/prometheus/client_golang/prometheus"

	"lvs/admin/api"
	"lvs/admin/metrics"
	"lvs/config"
	"lvs/conntrack"
	"lvs/dataplane"
	"lvs/dataplane/afpacket"
	"lvs/dataplane/fastpath"
	"lvs/ha"
	"lvs/health"
	"lvs/ipvs"
	"lvs/sched"
)

// Run is lvsd's daemon mode: it reads lvs.cf, builds the service table,
// takes the VIPs and the nat_router address, keeps the kernel out of their
// traffic, runs one dataplane worker per core and interface, announces the
// addresses, keeps real servers' MACs resolved, and reloads on SIGHUP, until
// ctx ends. On the way out it releases everything it added to the kernel.
func Run(ctx context.Context, opts Options) error {
	log := opts.logger()
	l, err := load(opts)
	if err != nil {
		return err
	}
	if len(l.errs) > 0 {
		for _, e := range l.errs {
			log.Error(e.Error())
		}
		return fmt.Errorf("%s has %d errors (lvsd -t shows them all)", opts.configFile(), len(l.errs))
	}
	for _, w := range l.warnings {
		log.Warn(w.Error())
	}
	d, err := start(ctx, opts, l, log, machine)
	if err != nil {
		return err
	}
	ctx, stop := d.withDrain(ctx) // with BGP: withdraw, drain, then stop (bgp.go)
	defer stop()
	return d.run(ctx)
}

func (o Options) configFile() string {
	if o.ConfigFile == "" {
		return config.DefaultFile
	}
	return o.ConfigFile
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// lvsd is one running daemon. Everything it changes happens on the goroutine
// of run (the single writer); workers only read the published state.
type lvsd struct {
	opts  Options
	log   *slog.Logger
	cfg   *config.Config
	rules *config.Rules
	site  *site
	table *ipvs.Table
	ct    *conntrack.Table
	dp    *dataplane.Dataplane
	guard *KernelGuard
	// active: this router owns the VIPs. A router without a backup is
	// active alone; a pair's role machine (ha) decides otherwise.
	active bool
	ha     *ha.Runner // nil without a backup
	bgp    *announcer // nil without a bgp block (bgp.go)
	mesh   *syncMesh  // connection sync of the ECMP mode; nil without (bgp_sync.go)
	sync   *connSync  // nil without syncdaemon; replaced on a reload by the management goroutine (sync.go)
	// syncNow is sync for other goroutines (the metrics' HA status).
	syncNow atomic.Pointer[connSync]
	csync   *cfgSync // nil without a backup
	text    []byte   // the running lvs.cf's bytes (config sync)
	// haEv carries events to the role machine (forwardHA).
	haEv  chan ha.Event
	linkw linkWatch // monitor_links

	health *health.Runner
	hv     *healthView
	specs  map[health.Key]health.Spec

	reqs     chan func()          // API requests run on the management goroutine
	events   *api.EventLog        // keepalived-style event lines for the API
	metrics  *prometheus.Registry // this daemon's registry
	vsUp     map[string]bool      // virtual name → it had a real server up (event lines)
	lastRole string               // the last role line published
	api      net.Listener         // the control socket, nil when off
	web      net.Listener         // the admin HTTP listener, nil when off

	workers []*dataplane.Worker
	pp      packetPath           // serving an interface a reload adds (ports.go)
	links   []dataplane.MetaLink // every link, closed on the way out
	ctl     []dataplane.MetaLink // control-plane transmit link per port (ARP probes, GARP)
	rings   []ringLink           // the workers' receive links that keep ring statistics
	fast    *fastpath.FastPath   // the eBPF fast path; nil: every frame goes through the workers
	mode    string               // the dataplane mode, as reported (fastpath.go)
	// neighMoves is the neighbour tables' MAC changes the fast path has
	// followed (followMoves).
	neighMoves uint64
	// newFlowsFailing: the last SyncNewFlows failed (syncNewFlows).
	newFlowsFailing bool
	// adopted counts the flows the control loop adopts from the fast path
	// (the workers count theirs in their own Counters).
	adopted dataplane.Counters
	// fastStats is the fast path as loaded, for its counters: d.fast
	// goes nil when an interface refuses it, while /metrics may read.
	fastStats atomic.Pointer[fastpath.FastPath]
	// flowCeil and flowCeil6 are the entries growFlowMaps may grow the
	// fast path's flow maps to; resizing is set while it does,
	// flowResizes counts the times it did.
	flowCeil, flowCeil6 atomic.Int64
	resizing            atomic.Bool
	flowResizes         atomic.Uint64
	// withdrawLogged is the withdrawal failures syncNewFlows last logged,
	// withdrawLoggedAt when.
	withdrawLogged   uint64
	withdrawLoggedAt time.Time
}

// ringLink is a receive link with a packet ring's statistics (afpacket).
type ringLink interface {
	Stats() afpacket.Stats
	Interface() string
}

// host is what lvsd reads of, and changes in, the machine it runs on
// besides its packet links (which Options.Links can replace): its
// interfaces, its own addresses and the kernel guard. Run uses the real
// one (machine); tests give start a fake one, so that lvsd's own assembly
// runs on in-memory links without root.
type host struct {
	iface func(name string) (iface, error)
	addrs func() ([]netip.Prefix, error)
	guard func(context.Context, GuardSpec) (*KernelGuard, error)
}

// machine is the host lvsd runs on.
var machine = host{iface: lookupIface, addrs: localAddrs, guard: InstallGuard}

// start builds the daemon's state on host h and opens its links; it does
// not run workers yet.
func start(ctx context.Context, opts Options, l *loaded, log *slog.Logger, h host) (*lvsd, error) {
	d := &lvsd{opts: opts, log: log, cfg: l.cfg, rules: l.rules, text: l.text, reqs: make(chan func()),
		events: api.NewEventLog(256, nil), vsUp: map[string]bool{}, haEv: make(chan ha.Event, 64)}
	all, err := h.addrs()
	if err != nil {
		return nil, err
	}
	if d.site, err = buildSite(l.cfg, h.iface, all); err != nil {
		return nil, err
	}
	d.site.resolve()
	if d.ha, err = startRoles(l.cfg, all, log); err != nil {
		return nil, err
	}
	d.active = d.ha == nil
	if d.sync, err = startSync(pairOnly(l.cfg), all); err != nil {
		return nil, err
	}
	d.syncNow.Store(d.sync)
	if d.csync, err = startCfgSync(pairOnly(l.cfg), all, log); err != nil {
		d.sync.close()
		return nil, err
	}
	d.csync.set(d.text, d.cfg.Serial)
	d.csync.setActive(d.active)
	d.hv = newHealthView()
	reg := ipvs.NewRegistry()
	if d.table, err = Reconcile(ipvs.NewTable(reg, sched.New), d.hv.desired(l.cfg)); err != nil {
		return nil, fmt.Errorf("building the service table: %w", err)
	}
	d.health = health.NewRunner(health.Options{Logger: log})
	var errs []error
	if d.specs, errs = syncSpecs(d.health, nil, healthSpecs(l.cfg)); len(errs) > 0 {
		return nil, fmt.Errorf("setting up health checks: %w", errors.Join(errs...))
	}
	d.ct = conntrack.NewTable(reg, conntrack.Config{MaxEntries: l.cfg.MaxConns})
	d.applyTimeouts()
	d.dp = dataplane.New(d.site.ports, d.ct, d.state())
	links, backend, err := linkBackend(opts)
	if err != nil {
		return nil, err
	}
	d.pp.host, d.pp.links = h, links
	if err := d.openFastPath(backend); err != nil {
		return nil, err
	}
	if d.guard, err = h.guard(ctx, d.site.guardSpec(d.rules)); err != nil {
		d.close()
		return nil, err
	}
	if err := d.openLinks(links); err != nil {
		d.close()
		return nil, err
	}
	if err := d.attachFastPath(); err != nil {
		d.close()
		return nil, err
	}
	if err := d.listen(); err != nil {
		d.close()
		return nil, err
	}
	if err := d.startECMP(l.cfg, all); err != nil { // BGP speaker, sync mesh (bgp.go)
		d.close()
		return nil, err
	}
	return d, nil
}

// owned returns the addresses this router answers for in its role.
func (d *lvsd) owned() map[netip.Addr]int {
	if !d.active {
		return nil
	}
	return d.site.owned
}

// state is the dataplane state for the current table and site.
func (d *lvsd) state() *dataplane.State {
	return &dataplane.State{Table: d.table, Owned: dataplane.NewOwned(d.owned()),
		Class: classifier(d.rules, d.site), Routes: dataplane.NewRoutes(d.site.routes), Local: d.site.local, Local6: d.site.local6,
		NAT:         natState(d.cfg, d.rules, d.site), // masquerade and FTP helper (site.go)
		QuietNoDest: d.cfg.Redundancy == config.RedundancyECMP}
}

// applyTimeouts sets the connection timeouts of lvs.cf (0 keeps the IPVS
// default, as `ipvsadm --set`) and the IPVS-named settings.
func (d *lvsd) applyTimeouts() {
	d.ct.SetTimeouts(d.cfg.TCPTimeout, d.cfg.TCPFinTimeout, d.cfg.UDPTimeout)
	s := d.ct.Settings()
	s.ExpireNodestConn = d.cfg.ExpireNodestConn
	s.ExpireQuiescentTemplate = d.cfg.ExpireQuiescentTemplate
	s.ConnReuseMode = d.cfg.ConnReuseMode
	d.ct.SetSettings(s)
}

// openLinks opens, for each port, one receive link per worker (sharing the
// interface by fanout) and, for each worker, a transmit link to every port.
func (d *lvsd) openLinks(f LinkFactory) error {
	n := d.opts.Workers
	if n <= 0 {
		n = runtime.NumCPU()
	}
	for _, p := range d.site.ports {
		ctl, err := f.Transmit(p.Name)
		if err != nil {
			return err
		}
		d.ctl = append(d.ctl, ctl)
		d.links = append(d.links, ctl)
	}
	o := LinkOptions{BusyPoll: d.opts.BusyPoll, Shared: n > 1}
	for _, p := range d.site.ports {
		for range n {
			rx, err := f.Receive(p.Name, o)
			if err != nil {
				return err
			}
			d.links = append(d.links, rx)
			if r, ok := rx.(ringLink); ok {
				d.rings = append(d.rings, r)
			}
			tx := make([]dataplane.MetaLink, len(d.site.ports))
			for j, q := range d.site.ports {
				if j == p.Index {
					tx[j] = rx // a worker may write to its own receive link
					continue
				}
				if tx[j], err = f.Transmit(q.Name); err != nil {
					return err
				}
				d.links = append(d.links, tx[j])
			}
			d.workers = append(d.workers, dataplane.NewWorker(d.dp, p, rx, tx))
		}
	}
	return nil
}

// run starts the workers and the control loop and waits for ctx.
func (d *lvsd) run(ctx context.Context) error {
	defer d.close()
	g, gctx := errgroup.WithContext(ctx)
	d.pp.spawn = g.Go
	d.startWorkers()
	g.Go(func() error {
		<-gctx.Done()
		for _, l := range d.links {
			l.Close()
		}
		d.csync.close()
		return nil
	})
	g.Go(func() error { return d.health.Run(gctx) })
	d.metrics = metrics.NewMetrics(d)
	if c := controlErrors(d.metrics); c != nil {
		c.WithLabelValues(controlErrPanic) // exported at 0 from the start, for alert rules
	}
	d.registerBGP()
	if d.api != nil {
		g.Go(func() error { return d.serve(gctx, d.api, false) })
	}
	if d.web != nil {
		g.Go(func() error { return d.serve(gctx, d.web, true) })
	}
	if d.ha != nil {
		g.Go(func() error { return d.ha.Run(gctx) })
		g.Go(func() error { return d.forwardHA(gctx) })
	}
	if d.csync != nil {
		g.Go(func() error { return d.csync.run(gctx, d.applySynced) })
	}
	if d.sync != nil {
		g.Go(d.sync.recv.Run)
	}
	g.Go(func() error { return d.mesh.run(gctx, d.ct) })
	g.Go(func() error {
		err := d.control(gctx)
		d.sync.close() // here: the control loop replaces it on a reload (sync.go)
		return err
	})
	d.log.Info("lvsd running", "dataplane", d.mode, "services", len(d.table.Services()), "workers", len(d.workers),
		"interfaces", len(d.site.ports), "owned", len(d.site.owned))
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// listen opens the control socket and the admin HTTP listener.
func (d *lvsd) listen() error {
	var err error
	if d.opts.Socket != "off" {
		path := d.opts.Socket
		if path == "" {
			path = api.DefaultSocket
		}
		if d.api, err = api.Listen(path); err != nil {
			return fmt.Errorf("opening the control socket: %w", err)
		}
	}
	if d.opts.Admin != "off" {
		addr := d.opts.Admin
		if addr == "" {
			addr = DefaultAdmin
		}
		if _, err := d.opts.allowList(); err != nil {
			return fmt.Errorf("--admin-allow: %w", err)
		}
		if d.web, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("opening the admin listener on %s: %w", addr, err)
		}
		if d.opts.AdminCert != "" || d.opts.AdminKey != "" {
			cert, err := tls.LoadX509KeyPair(d.opts.AdminCert, d.opts.AdminKey)
			if err != nil {
				d.web.Close()
				d.web = nil
				return fmt.Errorf("loading the admin listener's TLS certificate: %w", err)
			}
			d.web = tls.NewListener(d.web, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
	}
	return nil
}

// DefaultAdmin is where lvsd serves the web tool, /metrics and the admin
// API: the port of the Piranha Configuration Tool on every address, with
// the --admin-allow list (default: loopback only) checked first.
const DefaultAdmin = ":3636"

// close releases the links, the listeners and the kernel guard.
func (d *lvsd) close() {
	if d.fast != nil {
		// First: frames go back to the kernel guard and the sockets.
		if err := d.fast.Close(); err != nil {
			d.log.Error("removing the eBPF fast path", "err", err)
		}
	}
	for _, l := range []net.Listener{d.api, d.web} {
		if l != nil {
			l.Close()
		}
	}
	for _, l := range d.links {
		l.Close()
	}
	d.csync.close()
	if d.guard != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.guard.Remove(ctx); err != nil {
			d.log.Error("removing the kernel guard", "err", err)
		}
	}
}

// localAddrs lists the kernel's own IPv4 and IPv6 addresses on every
// interface (an IPv6 heartbeat address finds its router among them).
func localAddrs() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing local addresses: %w", err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && (ip.Unmap().Is4() || ip.Is6()) {
				ones, _ := n.Mask.Size()
				out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
	}
	return out, nil
}

// classifier compiles the firewall-mark rules for the site's ports.
func classifier(r *config.Rules, s *site) *dataplane.Classifier {
	if r == nil {
		return dataplane.NewClassifier(nil)
	}
	var rules []dataplane.MarkRule
	for _, m := range r.Marks {
		rules = append(rules, dataplane.MarkRule{Proto: uint8(m.Proto), Src: m.Src, Dst: m.Dst,
			SPortLo: m.SPortLo, SPortHi: m.SPortHi, DPortLo: m.DPortLo, DPortHi: m.DPortHi, InPort: s.ruleIface(m.Iface), Mark: m.Mark, IPv6: m.IPv6})
	}
	return dataplane.NewClassifier(rules)
}
