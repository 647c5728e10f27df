// Package health is nanny: checkers (TCP connect, send/expect, regex,
// external program with %h/%p), interval, re-entry, quiesce. It emits events.
//
// It must not edit the table; the daemon does that.
package health
