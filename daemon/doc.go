// Package daemon is lvsd's lifecycle: the single writer that turns config
// diffs, health events, API edits and role changes into table edits and VIP
// ownership, and that keeps the kernel out of the way of the dataplane.
package daemon
