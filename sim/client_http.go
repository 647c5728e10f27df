package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// opFor returns the request function of a traffic step.
func (s *Site) opFor(tr *Traffic) op {
	switch {
	case tr.Kind == TrafficTCP:
		return s.tcpEchoOp(tr.To, tr.Size)
	case tr.Kind == TrafficUDP:
		return s.udpEchoOp(tr.To)
	case tr.Kind == TrafficFTP:
		return s.ftpOp(tr)
	case tr.Client == "curl":
		return s.curlOp(tr)
	}
	return s.httpOp(tr)
}

// httpOp does one GET on a new connection (no keep-alive, so every request
// is scheduled anew), over TLS when the port is 443.
func (s *Site) httpOp(tr *Traffic) op {
	scheme := "http"
	if tr.To.Port() == 443 {
		scheme = "https"
	}
	path := tr.Path
	var want [32]byte
	if tr.Kind == TrafficDownload {
		path = fmt.Sprintf("/bytes/%d", tr.Size)
		want = patternSum(tr.Size)
	}
	url := fmt.Sprintf("%s://%s%s", scheme, tr.To, path)
	var mu sync.Mutex
	clients := map[source]*http.Client{}
	client := func(src source) *http.Client {
		mu.Lock()
		defer mu.Unlock()
		if c := clients[src]; c != nil {
			return c
		}
		c := &http.Client{Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return s.dial(ctx, src, "tcp", addr)
			},
			// Test traffic to our own responder's throwaway certificate.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		}}
		clients[src] = c
		return c
	}
	return func(ctx context.Context, src source) (outcome, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return outcome{}, err
		}
		resp, err := client(src).Do(req)
		if err != nil {
			return outcome{}, err
		}
		defer resp.Body.Close()
		out := outcome{server: resp.Header.Get("X-Real-Server")}
		if tr.Kind == TrafficDownload {
			h := sha256.New()
			out.bytes, err = io.Copy(h, paced(ctx, resp.Body, tr.Pace))
			if err != nil {
				return out, fmt.Errorf("download cut after %d bytes: %w", out.bytes, err)
			}
			if out.corrupt = [32]byte(h.Sum(nil)) != want; out.corrupt {
				return out, fmt.Errorf("download checksum mismatch (%d bytes)", out.bytes)
			}
			return out, nil
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		out.bytes = int64(len(body))
		if err != nil {
			return out, err
		}
		return out, checkBody(resp.StatusCode, body, tr.Expect)
	}
}

func checkBody(status int, body []byte, expect string) error {
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d", status)
	}
	if expect != "" && !bytes.Contains(body, []byte(expect)) {
		return fmt.Errorf("body lacks %q", expect)
	}
	return nil
}

// curlOp runs curl in the client namespace, bound to the source address.
func (s *Site) curlOp(tr *Traffic) op {
	return func(ctx context.Context, src source) (outcome, error) {
		if _, err := exec.LookPath("curl"); err != nil {
			return outcome{}, errors.New("curl is not installed")
		}
		sec := fmt.Sprintf("%.1f", tr.Timeout.Seconds())
		args := []string{"netns", "exec", s.Namespace(src.node),
			"curl", "-sS", "--max-time", sec, "--interface", src.addr.String(), "-D", "-"}
		args = append(args, curlTarget(tr)...) // ipv6.go
		cmd := exec.CommandContext(ctx, "ip", args...)
		out, err := cmd.Output()
		if err != nil {
			return outcome{}, fmt.Errorf("curl: %w", err)
		}
		head, body, _ := bytes.Cut(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n")), []byte("\n\n"))
		o := outcome{bytes: int64(len(body))}
		for _, l := range strings.Split(string(head), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "X-Real-Server") {
				o.server = strings.TrimSpace(v)
			}
		}
		if !strings.Contains(string(head), " 200") {
			return o, fmt.Errorf("curl: %s", firstLine(string(head)))
		}
		return o, checkBody(200, body, tr.Expect)
	}
}

// ftpOp runs one lftp session in passive or active mode (tr.Mode): it
// reads whoami (the real server's name) and downloads data.bin, whose
// checksum it verifies. In active mode the real server connects to the
// client from port 20, through the router's masquerading.
func (s *Site) ftpOp(tr *Traffic) op {
	want := patternSum(ftpFileSize)
	return func(ctx context.Context, src source) (outcome, error) {
		if _, err := exec.LookPath("lftp"); err != nil {
			return outcome{}, errors.New("lftp is not installed")
		}
		dir, err := os.MkdirTemp(s.Dir, "ftp-get-")
		if err != nil {
			return outcome{}, err
		}
		defer os.RemoveAll(dir)
		passive := "on"
		if tr.Mode == "active" {
			passive = "off"
		}
		bind := "ipv4"
		if src.addr.Is6() { // lftp then uses EPSV and EPRT |2| (RFC 2428)
			bind = "ipv6"
		}
		script := fmt.Sprintf("set net:timeout 5; set net:max-retries 1; set ftp:passive-mode %s; "+
			"set net:socket-bind-%s %s; open ftp://anonymous:x@%s; cat whoami; get data.bin -o %s; bye",
			passive, bind, src.addr, tr.To, filepath.Join(dir, "data.bin"))
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", s.Namespace(src.node), "lftp", "-c", script)
		out, err := cmd.CombinedOutput()
		o := outcome{server: strings.TrimSpace(firstLine(string(out)))}
		if err != nil {
			return outcome{}, fmt.Errorf("lftp: %s", strings.TrimSpace(string(out)))
		}
		data, err := os.ReadFile(filepath.Join(dir, "data.bin"))
		if err != nil {
			return o, fmt.Errorf("ftp download missing: %w", err)
		}
		o.bytes = int64(len(data))
		if o.corrupt = sha256.Sum256(data) != want; o.corrupt {
			return o, fmt.Errorf("ftp download checksum mismatch (%d bytes)", len(data))
		}
		return o, nil
	}
}

// paced reads r at most rate bytes a second (r itself when rate is 0), so
// that a download stays in flight across a fault: the client's receive
// window fills and the server waits, as with a slow client.
func paced(ctx context.Context, r io.Reader, rate int64) io.Reader {
	if rate <= 0 {
		return r
	}
	return &pacedReader{ctx: ctx, r: r, rate: rate, start: time.Now()}
}

type pacedReader struct {
	ctx   context.Context
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second))); time.Until(due) > 0 {
		select {
		case <-p.ctx.Done():
			return 0, p.ctx.Err()
		case <-time.After(time.Until(due)):
		}
	}
	b = b[:min(int64(len(b)), max(p.rate/20, 1))] // about 50 ms of data per read
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}
