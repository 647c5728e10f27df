package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// DefaultAllow is the allow-list when none is given: the router itself,
// as the guide recommends (§2.4: `Allow from 127.0.0.1`).
var DefaultAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ParseAllowList parses a comma- or blank-separated list of addresses and
// networks: "192.168.1.100", "10.0.0.0/8", "::1", and the .htaccess form of a
// network, "172.16.57" (the leading octets: 172.16.57.0/24). "all" allows
// every client, as `Allow from all` did.
func ParseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		p, err := parseAllow(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("allow-list %q: expected addresses or networks", s)
	}
	return out, nil
}

func parseAllow(f string) ([]netip.Prefix, error) {
	if f == "all" {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil
	}
	if strings.Contains(f, "/") {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("allow-list entry %q: expected an address, a network such as 10.0.0.0/8, or all", f)
		}
		return []netip.Prefix{p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(f); err == nil {
		return []netip.Prefix{netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())}, nil
	}
	// .htaccess partial address: 1 to 3 leading octets.
	parts := strings.Split(f, ".")
	if len(parts) >= 1 && len(parts) <= 3 {
		full := f + strings.Repeat(".0", 4-len(parts))
		if a, err := netip.ParseAddr(full); err == nil && a.Is4() {
			return []netip.Prefix{netip.PrefixFrom(a, 8*len(parts))}, nil
		}
	}
	return nil, fmt.Errorf("allow-list entry %q: expected an address, a network such as 10.0.0.0/8, or all", f)
}

// Allowed reports whether the client at remote ("IP:port", as
// http.Request.RemoteAddr) is in list.
func Allowed(list []netip.Prefix, remote string) bool {
	a, ok := clientAddr(remote)
	if !ok {
		return false
	}
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func clientAddr(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// AllowHandler refuses, with 403 and before anything else runs, every
// client whose address is not in list. It covers every path it wraps,
// the login and help pages included (the guide's §2.4 warns that Piranha's
// .htaccess left those open).
func AllowHandler(list []netip.Prefix, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Allowed(list, r.RemoteAddr) {
			http.Error(w, "403 forbidden: this address is not in lvsd's --admin-allow list", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
