//go:build linux

package bench

import (
	"errors"
	"fmt"
	"os"
)

// readTCPCounters reads the TCP counters of n's namespace (from the
// calling thread's view of /proc, switched into n).
func readTCPCounters(n *nsNode) (TCPCounters, error) {
	var c TCPCounters
	err := inNS(n.ns, -1, func() error {
		m := make(map[string]uint64)
		var errs []error
		for _, f := range []string{"/proc/thread-self/net/netstat", "/proc/thread-self/net/snmp"} {
			fh, err := os.Open(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			x, err := ParseSNMP(fh)
			fh.Close()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
			}
			for k, v := range x {
				m[k] = v
			}
		}
		c = tcpCountersOf(m)
		return errors.Join(errs...)
	})
	return c, err
}

// tcpCounters reads the client's namespace and the real servers' summed.
func (tb *testbed) tcpCounters() (cli, rs TCPCounters, err error) {
	if cli, err = readTCPCounters(tb.cli); err != nil {
		return cli, rs, err
	}
	for _, n := range tb.rs {
		x, err := readTCPCounters(n)
		if err != nil {
			return cli, rs, err
		}
		rs = rs.add(x)
	}
	return cli, rs, nil
}
