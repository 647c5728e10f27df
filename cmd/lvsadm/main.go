// Command lvsadm is the administrator's CLI for a running lvsd, modelled on
// ipvsadm (same option letters, same -L -n table).
//
// The control API it talks to is not built yet (issue 8: nanny and daemon
// control); until then lvsadm explains that and exits with status 2.
package main

import (
	"fmt"
	"os"
)

const usage = `lvsadm: the administrator's CLI for lvsd, modelled on ipvsadm

Usage:
  lvsadm -L -n            list the virtual server table
  lvsadm -A|-E|-D ...     add, edit, delete a virtual service
  lvsadm -a|-e|-d ...     add, edit, delete a real server

Not available yet: lvsd's control socket (/run/lvsd/lvsd.sock) arrives with
the daemon-control work. Until then use 'lvsd -t -f FILE' to check a
configuration and 'lvsd --config-dump' to see it normalised.
`

func main() {
	for _, a := range os.Args[1:] {
		if a == "-h" || a == "--help" {
			fmt.Print(usage)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "lvsadm: lvsd's control socket is not implemented yet; see lvsadm --help")
	os.Exit(2)
}
