// Command lvsadm is the administrator's CLI for a running lvsd, modelled on
// ipvsadm: the same option letters, output formats, messages and exit
// codes, sent to lvsd's control socket (--socket, default
// /run/lvsd/lvsd.sock). All the logic is cli.CLI; see lvsadm --help.
// `lvsadm passwd` sets the web tool's password (web.Passwd);
// `lvsadm import-keepalived` converts a keepalived.conf (keepalived.Command);
// `lvsadm drain [--undrain]` drains this director's BGP announcements
// (cli.DrainCommand).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"lvs/admin/cli"
	"lvs/admin/web"
	"lvs/config/keepalived"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "passwd" {
		os.Exit(web.Passwd(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "import-keepalived" {
		os.Exit(keepalived.Command(os.Args[2:], os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && os.Args[1] == "drain" {
		code := cli.DrainCommand(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	code := cli.CLI{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
