// Package ha is pulse: the heartbeat wire format, the role state machine (a
// step function), the transport, connection sync and config sync.
//
//   - proto.go: the versioned heartbeat message (optionally HMAC-SHA256 with
//     heartbeat_key, replays refused), and recognition of Piranha's 4-byte
//     heartbeats, with which we deliberately do not interoperate.
//   - node.go, peer.go: Node, the role machine. Step(now, event) returns the
//     new State and the Actions to execute in order; it performs no I/O.
//   - settings.go: the lvs.cf values the machine uses, and FindRole.
//   - event.go: the Events the machine takes and the Actions it returns.
//   - transport.go, pipe.go: the heartbeat Transport over UDP
//     (heartbeat_port on the public and private addresses) and Pipe, its
//     in-memory fake for tests.
//   - runner.go: Runner, the thin goroutine tying a Clock, a Transport and a
//     Node; it sends heartbeats and hands every other action to the daemon.
//
// It reports (Actions, Status); the daemon owns the addresses, the dataplane
// and the commands. It must not forward packets, and must not import daemon,
// dataplane, health or admin.
package ha
