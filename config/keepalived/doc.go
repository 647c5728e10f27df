// Package keepalived converts a keepalived.conf into the lvs.cf model, for
// `lvsadm import-keepalived`. It owns the reading of keepalived's grammar
// (keepalived.conf(5): keywords in nested { } blocks, comments from # or !
// to the end of the line, quoted strings, include, @ conditional lines and
// $NAME=VALUE parameters) and the mapping of its LVS and VRRP keywords onto
// lvs.cf: virtual_server, real_server, the health checkers and the
// vrrp_instance that carries the virtual addresses.
//
// Whatever has no equivalent in lvs.cf comes back as a warning at its
// FILE:LINE, never silently dropped; errors name file and line too.
//
// Like config, it must not touch the network: addresses are taken as
// written, and nothing is resolved or probed. It reads files only through
// the Files it is given (the included ones as well).
package keepalived
