package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"lvs/admin/api"
	"lvs/admin/metrics"
	"lvs/config"
)

// Backend is what the tool needs from lvsd. lvsd implements it; tests use a
// fake. Every method may be called concurrently from requests.
type Backend interface {
	api.Daemon
	metrics.MetricsSource
	// Config returns the path of lvs.cf, its bytes as on disk and their
	// ETag (a hash of the bytes).
	Config() (path string, text []byte, etag string, err error)
	// ApplyConfig checks text as `lvsd --config-test` does, writes it to
	// lvs.cf atomically (keeping lvs.cf.bak) and reloads the running
	// configuration. It returns an error wrapping ErrConflict, and changes
	// nothing, when the file's ETag is no longer etag; an error wrapping
	// config.ErrInvalid when the text does not check.
	ApplyConfig(ctx context.Context, text []byte, etag string) error
	// CheckNow runs the health check of real server server of virtual
	// virtual once, with the settings of cfg (the staged configuration),
	// and returns its result.
	CheckNow(ctx context.Context, cfg *config.Config, virtual, server string) (CheckResult, error)
	// Events is the daemon's event log, for live updates.
	Events() *api.EventLog
}

// CheckResult is the outcome of one health check run from the tool.
type CheckResult struct {
	OK      bool
	Reason  string        // why it failed, or nanny's note on success
	Latency time.Duration // how long the check took
}

// ErrConflict means lvs.cf changed since the edits being applied started
// from it.
var ErrConflict = errors.New("lvs.cf changed since these edits started")

// Options configure a Server.
type Options struct {
	Backend      Backend
	PasswordFile string         // the bcrypt password file (SetPassword)
	TokenFile    string         // the API token file (NewToken); "" means TokenFileFor(PasswordFile)
	Allow        []netip.Prefix // clients allowed; nil means DefaultAllow
	Secure       bool           // served over TLS: cookies get Secure
	Now          func() time.Time
	Logger       *slog.Logger
	// LoginBurst failed logins are allowed per client, then one more every
	// LoginEvery; 0 means 5 and one a minute.
	LoginBurst int
	LoginEvery time.Duration
}

// Server is the administration tool of one lvsd.
type Server struct {
	o        Options
	b        Backend
	now      func() time.Time
	sess     *sessions
	limit    *limiter
	tmpl     map[string]*template.Template
	samples  *sampler
	handler  http.Handler
	loginLog *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns the tool for o.Backend.
func New(o Options) *Server {
	if o.Allow == nil {
		o.Allow = DefaultAllow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenFile == "" {
		o.TokenFile = TokenFileFor(o.PasswordFile)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LoginBurst <= 0 {
		o.LoginBurst = 5
	}
	if o.LoginEvery <= 0 {
		o.LoginEvery = time.Minute
	}
	s := &Server{o: o, b: o.Backend, now: o.Now, sess: newSessions(o.Now),
		limit: newLimiter(o.LoginBurst, o.LoginEvery), samples: newSampler(sampleEvery, sampleKeep),
		loginLog: o.Logger}
	s.tmpl = parseTemplates()
	s.handler = s.routes()
	return s
}

// Handler returns the tool's HTTP handler: the allow-list first, then
// cross-origin protection of every state-changing request, then the pages.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /help", s.helpPage)
	auth := func(pattern string, h func(http.ResponseWriter, *http.Request, *session)) {
		mux.HandleFunc(pattern, s.authed(h))
	}
	auth("POST /logout", s.logout)
	auth("GET /{$}", func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/control", http.StatusSeeOther)
	})
	auth("GET /control", s.controlPage)
	auth("GET /control/events", s.controlEvents)
	auth("GET /global", s.globalPage)
	auth("POST /global", s.globalPost)
	auth("GET /redundancy", s.redundancyPage)
	auth("POST /redundancy", s.redundancyPost)
	auth("GET /virtual", s.virtualsPage)
	auth("POST /virtual", s.virtualsPost)
	auth("GET /virtual/{v}", s.virtualPage)
	auth("POST /virtual/{v}", s.virtualPost)
	auth("GET /virtual/{v}/real", s.realsPage)
	auth("POST /virtual/{v}/real", s.realsPost)
	auth("GET /virtual/{v}/real/{s}", s.realPage)
	auth("POST /virtual/{v}/real/{s}", s.realPost)
	auth("GET /virtual/{v}/scripts", s.scriptsPage)
	auth("POST /virtual/{v}/scripts", s.scriptsPost)
	auth("GET /bgp", s.bgpPage) // pages_bgp.go
	auth("POST /bgp", s.bgpPost)
	auth("GET /bgp/peer/{p}", s.peerPage)
	auth("POST /bgp/peer/{p}", s.peerPost)
	auth("GET /pending", s.pendingPage)
	auth("POST /apply", s.apply)
	auth("POST /discard", s.discard)
	auth("POST /rebase", s.rebase)
	auth("GET /charts", s.chartsPage)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "403 forbidden: cross-origin request refused (CSRF protection)", http.StatusForbidden)
	}))
	h := cop.Handler(securityHeaders(mux))
	return AllowHandler(s.o.Allow, h)
}

// securityHeaders keeps pages out of frames and caches.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// authed runs h with the request's session, or sends the browser to the
// login page.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.sess.lookup(r)
		if ss == nil {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") {
				http.Redirect(w, r, "/login?next="+template.URLQueryEscaper(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "401 unauthorized: log in first", http.StatusUnauthorized)
			return
		}
		h(w, r, ss)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, nil, "login", http.StatusOK, map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/control"
	}
	return next
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	client, _ := clientAddr(r.RemoteAddr)
	now := s.now()
	if ok, wait := s.limit.allow(client.String(), now); !ok {
		w.Header().Set("Retry-After", itoa(int(wait/time.Second)+1))
		s.render(w, r, nil, "login", http.StatusTooManyRequests, map[string]any{
			"Error": "too many failed logins from " + client.String() + ": try again in " + wait.Round(time.Second).String()})
		return
	}
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	if err := verify(s.o.PasswordFile, user, pass); err != nil {
		s.limit.failed(client.String(), now)
		s.loginLog.Warn("admin login refused", "client", client, "user", user, "reason", err)
		msg := errBadLogin.Error()
		if errors.Is(err, ErrNoPassword) {
			msg = err.Error()
		}
		s.render(w, r, nil, "login", http.StatusUnauthorized, map[string]any{"Error": msg, "Next": next})
		return
	}
	s.limit.succeeded(client.String())
	ss := s.sess.create()
	s.loginLog.Info("admin login", "client", client)
	http.SetCookie(w, cookie(ss, s.o.Secure))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	s.sess.end(ss)
	http.SetCookie(w, clearCookie(s.o.Secure))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) helpPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, s.sess.lookup(r), "help", http.StatusOK, map[string]any{"PasswordFile": s.o.PasswordFile})
}

// view is what every page template gets.
type view struct {
	Title    string
	Panel    string
	LoggedIn bool
	Flash    []string
	Pending  []string // descriptions of the staged edits
	Conflict bool     // lvs.cf changed under the staged edits
	Data     any
}

// render executes page name with data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, ss *session, name string, code int, data any) {
	v := view{Panel: name, Data: data, LoggedIn: ss != nil}
	if ss != nil {
		_, _, etag, _ := s.b.Config()
		s.sess.with(func() {
			v.Flash, ss.flash = ss.flash, nil
			if ss.stage.pending() {
				for _, e := range ss.stage.edits {
					v.Pending = append(v.Pending, e.Desc)
				}
				v.Conflict = etag != ss.stage.baseEtag
			}
		})
	}
	t := s.tmpl[name]
	if t == nil {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := t.ExecuteTemplate(w, "layout", v); err != nil {
		s.o.Logger.Error("rendering a page", "page", name, "err", err)
	}
}

// flash queues a message for the session's next page.
func (s *Server) flash(ss *session, msg string) {
	s.sess.with(func() { ss.flash = append(ss.flash, msg) })
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"dur":  func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
}

func parseTemplates() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/form.html"))
	pages, _ := fs.Glob(templateFS, "templates/*.html")
	out := map[string]*template.Template{}
	sort.Strings(pages)
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" || name == "form" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, p))
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
