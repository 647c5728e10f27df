// Package apitest holds a fake of the daemon behind the control API
// (api.Daemon, the seam between lvsd and its clients) and a helper that
// serves it on a unix socket, for the tests of the API, the client and the
// CLI.
package apitest
