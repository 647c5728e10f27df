// Package config owns the lvs.cf model: parsing, validation, formatting
// (round-trip), and the iptables-save subset (MARK and MASQUERADE rules)
// that the guide uses for firewall marks and active FTP. A running lvsd
// applies a changed model as a diff of the service table it builds from
// it (daemon.Reconcile), not of two models.
//
// Every problem is reported as FILE:LINE: message, all of them at once, with
// warnings kept apart from errors.
//
// The key tables (keys.go, keys_virtual.go, rules.go) are the single list of
// lvs.cf keys: the parser, Format and Extensions all read them, and a
// test checks docs/man/lvs.cf.5 against them.
//
// It must not touch the network: host names are not resolved, and service
// names come from /etc/services or a built-in table.
package config
