// Package config owns the lvs.cf model: parsing, validation, formatting
// (round-trip), diffing, and the iptables-save subset (MARK and MASQUERADE rules)
// that the guide uses for firewall marks and active FTP.
//
// Every problem is reported as FILE:LINE: message, all of them at once, with
// warnings kept apart from errors.
//
// It must not touch the network.
package config
