// Package ha is pulse: the heartbeat wire format, the role state machine (a
// step function), the transport, connection sync and config sync.
//
// It must not forward packets.
package ha
