package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"lvs/internal/netlab"
)

// Site is one topology built in network namespaces: a switch namespace with
// a bridge per segment, a namespace per node, and the processes running in
// them. Every name carries the run-unique prefix lvssim-ID-.
type Site struct {
	ID         string
	Prefix     string // namespace prefix: lvssim-ID-
	linkPrefix string // link prefix in the switch namespace: lvID (IFNAMSIZ is 15)
	Topo       *Topology
	Dir        string // run dir: lvs.cf, service configs, logs
	Bins       *Bins
	Router     RouterImpl
	log        io.Writer

	lab   *netlab.Lab
	sw    *netlab.NS
	nodes map[string]*netlab.NS

	mu    sync.Mutex // guards procs
	procs []*Proc

	notes []string // for the report: lvsd -t verdicts, lvs.cf warnings

	ecmp ecmpState // the ECMP drills' state between steps (ecmp_cut.go)

	answered, failed atomic.Int64 // requests so far, for the progress line
}

// SiteOptions configure NewSite.
type SiteOptions struct {
	Dir    string    // run dir; created if empty
	Bins   *Bins     // real binaries (BuildBinaries)
	Router string    // auto, lvsd or kernel; "" takes the topology's router.impl
	Keep   bool      // the site outlives this process (lvssim up)
	Log    io.Writer // progress lines; nil discards
}

// NewSite builds t: sweeps leftovers of crashed runs, creates the
// namespaces, links and addresses, starts the services and the router
// implementation. On error everything built so far is removed.
func NewSite(ctx context.Context, t *Topology, o SiteOptions) (s *Site, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	id := netlab.NewID()
	s = &Site{
		ID: id, Prefix: NamePrefix + id + "-", linkPrefix: "lv" + id,
		Topo: t, Bins: o.Bins, log: o.Log, nodes: map[string]*netlab.NS{},
	}
	if s.log == nil {
		s.log = io.Discard
	}
	if s.Dir = o.Dir; s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "lvssim-run-"+id+"-"); err != nil {
			return nil, err
		}
	}
	os.Chmod(s.Dir, 0o755) // vsftpd and nginx workers read their files under it
	if err := os.MkdirAll(filepath.Join(s.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	// The state file, written before anything is created; New first sweeps
	// the leftovers of crashed runs.
	s.lab, err = sites.New(netlab.Options{ID: id, Kept: o.Keep, Label: t.File, Dir: s.Dir})
	if err != nil {
		if o.Dir == "" {
			os.RemoveAll(s.Dir)
		}
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
			s = nil
		}
	}()
	impl := o.Router
	if impl == "" {
		impl = t.Router.Impl
	}
	var lvsd string
	if o.Bins != nil {
		lvsd = o.Bins.LVSD
	}
	var cfg = t.Site
	if cfg != nil {
		if s.Router, err = chooseRouter(impl, cfg.Config, lvsd); err != nil {
			return s, err
		}
	}
	s.logf("building site %s (%s) in namespaces %s*", t.Name, t.File, s.Prefix)
	if err := s.buildNetwork(); err != nil {
		return s, fmt.Errorf("building network: %w", err)
	}
	if err := s.startServices(ctx); err != nil {
		return s, fmt.Errorf("starting services: %w", err)
	}
	if cfg != nil {
		if err := s.checkLVSConf(ctx); err != nil {
			return s, err
		}
	}
	if s.Router != nil {
		s.logf("router: %s", s.Router.Label())
		if err := s.Router.Start(ctx, s); err != nil {
			return s, fmt.Errorf("starting router (%s): %w", s.Router.Name(), err)
		}
	}
	return s, nil
}

// ErrNotRoot is returned when lvssim is not run as root.
var ErrNotRoot = errors.New("lvssim needs root (it creates network namespaces); run it with sudo")

// Close stops every process and deletes every namespace of the site and its
// state file. It is safe to call more than once.
func (s *Site) Close() error {
	s.mu.Lock()
	s.procs = nil
	s.mu.Unlock()
	s.nodes = map[string]*netlab.NS{}
	s.sw = nil
	return s.lab.Close()
}

func (s *Site) logf(format string, args ...any) {
	fmt.Fprintf(s.log, format+"\n", args...)
}

// writeFile writes a file into the run dir and returns its path.
func (s *Site) writeFile(name string, data []byte) (string, error) {
	p := filepath.Join(s.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	return p, nil
}

// Namespace returns the namespace name of a node.
func (s *Site) Namespace(node string) string { return s.Prefix + node }

// checkLVSConf writes the routers' lvs.cf (config.Format of the parsed
// file) into the run dir and, when lvsd is built, has the real binary check
// it inside each router namespace (lvsd -t), as an administrator would.
func (s *Site) checkLVSConf(ctx context.Context) error {
	cf, err := s.writeFile("lvs.cf", s.Topo.Site.Text)
	if err != nil {
		return err
	}
	for _, w := range s.Topo.Site.Config.Warnings {
		s.notes = append(s.notes, "lvs.cf warning: "+w.Error())
	}
	if s.Bins == nil || s.Bins.LVSD == "" {
		return nil
	}
	for _, n := range s.Topo.Routers() {
		out, err := s.nodes[n.Name].Run(ctx, "", s.Bins.LVSD, "-t", "-f", cf)
		if err != nil {
			return fmt.Errorf("lvsd -t rejects the site's lvs.cf on %s: %w", n.Name, err)
		}
		s.notes = append(s.notes, fmt.Sprintf("lvsd -t -f lvs.cf on %s: %s", n.Name, firstLine(out)))
	}
	return nil
}
