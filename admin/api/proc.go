package api

import (
	"io"
	"net/http"
	"path"

	"lvs/admin"
	"lvs/admin/ipvsadm"
)

// Paths of the observability endpoints on lvsd's control API.
const (
	PathMetrics    = "/metrics"   // GET: Prometheus text (MetricsHandler)
	PathEvents     = "/v1/events" // GET: the event stream (EventsHandler)
	PathProcPrefix = "/v1/proc/"  // GET ip_vs, ip_vs_stats, ip_vs_conn (ProcHandler)
)

// ProcSource is what the /proc texts are made of. The daemon's api.Daemon
// has both methods.
type ProcSource interface {
	Status() admin.Status
	Connections() []admin.ConnStatus
}

// ProcHandler serves GET PathProcPrefix + ip_vs, ip_vs_stats or ip_vs_conn
// (chosen by the last element of the path) as text/plain, so that a tool
// that reads /proc/net/ip_vs can read lvsd's table with curl. Services are
// in ipvsadm's order.
func ProcHandler(src ProcSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var write func(io.Writer) error
		switch path.Base(r.URL.Path) {
		case "ip_vs":
			write = func(w io.Writer) error {
				st := src.Status()
				st.Sort()
				return ipvsadm.WriteProcIPVS(w, st)
			}
		case "ip_vs_stats":
			write = func(w io.Writer) error { return ipvsadm.WriteProcIPVSStats(w, src.Status()) }
		case "ip_vs_conn":
			write = func(w io.Writer) error { return ipvsadm.WriteProcConns(w, src.Connections()) }
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		write(w) // a write error means the client left
	})
}
