package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

// Client is the typed client of lvsd's control API, used by lvsadm and the
// simulator. It is safe for concurrent use; every call takes a context.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the lvsd listening on socketPath ("" means
// DefaultSocket). It does not connect until the first call.
func NewClient(socketPath string) *Client {
	if socketPath == "" {
		socketPath = api.DefaultSocket
	}
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{socket: socketPath, hc: &http.Client{Transport: tr}}
}

// Socket returns the socket path the client talks to.
func (c *Client) Socket() string { return c.socket }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// UnreachableError is returned when nothing answers on the socket.
type UnreachableError struct {
	Socket string
	Err    error // the dial error, e.g. connect: no such file or directory
}

// Error says where lvsd was looked for and why it did not answer.
func (e *UnreachableError) Error() string {
	var se *os.SyscallError
	msg := e.Err.Error()
	if errors.As(e.Err, &se) {
		msg = se.Error()
	}
	if errors.Is(e.Err, syscall.EACCES) || errors.Is(e.Err, syscall.EPERM) {
		return fmt.Sprintf("cannot reach lvsd at %s: Permission denied (you must be root) (%s)", e.Socket, msg)
	}
	return fmt.Sprintf("cannot reach lvsd at %s: is lvsd running? (%s)", e.Socket, msg)
}

// Unwrap returns the dial error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Status returns the virtual server table and the timeouts.
func (c *Client) Status(ctx context.Context) (admin.Status, error) {
	var st admin.Status
	err := c.do(ctx, http.MethodGet, api.PathStatus, nil, &st)
	return st, err
}

// Connections returns the connection entries.
func (c *Client) Connections(ctx context.Context) ([]admin.ConnStatus, error) {
	var cs []admin.ConnStatus
	err := c.do(ctx, http.MethodGet, api.PathConnections, nil, &cs)
	return cs, err
}

// Apply sends table edits as one batch. A failure is an *APIError whose
// Index names the failed command; errors.Is matches it with the ipvs
// sentinels (ipvs.ErrServiceExists, ...).
func (c *Client) Apply(ctx context.Context, cmds []ipvsadm.Command) error {
	return c.do(ctx, http.MethodPost, api.PathCommand, api.CommandRequest{Commands: cmds}, nil)
}

// Zero zeroes the counters of svc, or of everything when svc is nil.
func (c *Client) Zero(ctx context.Context, svc *ipvs.ServiceKey) error {
	return c.do(ctx, http.MethodPost, api.PathZero, api.ZeroRequest{Service: svc}, nil)
}

// Timeouts returns the TCP, TCP FIN and UDP timeouts.
func (c *Client) Timeouts(ctx context.Context) (admin.Timeouts, error) {
	var t admin.Timeouts
	err := c.do(ctx, http.MethodGet, api.PathTimeouts, nil, &t)
	return t, err
}

// SetTimeouts sets the timeouts (zero keeps a value) and returns the result.
func (c *Client) SetTimeouts(ctx context.Context, t admin.Timeouts) (admin.Timeouts, error) {
	var got admin.Timeouts
	err := c.do(ctx, http.MethodPut, api.PathTimeouts, t, &got)
	return got, err
}

// SaveConfig has lvsd write its running table to lvs.cf and returns the
// file's path.
func (c *Client) SaveConfig(ctx context.Context) (string, error) {
	var r api.SaveConfigResponse
	err := c.do(ctx, http.MethodPost, api.PathSaveConfig, struct{}{}, &r)
	return r.Path, err
}

// do makes one request; in and out are JSON bodies (nil for none).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding %s request: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://lvsd"+path, body)
	if err != nil {
		return fmt.Errorf("building %s request: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return &UnreachableError{Socket: c.socket, Err: oe.Err}
		}
		return fmt.Errorf("talking to lvsd at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading lvsd's answer to %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding lvsd's answer to %s: %w", path, err)
	}
	return nil
}

// decodeError reads an error answer; a body that is not the API's JSON
// still gives a readable error.
func decodeError(status int, data []byte) error {
	var eb api.ErrorBody
	if err := json.Unmarshal(data, &eb); err == nil && eb.Error != nil && eb.Error.Code != "" {
		eb.Error.Status = status
		return eb.Error
	}
	msg := string(bytes.TrimSpace(data))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return &api.APIError{Status: status, Code: api.CodeUnknown, Index: -1,
		Message: fmt.Sprintf("unexpected answer (HTTP %d): %s", status, msg)}
}

// Drain drains (on) or undrains this director's BGP announcements.
func (c *Client) Drain(ctx context.Context, on bool) error {
	return c.do(ctx, http.MethodPost, api.PathDrain, api.DrainRequest{Drain: on}, nil)
}

// HA returns the router's pair status (empty Role for a router alone).
func (c *Client) HA(ctx context.Context) (admin.HAStatus, error) {
	var h admin.HAStatus
	err := c.do(ctx, http.MethodGet, api.PathHA, nil, &h)
	return h, err
}
