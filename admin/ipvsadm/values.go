package ipvsadm

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lvs/ipvs"
)

// maxTimeout is ipvsadm's MAX_TIMEOUT: 31 days, in seconds.
const maxTimeout = 86400 * 31

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// parseNumber is ipvsadm's string_to_number: a base-10 integer within
// [lo, hi], or msg as the error.
func parseNumber(s string, lo, hi int64, msg string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, usagef("%s", msg)
	}
	return int(n), nil
}

// parseTimeout is ipvsadm's parse_timeout for -p (lo 1) and --set (lo 0).
func parseTimeout(s string, lo int64) (int, error) {
	return parseNumber(s, lo, maxTimeout, "invalid timeout value `"+s+"' specified")
}

// parseFWMark is ipvsadm's parse_fwmark: 1..2^32-1.
func parseFWMark(s string) (uint32, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 1<<32-1 {
		return 0, usagef("invalid fwmark value `%s' specified", s)
	}
	return uint32(n), nil
}

// parseNetmask reads -M: a dotted IPv4 netmask, or a prefix length 1..128
// for an IPv6 service, as ipvsadm. lvsd keeps persistence granularity as a
// prefix length, so a non-contiguous IPv4 mask is refused.
func parseNetmask(s string, v6 bool) (int, error) {
	if v6 {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 128 {
			return 0, usagef("illegal ipv6 netmask specified")
		}
		return n, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, usagef("illegal virtual server persistent mask specified")
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bits := 0
	for bits < 32 && m&(1<<(31-bits)) != 0 {
		bits++
	}
	if bits < 32 && m<<bits != 0 {
		return 0, usagef("illegal virtual server persistent mask specified")
	}
	return bits, nil
}

// parseHostPort is ipvsadm's parse_service: "a.b.c.d[:port]", "host[:port]",
// a bare IPv6 address or "[v6]:port"; the port a number 0..65535 or a
// service name of proto ("http"). hasPort tells whether a port was given.
func parseHostPort(s string, proto ipvs.Proto) (addr netip.Addr, port uint16, hasPort bool, err error) {
	bad := usagef("illegal address[:port] %q", s)
	if isDigits(s) {
		return addr, 0, false, bad
	}
	host, portStr := s, ""
	if rest, ok := strings.CutPrefix(s, "["); ok {
		h, p, ok := strings.Cut(rest, "]")
		if !ok || !strings.HasPrefix(p, ":") {
			return addr, 0, false, bad
		}
		host, portStr, hasPort = h, p[1:], true
	}
	if a, e := netip.ParseAddr(host); e == nil && a.Is6() {
		addr = a
	} else {
		if !hasPort {
			if i := strings.LastIndexByte(host, ':'); i >= 0 {
				host, portStr, hasPort = host[:i], host[i+1:], true
			}
		}
		if addr, err = lookupHost4(host); err != nil {
			return addr, 0, false, bad
		}
	}
	if !hasPort {
		return addr, 0, false, nil
	}
	if port, err = parsePort(portStr, proto); err != nil {
		return addr, 0, false, bad
	}
	return addr, port, true, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lookupHost4 is ipvsadm's inet_aton, then gethostbyname: IPv4 only.
func lookupHost4(host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() {
			return netip.Addr{}, usagef("not an IPv4 address: %s", host)
		}
		return a, nil
	}
	if !isHostName(host) {
		return netip.Addr{}, usagef("not a host name: %q", host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := resolveHost(ctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, usagef("cannot resolve %s", host)
	}
	return addrs[0].Unmap(), nil
}

// resolveHost looks host names up; the fuzz test swaps it for a stub so that
// random input never waits on DNS.
var resolveHost = net.DefaultResolver.LookupNetIP

// isHostName reports whether s can be a DNS name: letters, digits, '-' and
// '.', not starting with '-'.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// parsePort reads a port number or a service name (getservbyname).
func parsePort(s string, proto ipvs.Proto) (uint16, error) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), nil
	}
	if s == "" || isDigits(s) {
		return 0, usagef("bad port %q", s)
	}
	network := "tcp"
	if proto == ipvs.UDP {
		network = "udp"
	}
	n, err := net.LookupPort(network, s)
	if err != nil {
		return 0, usagef("unknown service %q", s)
	}
	return uint16(n), nil
}

// schedFlagBits are ipvsadm 1.31's -b names. The "flag-fallback" and
// "flag-port" spellings are what Status reports for other schedulers, so
// that -S output restores.
var schedFlagBits = map[string]ipvs.SchedFlags{
	"sh-fallback": ipvs.SchedFlag1, "sh-port": ipvs.SchedFlag2,
	"mh-fallback": ipvs.SchedFlag1, "mh-port": ipvs.SchedFlag2,
	"flag-1": ipvs.SchedFlag1, "flag-2": ipvs.SchedFlag2, "flag-3": ipvs.SchedFlag3,
	"flag-fallback": ipvs.SchedFlag1, "flag-port": ipvs.SchedFlag2,
}

// parseSchedFlags reads -b's comma-separated list; sh-* and mh-* flags only
// go with their scheduler.
func parseSchedFlags(names []string, schedName string) (ipvs.SchedFlags, error) {
	var f ipvs.SchedFlags
	for _, n := range names {
		bit, ok := schedFlagBits[n]
		if !ok {
			return 0, usagef("invalid scheduler flag `%s'", n)
		}
		if pre, _, _ := strings.Cut(n, "-"); (pre == "sh" || pre == "mh") && pre != schedName {
			return 0, usagef("incompatible scheduler flag `%s'", n)
		}
		f |= bit
	}
	return f, nil
}

// fmtAddrPort prints an endpoint as ipvsadm -n does: a.b.c.d:p or [v6]:p.
func fmtAddrPort(a netip.Addr, p uint16) string { return netip.AddrPortFrom(a, p).String() }
