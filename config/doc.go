// Package config owns the lvs.cf model: parsing, validation, formatting
// (round-trip), diffing, and the iptables-save subset (MARK and MASQUERADE rules)
// that the guide uses for firewall marks and active FTP.
//
// Every problem is reported as FILE:LINE: message, all of them at once, with
// warnings kept apart from errors.
//
// The key tables (keys.go, keys_virtual.go, rules.go) are the single list of
// lvs.cf keys: the parser, Format, Diff and Extensions all read them, and a
// test checks docs/man/lvs.cf.5 against them.
//
// Addresses are IPv4 or IPv6 (ipv6.go): IPv6 virtual servers, real servers,
// nat_router6, heartbeat addresses and rules are parsed, checked against
// IPVS's address-family rules and formatted, and, until lvsd forwards IPv6,
// reported as errors that say so.
//
// It must not touch the network: host names are not resolved, and service
// names come from /etc/services or a built-in table.
package config
