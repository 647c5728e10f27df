// Package web is the Piranha Configuration Tool's successor: the
// server-rendered administration tool lvsd serves on its admin listener
// (port 3636). It owns the login (a bcrypt password file for the user
// piranha), sessions, API tokens (their SHA-256 in a file beside the
// password file) and the login the JSON API asks for on that listener
// (RequireLogin), the client allow-list, the panels of the guide's
// chapter 4 (CONTROL/MONITORING, GLOBAL SETTINGS, REDUNDANCY, VIRTUAL
// SERVERS with their REAL SERVER and MONITORING SCRIPTS subsections), the
// per-session staging of edits (ACCEPT) and their application (APPLY), and
// the charts of the last ten minutes.
//
// It holds no configuration of its own: it reads and writes lvs.cf through
// the Backend interface lvsd implements, and every edit is checked by
// config.Parse, the code `lvsd --config-test` runs. Every form works with
// JavaScript off; a few lines of inline JavaScript only add live updates.
//
// It must not import daemon, dataplane, sim, bench or cmd.
package web
