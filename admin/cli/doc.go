// Package cli is lvsadm's command line: it parses ipvsadm commands, sends
// them to lvsd through the client and prints the answers in ipvsadm's
// formats and words, with ipvsadm's exit codes; and `lvsadm drain`.
package cli
