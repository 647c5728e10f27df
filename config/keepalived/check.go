package keepalived

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"lvs/config"
)

// probe is an lvs.cf health check: send/expect, or send_program, or
// neither (a TCP connect). Probes of different real servers compare equal
// when lvs.cf can express both with one virtual's settings.
type probe struct {
	send, expect, program string
	regex                 bool
	kind                  string // the keepalived checker it came from
	at                    *Stmt
}

func (p *probe) same(q *probe) bool {
	return p.send == q.send && p.expect == q.expect && p.program == q.program && p.regex == q.regex
}

var checkers = []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK", "SMTP_CHECK",
	"DNS_CHECK", "PING_CHECK", "UDP_CHECK", "FILE_CHECK", "BFD_CHECK"}

func isChecker(k string) bool { return slices.Contains(checkers, k) }

// misc wraps a MISC_CHECK script for send_program: keepalived judges the
// script by its exit status, nanny by its output compared with expect, so
// the script runs under sh, its output is dropped, and "up" is printed when
// it exits 0. $0 is the script and $@ its arguments, which keep %h and %p
// as words of their own for lvsd to replace.
const (
	miscWrapper = `/bin/sh -c "$0"${IFS}"$@">/dev/null&&echo${IFS}up`
	miscExpect  = "up"
)

// check converts the checker k of real server s (at port) into a probe and
// compares it with the virtual's.
func (vc *vsConv) check(k *Stmt, s *config.Server, port uint16, where string) {
	in := vc.where + where + ": " + k.Key
	p := &probe{kind: k.Key, at: k}
	var urls []*Stmt
	for _, o := range k.Block {
		switch o.Key {
		case "connect_port":
			if vc.d.need(o, 1, 1) && o.Args[0] != strconv.Itoa(int(port)) {
				vc.d.warn(o, "%s: connect_port %s: lvs.cf checks the real server's port %d: not carried over", in, o.Args[0], port)
			}
		case "delay_loop":
			vc.delayLoop(o, where)
		case "connect_timeout":
			vc.d.warn(o, "%s: connect_timeout has no equivalent in lvs.cf: a check times out after timeout, the check interval (%d s)", in, int(vc.v.Timeout.Seconds()))
		case "url":
			if k.Key == "HTTP_GET" || k.Key == "SSL_GET" {
				urls = append(urls, o)
			} else {
				vc.d.unsupported(o, in)
			}
		case "misc_path":
			if k.Key == "MISC_CHECK" && vc.d.need(o, 1, 1) {
				p.program = miscWrapper + " " + template(o.Args[0], s.Address.String(), strconv.Itoa(int(port)))
				p.expect = miscExpect
			} else if k.Key != "MISC_CHECK" {
				vc.d.unsupported(o, in)
			}
		case "user":
			if k.Key == "MISC_CHECK" {
				vc.d.warn(o, "%s: user %s has no equivalent in lvs.cf: lvsd runs the check as itself", in, strings.Join(o.Args, " "))
			} else {
				vc.d.unsupported(o, in)
			}
		default:
			vc.d.unsupported(o, in)
		}
	}
	switch k.Key {
	case "HTTP_GET":
		vc.httpGet(p, urls, in)
	case "SSL_GET":
		vc.d.warn(k, "%s: lvs.cf has no TLS check: lvsd checks this server with a TCP connect to port %d (for more, write a send_program)", in, port)
	case "TCP_CHECK":
		switch {
		case vc.v.Protocol == config.ProtoUDP:
			vc.d.warn(k, "%s: lvs.cf checks a UDP service with a UDP probe, not a TCP connect", in)
		case vc.v.Port == 80:
			vc.d.warn(k, `%s: on port 80 lvs.cf's default check is nanny's "GET / HTTP/1.0" expecting "HTTP", more than a TCP connect`, in)
		}
	case "MISC_CHECK":
		if p.program == "" {
			vc.d.at(k, "%s: misc_path is missing", in)
			return
		}
	case "SMTP_CHECK":
		p.expect = "220" // the server's greeting, which nanny reads on connect
	default:
		vc.d.warn(k, "%s has no equivalent in lvs.cf: lvsd checks this server with a TCP connect to port %d", in, port)
		p.kind = "TCP_CHECK"
	}
	if vc.probe == nil {
		vc.probe = p
		return
	}
	if !p.same(vc.probe) {
		vc.d.warn(k, "%s: differs from the %s check of line %d, which lvs.cf applies to every real server of the virtual: not carried over", in, vc.probe.kind, vc.probe.at.Line)
	}
}

// httpGet turns the first url { path; status_code } into send and expect:
// an HTTP/1.0 GET, and a regular expression over the status line.
func (vc *vsConv) httpGet(p *probe, urls []*Stmt, in string) {
	path, codes, host := "/", []string{"200-299"}, vc.vhost
	for i, u := range urls {
		if i > 0 {
			vc.d.warn(u, "%s: lvs.cf checks one URL: this url block is not carried over", in)
			continue
		}
		for _, o := range u.Block {
			switch o.Key {
			case "path":
				if vc.d.need(o, 1, 1) {
					path = o.Args[0]
				}
			case "status_code":
				if vc.d.need(o, 1, -1) {
					codes = o.Args
				}
			case "virtualhost":
				if vc.d.need(o, 1, 1) {
					host = o.Args[0]
				}
			case "digest":
				vc.d.warn(o, "%s: url digest (an MD5 of the page) has no equivalent in lvs.cf: only the status code is checked", in)
			default:
				vc.d.unsupported(o, in+": url")
			}
		}
	}
	re, err := statusRegex(codes)
	if err != nil {
		vc.d.at(urls[0], "%s: status_code: %v", in, err)
		return
	}
	p.send = `GET ` + path + ` HTTP/1.0\r\n`
	if host != "" {
		p.send += `Host: ` + host + `\r\n`
	}
	p.send += `\r\n`
	p.expect, p.regex = `^HTTP/1\.[01] (`+re+`)`, true
}

// statusRegex turns keepalived status codes ("200", "200-299") into the
// alternatives of an extended regular expression: whole hundreds and tens
// become character classes, the rest single codes.
func statusRegex(specs []string) (string, error) {
	var alts []string
	for _, spec := range specs {
		lo, hi, isRange := strings.Cut(spec, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || l < 100 || h > 999 || l > h {
			return "", fmt.Errorf("expected codes or ranges within 100-999, got %q", spec)
		}
		for c := l; c <= h; {
			switch {
			case c%100 == 0 && c+99 <= h:
				alts = append(alts, fmt.Sprintf("%d[0-9][0-9]", c/100))
				c += 100
			case c%10 == 0 && c+9 <= h:
				alts = append(alts, fmt.Sprintf("%d[0-9]", c/10))
				c += 10
			default:
				alts = append(alts, strconv.Itoa(c))
				c++
			}
		}
	}
	return strings.Join(alts, "|"), nil
}

// template replaces the words of a MISC_CHECK command that are the real
// server's address or port with %h and %p, so that one send_program serves
// every real server of the virtual.
func template(cmd, host, port string) string {
	words := strings.Fields(cmd)
	for i, w := range words {
		switch w {
		case host:
			words[i] = "%h"
		case port:
			words[i] = "%p"
		}
	}
	return strings.Join(words, " ")
}
