// Package ipvs owns the service table: virtual services (VIP:port/protocol or
// firewall mark), their destinations, weights and thresholds, and the live
// per-destination counters.
//
// A Table is an immutable snapshot. Edits build a new Table by copy; the
// dataplane loads the current one through an atomic pointer once per batch.
// Counters live outside the snapshot, in a Stats registry indexed by a stable
// DestID, so an edit never resets them.
//
// It must not know about packets.
package ipvs
