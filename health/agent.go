package health

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// agent is the modern load_monitor: load_monitor = "http://%h:9100/agent"
// makes health GET that URL on the real server after every successful
// check (%h becomes the server address, %p its port) and read the first line
// of the body the way HAProxy reads an agent-check reply: words separated by
// blanks or commas, case-insensitive, anything after '#' a description.
//
//	up, ready                       leave drain
//	drain                           weight 0, existing connections stay
//	down, fail, failed, stopped,
//	maint                           the server is down (as a failed check)
//	75%                             weight = 75% of the configured weight
//	0.42                            a 1-minute load average: nanny's formula
//
// Other words (maxconn:N) are ignored. A reply other than 2xx, a network
// error or a body with no known word is no reading: the weight stays.
type agent struct {
	url    string
	client *http.Client
}

// agentBodyMax bounds how much of the agent's reply is read.
const agentBodyMax = 1024

func isAgentURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func newAgent(tmpl string, addr netip.AddrPort) (*agent, error) {
	// In a URL an IPv6 host is bracketed (RFC 3986): %h becomes [2001:db8::10],
	// and a template that brackets it itself ("http://[%h]:9100/") keeps one pair.
	host := addr.Addr().String()
	if addr.Addr().Is6() {
		host = "[" + host + "]"
	}
	url := strings.NewReplacer("[%h]", host, "%h", host, "%p", strconv.Itoa(int(addr.Port()))).Replace(tmpl)
	if _, err := http.NewRequest(http.MethodGet, url, nil); err != nil {
		return nil, fmt.Errorf("%w: load_monitor %q: %v", ErrSpec, tmpl, err)
	}
	// No keep-alive: one request per interval, and no idle connection (or
	// its goroutines) outlives a check.
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	return &agent{url: url, client: &http.Client{Transport: tr}}, nil
}

func (a *agent) Load(ctx context.Context) Load {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return Load{Detail: "agent: " + err.Error()}
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return Load{Detail: "agent: " + reason("agent", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return Load{Detail: "agent: HTTP " + resp.Status}
	}
	line, err := bufio.NewReader(io.LimitReader(resp.Body, agentBodyMax)).ReadString('\n')
	if err != nil && err != io.EOF {
		return Load{Detail: "agent: " + reason("read", err)}
	}
	return parseAgent(line)
}

// parseAgent reads one agent reply line (see agent).
func parseAgent(line string) Load {
	var l Load
	line = strings.TrimRight(line, "\r\n")
	if i := strings.IndexByte(line, '#'); i >= 0 {
		l.Detail = strings.TrimSpace(line[i+1:])
		line = line[:i]
	}
	words := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
	for _, w := range words {
		switch lw := strings.ToLower(w); lw {
		case "up", "ready":
			l.State = AgentUp
		case "drain":
			l.State = AgentDrain
		case "down", "fail", "failed", "stopped", "maint":
			l.State = AgentDown
		default:
			if p, ok := strings.CutSuffix(lw, "%"); ok {
				if n, err := strconv.Atoi(p); err == nil && n >= 0 {
					l.Kind, l.Value = LoadPercent, float64(n)
				}
			} else if f, err := strconv.ParseFloat(lw, 32); err == nil && f >= 0 && !strings.ContainsAny(lw, "xXpPeEnN_") {
				l.Kind, l.Value = LoadAverage, float64(float32(f))
			}
		}
	}
	if l.State == AgentNone && l.Kind == LoadNone && l.Detail == "" {
		l.Detail = "agent: no state or weight in " + quote([]byte(line))
	}
	return l
}
