// Package api is lvsd's control API: the HTTP server over a Daemon (the
// interface lvsd implements), its paths and JSON bodies, the error codes
// the client maps back to the ipvs sentinels, the unix socket listener, the
// /proc texts over HTTP, and the event log with its stream.
//
// It holds no state of its own: it reads and edits through Daemon.
package api
