package cli

import (
	"strings"

	"lvs/admin/api"
	"lvs/sched"
)

// Version is what lvsadm -v prints.
const Version = "lvsadm (lvs-go), speaking ipvsadm v1.26 with the -b option of v1.31"

// Usage is lvsadm --help: ipvsadm's synopsis, then what lvsadm adds and
// where it differs.
var Usage = `Usage:
  lvsadm -A|E -t|u|f service-address [-s scheduler] [-p [timeout]] [-M netmask] [-o] [-b sched-flags]
  lvsadm -D -t|u|f service-address
  lvsadm -C
  lvsadm -R
  lvsadm -S [-n]
  lvsadm -a|e -t|u|f service-address -r server-address [options]
  lvsadm -d -t|u|f service-address -r server-address
  lvsadm -L|l [options]
  lvsadm -Z [-t|u|f service-address]
  lvsadm --set tcp tcpfin udp
  lvsadm --save-config
  lvsadm passwd [--password-file FILE]
  lvsadm passwd --token|--revoke-tokens [--label NAME] [--token-file FILE]
  lvsadm import-keepalived [-o FILE] [--primary IP] [--backup IP] KEEPALIVED.CONF
  lvsadm -h

lvsadm is ipvsadm for lvsd, the user-space LVS router: the same commands,
options, output and exit codes (0 done, 1 the operation failed, 2 usage
error), sent to a running lvsd over its control socket.

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin, all lines or none
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values (0 keeps a value)
  --save-config               write the running table back to lvs.cf
  passwd                      set the web tool's password (user piranha): read
                              from stdin, stored as a bcrypt hash (mode 0600)
                              in /etc/sysconfig/ha/piranha.passwd or the FILE
                              of --password-file; no lvsd needed.
                              --token prints a new API token once (for
                              "Authorization: Bearer" on the admin listener's
                              /v1 API) and keeps only its SHA-256 in
                              piranha.tokens beside the password file;
                              --revoke-tokens withdraws all, or those of
                              --label NAME
  import-keepalived           convert a keepalived.conf into an lvs.cf, with a
                              warning for whatever has no equivalent (see
                              lvsadm import-keepalived --help); no lvsd needed
  --help            -h        display this help message

Options:
  --tcp-service  -t service-address   service-address is host[:port]
  --udp-service  -u service-address   service-address is host[:port]
  --fwmark-service  -f fwmark         fwmark is an integer greater than zero
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of ` + strings.Join(sched.Names(), "|") + `,
                                      the default scheduler is ` + sched.Default + `.
  --sched-flags  -b flags             sh-fallback, sh-port, mh-fallback, mh-port
  --persistent   -p [timeout]         persistent service (default 300 s)
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
                                      without -g, -i or -m lvsd uses the
                                      'network' of lvs.cf (ipvsadm: -g)
  --weight       -w weight            capacity of real server (0..65535)
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output (lvsadm is always numeric)

lvsadm only:
  --socket PATH                       lvsd's control socket (default ` + api.DefaultSocket + `)
  --save-config                       have lvsd write its running table to
                                      lvs.cf (atomically, keeping lvs.cf.bak)

As with ipvsadm, -E and -e replace every setting of what they edit: an
option left out takes its default (-E without -p makes the service
non-persistent, -e without -w sets weight 1).

Changes made with lvsadm apply at once and last until lvsd restarts or
reloads lvs.cf; --save-config keeps them. --start-daemon and --stop-daemon
turn lvs.cf's syncdaemon on and off in the running configuration: connection
sync starts or stops at once, as master while this router is active and as
backup while it stands by (the role decides, whatever the argument says).

Examples:
  lvsadm -Ln                                    the table, as ipvsadm -Ln
  lvsadm -A -t 192.168.26.10:80 -s wlc -p       a persistent web service
  lvsadm -a -t 192.168.26.10:80 -r 10.11.12.1 -m -w 2
  lvsadm -e -t 192.168.26.10:80 -r 10.11.12.1 -m -w 0   quiesce a server
  lvsadm -S -n > rules; lvsadm -R < rules       save and restore
  lvsadm -L -n -c                               the connection entries
`
