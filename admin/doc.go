// Package admin serves HTTP: the web UI (the Piranha Configuration Tool's
// successor), the JSON API, /metrics, login and the allow-list; and it holds the
// typed client used by lvsadm and the simulator.
//
// It must not hold state of its own: it reads and edits through the Daemon
// interface it declares.
package admin
