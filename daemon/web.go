package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"lvs/admin/api"
	"lvs/admin/web"
	"lvs/config"
	"lvs/health"
)

// lvsd is the web tool's Backend.
var _ web.Backend = (*lvsd)(nil)

// etagOf is the ETag of lvs.cf's bytes: what a web session's edits started
// from, compared again when they are applied.
func etagOf(text []byte) string {
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:12])
}

// Config implements web.Backend: lvs.cf as it is on disk now.
func (d *lvsd) Config() (path string, text []byte, etag string, err error) {
	path = d.opts.configFile()
	text, err = os.ReadFile(path)
	if err != nil {
		return path, nil, "", fmt.Errorf("reading %s: %w", path, err)
	}
	return path, text, etagOf(text), nil
}

// ApplyConfig implements web.Backend on the management goroutine: the
// file must still be the one the edits started from; the text is checked
// as `lvsd --config-test` checks a file (loadText), applied as a diff
// (connections to servers that stay are kept), then written atomically
// keeping lvs.cf.bak, and handed to config sync like a reload.
func (d *lvsd) ApplyConfig(ctx context.Context, text []byte, etag string) error {
	var err error
	if e := d.do(ctx, func() { err = d.applyWeb(text, etag) }); e != nil {
		return e
	}
	return err
}

func (d *lvsd) applyWeb(text []byte, etag string) error {
	path := d.opts.configFile()
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if etagOf(cur) != etag {
		return web.ErrConflict
	}
	l, err := checkText(d.opts, text)
	if err != nil {
		return err
	}
	if err := d.applyConfig(l.cfg, l.rules); err != nil {
		return fmt.Errorf("the running configuration stays: %w", err)
	}
	if err := d.saveRunning(text); err != nil {
		return fmt.Errorf("applied to the running router but not saved: %w", err)
	}
	d.log.Info("configuration applied from the web tool", "file", path, "serial", l.cfg.Serial,
		"services", len(d.table.Services()))
	return nil
}

// CheckNow implements web.Backend: one check of a real server with the
// settings of cfg, run in the request's goroutine (it touches no daemon
// state). The server is checked even when it or its virtual is inactive.
func (d *lvsd) CheckNow(ctx context.Context, cfg *config.Config, virtual, server string) (web.CheckResult, error) {
	v := cfg.Virtual(virtual)
	if v == nil {
		return web.CheckResult{}, fmt.Errorf("no virtual server %q", virtual)
	}
	s := v.Server(server)
	if s == nil {
		return web.CheckResult{}, fmt.Errorf("virtual %s has no real server %q", virtual, server)
	}
	vc, sc := *v, *s
	vc.Active, sc.Active = true, true
	vc.Servers = []*config.Server{&sc}
	one := *cfg
	one.Virtuals = []*config.Virtual{&vc}
	specs := healthSpecs(&one)
	if len(specs) != 1 {
		return web.CheckResult{}, fmt.Errorf("real server %s has no address to check", server)
	}
	chk, err := health.NewChecker(specs[0])
	if err != nil {
		return web.CheckResult{}, err
	}
	timeout := v.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res := chk.Check(cctx)
	return web.CheckResult{OK: res.OK, Reason: res.Reason, Latency: time.Since(start)}, nil
}

// Events implements web.Backend.
func (d *lvsd) Events() *api.EventLog { return d.events }

// passwordFile is the web tool's password file: --password-file, or
// piranha.passwd next to lvs.cf.
func (o Options) passwordFile() string {
	if o.PasswordFile != "" {
		return o.PasswordFile
	}
	return web.PasswordFileFor(o.configFile())
}

// SetPassword implements `lvsd --set-password`: it reads the new password
// from in (one line), writes its bcrypt hash to the password file (mode
// 0600) and returns the exit status.
func SetPassword(opts Options, in io.Reader, stderr io.Writer) int {
	pw, err := web.ReadSecret(in)
	if err == nil {
		err = web.SetPassword(opts.passwordFile(), pw)
	}
	if err != nil {
		fmt.Fprintln(stderr, "lvsd:", err)
		return ExitError
	}
	fmt.Fprintf(stderr, "lvsd: password of user %s written to %s\n", web.User, opts.passwordFile())
	return ExitOK
}

// webHandler is what the TCP admin listener serves (adminHandler), with
// /metrics open to the allow-list unless --metrics-auth.
func (d *lvsd) webHandler(tool *web.Server) http.Handler {
	return d.adminHandler(tool, d.opts.MetricsAuth)
}

// adminHandler is what the TCP admin listener serves: the allow-list
// before anything else, then the web tool at /, and the JSON API, /metrics
// and the event stream as on the control socket. The API asks for a login
// (an API token, or the tool's session cookie: web.Server.RequireLogin);
// /metrics does too when metricsAuth is set, and is open to the allow-list
// otherwise. Requests that change something are taken from the router
// itself only, logged in or not.
func (d *lvsd) adminHandler(tool *web.Server, metricsAuth bool) http.Handler {
	apiH := loopbackWrites(d.handler())
	mux := http.NewServeMux()
	mux.Handle("/", tool.Handler())
	mux.Handle("/v1/", tool.RequireLogin(apiH))
	if metricsAuth {
		mux.Handle(api.PathMetrics, tool.RequireLogin(apiH))
	} else {
		mux.Handle(api.PathMetrics, apiH)
	}
	return web.AllowHandler(d.allowList(), mux)
}

// allowList is --admin-allow, parsed; listen has checked it.
func (d *lvsd) allowList() []netip.Prefix {
	l, err := d.opts.allowList()
	if err != nil {
		return []netip.Prefix{} // unreachable after listen; refuse everyone
	}
	return l
}

func (o Options) allowList() ([]netip.Prefix, error) {
	if o.AdminAllow == "" {
		return web.DefaultAllow, nil
	}
	return web.ParseAllowList(o.AdminAllow)
}

// loopbackWrites refuses requests other than GET and HEAD unless they come
// from the router itself: a login lets a client read the API from afar,
// changes stay with lvsadm on the router and the web tool.
func loopbackWrites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				http.Error(w, "403 forbidden: API changes over TCP are taken from loopback only (use lvsadm on the router or the web tool)", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// newWebTool builds the web tool of this daemon.
func (d *lvsd) newWebTool() *web.Server {
	return web.New(web.Options{Backend: d, PasswordFile: d.opts.passwordFile(), Allow: d.allowList(),
		Secure: d.opts.AdminCert != "", Logger: d.log})
}
