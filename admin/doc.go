// Package admin is what lvsd reports about itself, as its clients read it:
// the virtual server table with counters (Status, StatusFromTable), the
// connection entries (ConnStatus), the router pair (HAStatus), BGP, the
// dataplane, conntrack and health checks. It holds data and no behaviour.
//
// The packages below it split the rest along its seams:
//
//	admin/ipvsadm  the ipvsadm command language (parse, check, restore) and
//	               its listings and /proc/net/ip_vs texts
//	admin/api      the control API lvsd serves (unix socket and web
//	               listener), its errors, the event log and stream
//	admin/client   the typed client of the API, used by lvsadm and lvssim
//	admin/cli      lvsadm's command line: ipvsadm commands through the client
//	admin/metrics  the Prometheus exposition of /metrics
//	admin/web      the web tool (the Piranha Configuration Tool's successor)
package admin
