package web

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/admin/ipvsadm"
)

// DefaultRefresh is the auto update interval of CONTROL/MONITORING, as the
// Piranha tool's "Update frequency in seconds".
const DefaultRefresh = 10

// controlData is the CONTROL/MONITORING panel.
type controlData struct {
	HA       admin.HAStatus
	Ipvsadm  string
	Status   admin.Status
	Health   []admin.HealthStatus
	Events   []api.Event
	Auto     bool
	Interval int
	Now      time.Time
}

func (s *Server) controlPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	d := controlData{HA: s.b.HA(), Status: s.b.Status(), Health: s.b.Health(), Interval: DefaultRefresh,
		Auto: q.Get("auto") == "1", Now: s.now()}
	if n, err := strconv.Atoi(q.Get("interval")); err == nil && n >= 1 && n <= 3600 {
		d.Interval = n
	}
	d.Status.Sort()
	var b bytes.Buffer
	ipvsadm.WriteList(&b, d.Status, 0)
	d.Ipvsadm = b.String()
	if l := s.b.Events(); l != nil {
		ev := l.Recent()
		if len(ev) > 20 {
			ev = ev[len(ev)-20:]
		}
		d.Events = ev
	}
	name := "control"
	if q.Get("fragment") == "1" {
		name = "control_fragment"
	}
	s.render(w, r, ss, name, http.StatusOK, d)
}

// controlEvents streams the event log as server-sent events; the panel's
// script appends each line and refreshes the status.
func (s *Server) controlEvents(w http.ResponseWriter, r *http.Request, _ *session) {
	l := s.b.Events()
	if l == nil {
		http.Error(w, "no event log", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	q.Set("format", "sse")
	r.URL.RawQuery = q.Encode()
	(&api.EventsHandler{Log: l}).ServeHTTP(w, r)
}
