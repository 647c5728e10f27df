package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseCInt parses s as C's strtol(s, &end, 0) with *end == 0: optional
// sign, then "0x" hexadecimal, "0" octal or decimal digits (so 0x10 and 010
// are 16 and 8, as in Piranha).
func parseCInt(s string) (int64, bool) {
	t := s
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" || t[0] == '+' || t[0] == '-' || strings.IndexByte(t, '_') >= 0 {
		return 0, false
	}
	u, err := strconv.ParseUint(t, base, 63)
	if err != nil {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// intIn parses an integer from lo to hi; what names it in the error.
func intIn(s string, lo, hi int64, what string) (int64, error) {
	n, ok := parseCInt(s)
	if !ok {
		return 0, fmt.Errorf("expected %s (an integer from %d to %d), got %q", what, lo, hi, s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("expected %s from %d to %d, got %s", what, lo, hi, s)
	}
	return n, nil
}

// parseBool accepts 0 or 1 (strtol spelling), as Piranha's getBoolean.
func parseBool(s string) (bool, error) {
	n, ok := parseCInt(s)
	if !ok || (n != 0 && n != 1) {
		return false, fmt.Errorf("expected a boolean (0 or 1), got %q", s)
	}
	return n == 1, nil
}

// maxSeconds bounds every time value: IPVS keeps timeouts as 32-bit seconds.
const maxSeconds = math.MaxInt32

// parseSeconds parses a whole number of seconds into a Duration.
func parseSeconds(s string, lo int64) (time.Duration, error) {
	n, err := intIn(s, lo, maxSeconds, "a number of seconds")
	return time.Duration(n) * time.Second, err
}

// parseIPv4 parses a dotted-quad IPv4 address. Host names are not resolved:
// config never touches the network.
func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		if err == nil || !strings.ContainsAny(s, ".:") {
			return netip.Addr{}, fmt.Errorf("expected an IPv4 address like 192.168.26.10, got %q (host names are not resolved)", s)
		}
		return netip.Addr{}, fmt.Errorf("expected an IPv4 address like 192.168.26.10, got %q", s)
	}
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("expected a unicast IPv4 address, got %s", s)
	}
	return a, nil
}

// parsePrefix parses "10.11.12.0/24" or a bare address (a /32).
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, fmt.Errorf("expected an IPv4 address or network like 10.11.12.0/24, got %q", s)
		}
		return netip.PrefixFrom(a, 32), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		// iptables also accepts ADDR/MASK with a dotted mask.
		addr, mask, _ := strings.Cut(s, "/")
		a, aerr := netip.ParseAddr(addr)
		m, merr := ParseNetmask(mask)
		if aerr != nil || merr != nil || !a.Is4() {
			return netip.Prefix{}, fmt.Errorf("expected an IPv4 address or network like 10.11.12.0/24, got %q", s)
		}
		p = netip.PrefixFrom(a, m.Bits())
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("network %s has host bits set: expected %s", s, p.Masked())
	}
	return p, nil
}

// formatPrefix writes an IPv4 /32 or an IPv6 /128 as a bare address.
func formatPrefix(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// parsePort parses a port number or a service name ("http").
func parsePort(s string, lo int64) (uint16, error) {
	if n, ok := parseCInt(s); ok {
		if n < lo || n > 65535 {
			return 0, fmt.Errorf("expected a port from %d to 65535, got %s", lo, s)
		}
		return uint16(n), nil
	}
	if p, ok := LookupService(s); ok {
		return p, nil
	}
	return 0, fmt.Errorf("expected a port number or service name, got %q", s)
}

// parsePortRange parses "21", "http" or "10000:20000" (iptables spelling).
func parsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, ":")
	a, err := parsePort(lo, 0)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{a, a}, nil
	}
	b, err := parsePort(hi, 0)
	if err != nil {
		return PortRange{}, err
	}
	if b < a {
		return PortRange{}, fmt.Errorf("port range %s runs backwards: expected LOW:HIGH", s)
	}
	return PortRange{a, b}, nil
}

// parsePortList parses "21,10000:20000".
func parsePortList(s string) ([]PortRange, error) {
	var out []PortRange
	for _, f := range strings.Split(s, ",") {
		r, err := parsePortRange(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func formatPortList(rs []PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// checkDevice validates an interface name with an optional alias label
// ("eth0", "eth0:1"): Linux allows at most 15 bytes, no blanks, '/' or ':'
// in the interface part.
func checkDevice(s string) error {
	base, label, hasLabel := strings.Cut(s, ":")
	bad := func(x string) bool {
		return x == "" || len(x) > 15 || x == "." || x == ".." || strings.ContainsAny(x, "/: \t\"'")
	}
	if bad(base) || (hasLabel && bad(label)) || len(s) > 15 {
		return fmt.Errorf("expected a device name like eth0 or eth0:1, got %q", s)
	}
	return nil
}

// parseProtocol accepts tcp or udp.
func parseProtocol(s string) (Protocol, error) {
	switch s {
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	}
	return 0, fmt.Errorf("expected tcp or udp, got %q", s)
}

// parseSchedFlags parses "sh-fallback,sh-port" (ipvsadm -b spelling; also
// flag-1 and flag-2). Whether the flags fit the scheduler is checked by validate.
func parseSchedFlags(s string) (SchedFlags, error) {
	var f SchedFlags
	for _, name := range strings.Split(s, ",") {
		switch name {
		case "sh-fallback", "mh-fallback", "flag-1":
			f |= SchedFlagFallback
		case "sh-port", "mh-port", "flag-2":
			f |= SchedFlagPort
		default:
			return 0, fmt.Errorf("expected scheduler flags sh-fallback, sh-port, mh-fallback or mh-port (comma-separated), got %q", name)
		}
	}
	return f, nil
}

func fmtBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func fmtSecs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func fmtAddr(a netip.Addr) (string, bool) {
	if !a.IsValid() {
		return "", false
	}
	return a.String(), true
}
