package config

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// builtinServices maps the service names an lvs.cf is likely to use to their
// TCP ports, so `port = http` works on a host without /etc/services.
var builtinServices = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
	"http": 80, "www": 80, "www-http": 80, "pop3": 110, "nntp": 119,
	"ntp": 123, "imap": 143, "imap2": 143, "snmp": 161, "ldap": 389, "https": 443,
	"smtps": 465, "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995,
	"ms-sql-s": 1433, "openvpn": 1194, "mysql": 3306, "postgresql": 5432,
	"http-alt": 8080, "webcache": 8080, "sip": 5060,
	"squid": 3128, "redis": 6379, "memcache": 11211,
}

// servicesFile is read once, lazily, on the first service-name lookup.
const servicesFile = "/etc/services"

var (
	servicesOnce sync.Once
	systemPorts  map[string]uint16
)

// LookupService returns the TCP port of a service name, as getservbyname(name,
// "tcp") would: /etc/services when readable, then the built-in table.
func LookupService(name string) (uint16, bool) {
	servicesOnce.Do(func() { systemPorts = readServices(servicesFile) })
	if p, ok := systemPorts[name]; ok {
		return p, true
	}
	p, ok := builtinServices[name]
	return p, ok
}

// readServices parses an /etc/services file ("name port/proto aliases…"),
// keeping TCP entries. A missing or unreadable file gives an empty map.
func readServices(path string) map[string]uint16 {
	m := map[string]uint16{}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(s)
		if len(fields) < 2 {
			continue
		}
		port, proto, ok := strings.Cut(fields[1], "/")
		if !ok || proto != "tcp" {
			continue
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		for _, name := range append([]string{fields[0]}, fields[2:]...) {
			if _, dup := m[name]; !dup {
				m[name] = uint16(n)
			}
		}
	}
	return m
}
