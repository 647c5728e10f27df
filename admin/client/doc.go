// Package client is the typed client of lvsd's control API (package api),
// over the unix socket: lvsadm and the simulator use it.
package client
