package nat

import (
	"bytes"
	"net/netip"
	"strconv"
)

// The FTP helper's parsers and rewriters, as the kernel's ip_vs_ftp
// (net/netfilter/ipvs/ip_vs_ftp.c) and nf_conntrack_ftp: pure functions
// over the TCP payload of one segment of the control connection. They do
// not allocate. A command or reply split over two segments is not seen,
// as in the kernel (which looks at each segment alone too).

// HostPortMaxLen is the longest "h1,h2,h3,h4,p1,p2" text.
const HostPortMaxLen = len("255,255,255,255,255,255")

// Span is a byte range [Start, End) of a payload.
type Span struct{ Start, End int }

// ParsePASV parses a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
// reply at the start of payload. It returns the announced address and
// port and where the six numbers are (the text the helper rewrites). Like
// ip_vs_ftp it accepts the numbers with or without parentheses: it takes
// the first digit after "227 ".
func ParsePASV(payload []byte) (netip.AddrPort, Span, bool) {
	if !hasPrefixFold(payload, "227 ") {
		return netip.AddrPort{}, Span{}, false
	}
	end := lineEnd(payload)
	for i := 4; i < end; i++ {
		if isDigit(payload[i]) {
			ap, n, ok := parseHostPort(payload[i:end])
			if !ok {
				return netip.AddrPort{}, Span{}, false
			}
			return ap, Span{i, i + n}, true
		}
	}
	return netip.AddrPort{}, Span{}, false
}

// ParseEPSV parses a `229 Entering Extended Passive Mode (|||port|)` reply
// (RFC 2428) at the start of payload and returns the port.
func ParseEPSV(payload []byte) (uint16, bool) {
	if !hasPrefixFold(payload, "229 ") {
		return 0, false
	}
	end := lineEnd(payload)
	for i := 4; i+4 < end; i++ {
		if payload[i] != '(' {
			continue
		}
		d := payload[i+1] // the delimiter: any printable character, "|" in practice
		if d < 33 || d > 126 || payload[i+2] != d || payload[i+3] != d {
			return 0, false
		}
		p, n, ok := parseUint(payload[i+4:end], 65535)
		if !ok || p == 0 || i+4+n >= end || payload[i+4+n] != d {
			return 0, false
		}
		return uint16(p), true
	}
	return 0, false
}

// ParsePORT parses a `PORT h1,h2,h3,h4,p1,p2` command at the start of
// payload (RFC 959; the verb in any case) and returns the client's data
// address and where the six numbers are.
func ParsePORT(payload []byte) (netip.AddrPort, Span, bool) {
	if !hasPrefixFold(payload, "PORT ") {
		return netip.AddrPort{}, Span{}, false
	}
	i, end := 5, lineEnd(payload)
	for i < end && payload[i] == ' ' {
		i++
	}
	ap, n, ok := parseHostPort(payload[i:end])
	if !ok {
		return netip.AddrPort{}, Span{}, false
	}
	return ap, Span{i, i + n}, true
}

// ParseEPRT parses an `EPRT |1|h.h.h.h|port|` or `EPRT |2|ipv6|port|`
// command (RFC 2428) at the start of payload. Address family 1 is IPv4,
// 2 IPv6 (an IPv6 address must not be IPv4-mapped or carry a zone); as
// ip_vs_ftp, the helper follows both.
func ParseEPRT(payload []byte) (netip.AddrPort, bool) {
	if !hasPrefixFold(payload, "EPRT ") {
		return netip.AddrPort{}, false
	}
	end := lineEnd(payload)
	b := payload[5:end]
	if len(b) < 1 {
		return netip.AddrPort{}, false
	}
	d := b[0]
	if d < 33 || d > 126 || len(b) < 3 || b[1] != '1' && b[1] != '2' || b[2] != d {
		return netip.AddrPort{}, false
	}
	if b[1] == '2' {
		return parseEPRT6(b[3:], d)
	}
	b = b[3:]
	var a [4]byte
	for k := range 4 {
		v, n, ok := parseUint(b, 255)
		if !ok {
			return netip.AddrPort{}, false
		}
		a[k] = byte(v)
		b = b[n:]
		sep := byte('.')
		if k == 3 {
			sep = d
		}
		if len(b) == 0 || b[0] != sep {
			return netip.AddrPort{}, false
		}
		b = b[1:]
	}
	p, n, ok := parseUint(b, 65535)
	if !ok || p == 0 || n >= len(b) || b[n] != d {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(p)), true
}

// maxIPv6Text is the longest text form of an IPv6 address
// (ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255).
const maxIPv6Text = 45

// parseEPRT6 parses "ipv6|port|" of an EPRT command of family 2, with
// delimiter d. It allocates the address text once (an EPRT command is
// one per data connection, not per packet).
func parseEPRT6(b []byte, d byte) (netip.AddrPort, bool) {
	i := bytes.IndexByte(b, d)
	if i < 2 || i > maxIPv6Text {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(string(b[:i]))
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return netip.AddrPort{}, false
	}
	b = b[i+1:]
	p, n, ok := parseUint(b, 65535)
	if !ok || p == 0 || n >= len(b) || b[n] != d {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(p)), true
}

// AppendHostPort appends ap as "h1,h2,h3,h4,p1,p2" (the form of 227 and
// PORT) to dst.
func AppendHostPort(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().As4()
	for _, v := range [6]uint64{uint64(a[0]), uint64(a[1]), uint64(a[2]), uint64(a[3]),
		uint64(ap.Port() >> 8), uint64(ap.Port() & 0xff)} {
		dst = strconv.AppendUint(dst, v, 10)
		dst = append(dst, ',')
	}
	return dst[:len(dst)-1]
}

// parseHostPort parses "h1,h2,h3,h4,p1,p2" at the start of b and returns
// the address, the port and the length of the text.
func parseHostPort(b []byte) (netip.AddrPort, int, bool) {
	var v [6]byte
	off := 0
	for k := range 6 {
		x, n, ok := parseUint(b[off:], 255)
		if !ok {
			return netip.AddrPort{}, 0, false
		}
		v[k] = byte(x)
		off += n
		if k < 5 {
			if off >= len(b) || b[off] != ',' {
				return netip.AddrPort{}, 0, false
			}
			off++
		}
	}
	port := uint16(v[4])<<8 | uint16(v[5])
	if port == 0 {
		return netip.AddrPort{}, 0, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(v[:4])), port), off, true
}

// parseUint parses at most 5 decimal digits at the start of b, no larger
// than max.
func parseUint(b []byte, max uint32) (uint32, int, bool) {
	var v uint32
	n := 0
	for n < len(b) && n < 6 && isDigit(b[n]) {
		v = v*10 + uint32(b[n]-'0')
		n++
	}
	if n == 0 || n > 5 || v > max {
		return 0, 0, false
	}
	return v, n, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lineEnd returns the end of the first line of b (the index of '\r' or
// '\n', or len(b)).
func lineEnd(b []byte) int {
	for i, c := range b {
		if c == '\r' || c == '\n' {
			return i
		}
	}
	return len(b)
}

func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := range len(p) {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// Splice replaces payload[s.Start:s.End] with repl inside buf, which holds
// the payload at buf[off:off+n] and has room for the size change: the
// bytes after the span move. It returns the new payload length.
func Splice(buf []byte, off, n int, s Span, repl []byte) int {
	d := len(repl) - (s.End - s.Start)
	tail := buf[off+s.End : off+n]
	copy(buf[off+s.End+d:], tail)
	copy(buf[off+s.Start:], repl)
	return n + d
}
