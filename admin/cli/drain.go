package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"lvs/admin/api"
	"lvs/admin/client"
)

// DrainCommand is `lvsadm drain [--socket PATH] [--undrain]`: it drains this
// director (withdraws every VIP from its BGP peers; lvsd keeps forwarding
// what still comes) or, with --undrain, announces the VIPs again. It
// returns the exit status: 0, 1 when lvsd refuses, 2 for a bad command line.
func DrainCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lvsadm drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", api.DefaultSocket, "lvsd's control socket")
	undrain := fs.Bool("undrain", false, "announce the VIPs again")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lvsadm drain: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := client.NewClient(*socket).Drain(ctx, !*undrain); err != nil {
		fmt.Fprintf(stderr, "lvsadm drain: %v\n", err)
		return 1
	}
	if *undrain {
		fmt.Fprintln(stdout, "undrained: the VIPs are announced again while they can serve")
	} else {
		fmt.Fprintln(stdout, "drained: every VIP withdrawn from the BGP peers")
	}
	return 0
}
