package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"lvs/internal/procstat"
)

// Options are the flags of the lvssim commands.
type Options struct {
	Topology string    // file path or shipped name; "" is the default site (nat)
	Router   string    // auto, lvsd or kernel; "" takes the topology's router.impl
	Out      string    // report dir; "" is a new dir under the system temp dir
	JSON     bool      // print the JSON report instead of the summary
	BinDir   string    // prebuilt lvssim/lvsd/lvsadm; "" builds them with go build
	Site     string    // exec/down: site ID when several are up
	Stdout   io.Writer // summary, JSON
	Stderr   io.Writer // progress lines
}

// ErrAssertions is returned by Run when an assertion failed.
var ErrAssertions = errors.New("assertions failed")

func (o *Options) defaults() {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Router != "" && o.Router != "auto" && o.Router != "lvsd" && o.Router != "kernel" {
		o.Router = "invalid:" + o.Router
	}
}

// Run builds the site, runs its scenario, writes the reports, prints the
// summary and tears everything down. It returns ErrAssertions when an
// assertion failed.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	if strings.HasPrefix(o.Router, "invalid:") {
		return nil, fmt.Errorf("--router %s: expected auto, lvsd or kernel", strings.TrimPrefix(o.Router, "invalid:"))
	}
	t, err := LoadTopology(o.Topology)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	log := NewConsole(o.Stderr)
	runDir, err := os.MkdirTemp("", "lvssim-run-")
	if err != nil {
		return nil, err
	}
	keep := false // the run dir's logs and configs stay when something failed
	defer func() {
		if !keep {
			os.RemoveAll(runDir)
		}
	}()
	start := time.Now()
	fmt.Fprintf(log, "building lvssim, lvsd and lvsadm ...\n")
	bins, err := binaries(o.BinDir, filepath.Join(runDir, "bin"))
	if err != nil {
		return nil, err
	}
	s, err := NewSite(ctx, t, SiteOptions{Dir: runDir, Bins: bins, Router: o.Router, Log: log})
	if err != nil {
		keep = true
		return nil, fmt.Errorf("building site %s: %w (logs in %s)", t.Name, err, runDir)
	}
	setup := time.Since(start)
	r := s.RunScenario(ctx)
	r.Setup = setup
	closeErr := s.Close()
	if ctx.Err() != nil {
		return r, fmt.Errorf("interrupted: %w", errors.Join(ctx.Err(), closeErr))
	}
	out := o.Out
	if out == "" {
		out = filepath.Join(os.TempDir(), "lvssim-report-"+t.Name+"-"+s.ID)
	}
	if err := WriteReports(out, r); err != nil {
		return r, err
	}
	if o.JSON {
		j, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(o.Stdout, "%s\n", j)
	} else {
		fmt.Fprint(o.Stdout, Summary(r, out))
	}
	if closeErr != nil {
		return r, fmt.Errorf("tearing down: %w", closeErr)
	}
	if !r.Passed() {
		keep = true
		fmt.Fprintf(log, "service logs and configs kept in %s\n", runDir)
		return r, ErrAssertions
	}
	return r, nil
}

// binaries uses prebuilt binaries from dir, or builds them into build.
func binaries(dir, build string) (*Bins, error) {
	if dir == "" {
		if err := os.MkdirAll(build, 0o755); err != nil {
			return nil, err
		}
		return BuildBinaries(build)
	}
	b := &Bins{Dir: dir}
	for _, name := range []string{"lvssim", "lvsd", "lvsadm"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			b.set(name, p)
		} else {
			b.Notes = append(b.Notes, name+" not found in "+dir)
		}
	}
	if b.LVSSim == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		b.LVSSim = self
	}
	return b, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Up builds the site and leaves it running (no scenario) until Down.
func Up(ctx context.Context, o Options) (*Site, error) {
	o.defaults()
	t, err := LoadTopology(o.Topology)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	runDir, err := os.MkdirTemp("", "lvssim-up-")
	if err != nil {
		return nil, err
	}
	bins, err := binaries(o.BinDir, filepath.Join(runDir, "bin"))
	if err != nil {
		return nil, err
	}
	s, err := NewSite(ctx, t, SiteOptions{Dir: runDir, Bins: bins, Router: o.Router, Keep: true, Log: NewConsole(o.Stderr)})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Stdout, "site %s (%s) is up; router: %s\n", s.ID, t.Name, s.Router.Label())
	for _, n := range t.Nodes {
		fmt.Fprintf(o.Stdout, "  %-8s %-7s ip netns exec %s ...\n", n.Name, n.Role, s.Namespace(n.Name))
	}
	fmt.Fprintf(o.Stdout, "try: lvssim exec client1 -- curl -s http://192.168.26.10/\nremove it with: lvssim down\n")
	return s, nil
}

// Down removes sites kept by Up (all of them, or o.Site) and sweeps leftovers.
func Down(o Options) error {
	o.defaults()
	sts, err := LoadStates()
	if err != nil {
		return err
	}
	var errs []error
	n := 0
	for _, st := range sts {
		if !st.Kept || (o.Site != "" && st.ID != o.Site) {
			continue
		}
		errs = append(errs, sites.Remove(st))
		fmt.Fprintf(o.Stdout, "removed site %s (%s)\n", st.ID, st.Label)
		n++
	}
	swept, err := Sweep()
	for _, id := range swept {
		fmt.Fprintf(o.Stdout, "swept leftovers of crashed run %s\n", id)
	}
	if n == 0 && len(swept) == 0 {
		fmt.Fprintln(o.Stdout, "no site is up")
	}
	return errors.Join(append(errs, err)...)
}

// Exec runs argv in a node of a site that is up, with the terminal attached.
func Exec(ctx context.Context, o Options, node string, argv []string) error {
	o.defaults()
	st, err := pickSite(o.Site)
	if err != nil {
		return err
	}
	ns := NamePrefix + st.ID + "-" + node
	if !fileExists(filepath.Join("/run/netns", ns)) {
		return fmt.Errorf("site %s has no node %q", st.ID, node)
	}
	if len(argv) == 0 {
		argv = []string{"sh"}
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, o.Stdout, o.Stderr
	return cmd.Run()
}

func pickSite(id string) (*State, error) {
	sts, err := LoadStates()
	if err != nil {
		return nil, err
	}
	var live []*State
	for _, st := range sts {
		if (st.Kept || procstat.Alive(st.Owner, st.OwnerStart)) && (id == "" || st.ID == id) {
			live = append(live, st)
		}
	}
	switch {
	case len(live) == 0:
		return nil, errors.New("no site is up: start one with `lvssim up`")
	case len(live) > 1:
		var ids []string
		for _, st := range live {
			ids = append(ids, st.ID)
		}
		return nil, fmt.Errorf("several sites are up (%s): choose one with --site", strings.Join(ids, ", "))
	}
	return live[0], nil
}

// List prints the sites that are up, runs in progress and leftovers.
func List(o Options) error {
	o.defaults()
	sts, err := LoadStates()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	if len(sts) == 0 {
		fmt.Fprintln(o.Stdout, "no sites")
	}
	for _, st := range sts {
		state := "running (pid " + fmt.Sprint(st.Owner) + ")"
		switch {
		case st.Kept:
			state = "up (lvssim down removes it)"
		case !procstat.Alive(st.Owner, st.OwnerStart):
			state = "crashed: swept at the next start or by lvssim down"
		}
		fmt.Fprintf(o.Stdout, "%s  %-10s %-45s %d namespaces, %d processes, dir %s\n",
			st.ID, filepath.Base(st.Label), state, len(st.Namespaces), len(st.PIDs), st.Dir)
		for _, ns := range st.Namespaces {
			known[ns] = true
		}
	}
	for _, ns := range Leftovers(NamePrefix) {
		if !known[ns] {
			fmt.Fprintf(o.Stdout, "namespace %s has no state file (not lvssim's sweep to remove)\n", ns)
		}
	}
	return nil
}
