// Package health is nanny, Piranha's real-server health checker: the checkers
// (TCP connect, send/expect with the guide's escapes and use_regex, UDP, the
// default HTTP probe on port 80, send_program with %h/%p), the load monitors
// (uptime, rup, ruptime, a command, an HTTP agent), one Monitor per (virtual
// service, real server) written as a step function (re-entry, slow-start
// ramp, quiesce, load weights, administrator overrides), the sorry server of
// each virtual service, and a Runner that schedules checks, shares one probe
// between monitors that check a server the same way, and emits Events.
//
// It must not edit the table: it only reports. The daemon, the single writer,
// turns Events into table edits.
package health
