// Package ipvsadm is the ipvsadm command language as lvsadm speaks it:
// parsing and checking command lines (ParseArgs) and restore input
// (ParseRestore) into Commands, and writing what ipvsadm and the kernel
// print: the listings of -L in every format, -L -c, --save, -L --daemon,
// the timeouts, and the /proc/net/ip_vs texts. It does no input or output
// of its own and knows nothing of HTTP.
package ipvsadm
