// Package conntrack owns the director's connection table: flows, TCP states and
// timeouts, persistence templates, active/inactive counts, expiry, size limits,
// and export/import of entries for connection sync.
//
// It must not parse frames.
package conntrack
