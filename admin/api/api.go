package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"lvs/admin"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

// Daemon is what the control API needs from lvsd. The daemon implements it;
// admin holds no state of its own.
//
// Every method may be called concurrently from API requests. Methods that
// change something (Apply, Zero, SetTimeouts, SaveConfig) run on the
// daemon's single writer and return once the change is published, or with
// ctx's error if the request is abandoned first. Status and Connections
// return copies the caller owns.
type Daemon interface {
	// Status returns the virtual server table with live counters and the
	// connection timeouts (StatusFromTable of the current snapshot).
	Status() admin.Status
	// Connections returns the connection entries, templates included, as
	// ipvsadm -L -c lists them.
	Connections() []admin.ConnStatus
	// Apply applies table edits (Kind.IsEdit: -A -E -D -C -a -e -d) and
	// --start-daemon/--stop-daemon (Kind.IsSync) as one batch: either all of them or, on error, none. lvsd applies them to its
	// lvs.cf model (daemon/control.go) and the table follows; a server
	// without -g/-i/-m gets lvs.cf's `network`. The error wraps the ipvs
	// sentinels (ipvs.ErrServiceExists, ...), ideally in a *CommandError
	// naming the failed command.
	Apply(ctx context.Context, cmds []ipvsadm.Command) error
	// Zero resets the traffic counters of service svc, or of every service
	// and the totals when svc is nil (ipvsadm -Z); ipvs.ErrNoService if svc
	// does not exist.
	Zero(ctx context.Context, svc *ipvs.ServiceKey) error
	// SetTimeouts sets the TCP, TCP FIN and UDP timeouts (ipvsadm --set); a
	// zero value keeps the current one.
	SetTimeouts(ctx context.Context, t admin.Timeouts) error
	// SaveConfig writes the running table back to lvs.cf (atomically, keeping
	// lvs.cf.bak) and returns the file's path (lvsadm --save-config).
	SaveConfig(ctx context.Context) (path string, err error)
}

// The API paths, all under /v1.
const (
	PathStatus      = "/v1/status"      // GET: Status
	PathConnections = "/v1/connections" // GET: []ConnStatus
	PathCommand     = "/v1/command"     // POST CommandRequest: Daemon.Apply
	PathZero        = "/v1/zero"        // POST ZeroRequest: Daemon.Zero
	PathTimeouts    = "/v1/timeouts"    // GET: Timeouts; PUT Timeouts: Daemon.SetTimeouts
	PathSaveConfig  = "/v1/config/save" // POST: SaveConfigResponse
)

// CommandRequest is the body of POST /v1/command.
type CommandRequest struct {
	Commands []ipvsadm.Command `json:"commands"`
}

// ZeroRequest is the body of POST /v1/zero; no service means all.
type ZeroRequest struct {
	Service *ipvs.ServiceKey `json:"service,omitempty"`
}

// SaveConfigResponse is the answer of POST /v1/config/save.
type SaveConfigResponse struct {
	Path string `json:"path"`
}

// maxBody bounds a request body: a restore of tens of thousands of lines.
const maxBody = 16 << 20

// Server serves the control API for one Daemon.
type Server struct {
	d   Daemon
	mux *http.ServeMux
}

// NewServer returns the API server of d.
func NewServer(d Daemon) *Server {
	s := &Server{d: d, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, _ *http.Request) { reply(w, s.d.Status()) })
	s.mux.HandleFunc("GET "+PathConnections, func(w http.ResponseWriter, _ *http.Request) {
		reply(w, orEmpty(s.d.Connections()))
	})
	s.mux.HandleFunc("GET "+PathTimeouts, func(w http.ResponseWriter, _ *http.Request) { reply(w, s.d.Status().Timeouts) })
	s.mux.HandleFunc("PUT "+PathTimeouts, s.setTimeouts)
	s.mux.HandleFunc("POST "+PathCommand, s.command)
	s.mux.HandleFunc("POST "+PathZero, s.zero)
	s.mux.HandleFunc("POST "+PathSaveConfig, s.saveConfig)
	if src, ok := d.(interface{ HA() admin.HAStatus }); ok {
		s.mux.HandleFunc("GET "+PathHA, func(w http.ResponseWriter, _ *http.Request) { reply(w, src.HA()) })
	}
	s.drainRoutes() // POST /v1/drain for a daemon that announces by BGP (bgp.go)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		replyError(w, &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return s
}

// Handler returns the API's HTTP handler, to serve on the control socket or
// to mount under another server.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves the API of d on l until ctx ends, then shuts down gracefully
// (waiting up to 5 s for requests in flight) and returns nil. It closes l.
func Serve(ctx context.Context, l net.Listener, d Daemon) error {
	hs := &http.Server{Handler: NewServer(d).Handler(), ReadHeaderTimeout: 10 * time.Second,
		// Requests keep ctx's values but not its cancellation, so that a
		// shutdown lets the edits in flight finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving the control API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("stopping the control API: %w", err)
	}
	return nil
}

func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	var req CommandRequest
	if !decode(w, r, &req) {
		return
	}
	for i, c := range req.Commands {
		if !c.Kind.IsEdit() && !c.Kind.IsSync() {
			replyError(w, &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Index: i,
				Message: fmt.Sprintf("command %d: %q is not a table edit", i+1, c.Kind)})
			return
		}
	}
	if err := s.d.Apply(r.Context(), req.Commands); err != nil {
		replyError(w, errorFor(err))
		return
	}
	reply(w, struct{}{})
}

func (s *Server) zero(w http.ResponseWriter, r *http.Request) {
	var req ZeroRequest
	if !decode(w, r, &req) {
		return
	}
	if err := s.d.Zero(r.Context(), req.Service); err != nil {
		replyError(w, errorFor(err))
		return
	}
	reply(w, struct{}{})
}

func (s *Server) setTimeouts(w http.ResponseWriter, r *http.Request) {
	var t admin.Timeouts
	if !decode(w, r, &t) {
		return
	}
	if t.TCP < 0 || t.TCPFin < 0 || t.UDP < 0 {
		replyError(w, &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Index: -1, Message: "negative timeout"})
		return
	}
	if err := s.d.SetTimeouts(r.Context(), t); err != nil {
		replyError(w, errorFor(err))
		return
	}
	reply(w, s.d.Status().Timeouts)
}

func (s *Server) saveConfig(w http.ResponseWriter, r *http.Request) {
	path, err := s.d.SaveConfig(r.Context())
	if err != nil {
		replyError(w, errorFor(err))
		return
	}
	reply(w, SaveConfigResponse{Path: path})
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		replyError(w, &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Index: -1,
			Message: "decoding the request: " + err.Error()})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v) // the client is gone if this fails
}

func replyError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: e})
}

// ErrorBody is the JSON of every error answer: {"error": {...}}.
type ErrorBody struct {
	Error *APIError `json:"error"`
}

// PathHA is GET: the router's role, partner, heartbeats and sync streams
// (HAStatus), what lvsadm -L --daemon prints. The API serves it when its
// Daemon has an HA method (lvsd's does).
const PathHA = "/v1/ha"
