package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/admintest"
	"lvs/admin/api"
	"lvs/admin/api/apitest"
	"lvs/admin/cli"
	"lvs/admin/client"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

func TestAPIRoundTrip(t *testing.T) {
	d := apitest.NewDaemon(t, apitest.BuildTable(t,
		apitest.AddService(admintest.Web, ipvs.SchedSpec{SchedName: "wlc", Persistence: 300 * time.Second, PMaskBits: 32}),
		apitest.AddDest(admintest.Web, ipvs.DestSpec{Addr: admintest.RIP, Port: 80, Method: ipvs.Masq, Weight: 2})))
	d.Conns = []admin.ConnStatus{{Proto: "TCP", State: "ESTABLISHED", Expires: 897 * time.Second}}
	c := client.NewClient(apitest.Serve(t, d))
	defer c.Close()
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services) != 1 || st.Services[0].Persistence != 300*time.Second || len(st.Services[0].Dests) != 1 ||
		st.Services[0].Dests[0].Forward != "Masq" || st.Services[0].Dests[0].Weight != 2 {
		t.Errorf("Status = %+v, want the persistent service with one Masq dest of weight 2", st)
	}
	// A batch reaches the daemon as lvsadm parsed it.
	var batch []ipvsadm.Command
	for _, s := range []string{"-a -t 192.168.26.10:80 -r 10.11.12.2 -g -w 0 -x 9", "-E -f 80 -s sh -b sh-port -p 60 -M 255.255.0.0", "-C"} {
		cmd, err := ipvsadm.ParseArgs(strings.Fields(s))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, cmd)
	}
	if err := c.Apply(ctx, batch); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(d.Applied) != 1 || !reflect.DeepEqual(d.Applied[0], batch) {
		t.Errorf("the daemon received %+v, want the batch %+v", d.Applied, batch)
	}
	conns, err := c.Connections(ctx)
	if err != nil || len(conns) != 1 || conns[0].Expires != 897*time.Second {
		t.Errorf("Connections = %+v, %v", conns, err)
	}
	got, err := c.SetTimeouts(ctx, admin.Timeouts{UDP: 60 * time.Second})
	if want := (admin.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: time.Minute}); err != nil || got != want {
		t.Errorf("SetTimeouts = %+v, %v; want %+v", got, err, want)
	}
	if tm, err := c.Timeouts(ctx); err != nil || tm.UDP != time.Minute {
		t.Errorf("Timeouts = %+v, %v", tm, err)
	}
	if err := c.Zero(ctx, &admintest.Web); err != nil || len(d.Zeroed) != 1 || *d.Zeroed[0] != admintest.Web {
		t.Errorf("Zero(web) = %v, zeroed %v", err, d.Zeroed)
	}
	if err := c.Zero(ctx, nil); err != nil || d.Zeroed[1] != nil {
		t.Errorf("Zero(all) = %v", err)
	}
	if p, err := c.SaveConfig(ctx); err != nil || p != "/etc/sysconfig/ha/lvs.cf" {
		t.Errorf("SaveConfig = %q, %v", p, err)
	}
}

// TestAPIErrors: a daemon's errors reach the client with their sentinel,
// the index of the failed command and ipvsadm's words. Which edit fails
// with which error is lvsd's, tested in daemon (TestLvsadmErrors).
func TestAPIErrors(t *testing.T) {
	d := apitest.NewDaemon(t, apitest.BuildTable(t, apitest.AddService(admintest.Web, ipvs.SchedSpec{SchedName: "wlc", PMaskBits: 32})))
	d.SaveErr = errors.New("writing lvs.cf: read-only file system")
	c := client.NewClient(apitest.Serve(t, d))
	defer c.Close()
	ctx := context.Background()
	parse := func(s string) ipvsadm.Command {
		cmd, err := ipvsadm.ParseArgs(strings.Fields(s))
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	tests := []struct {
		name      string
		cmds      []ipvsadm.Command
		sentinel  error
		index     int
		ipvsadmsg string
	}{
		{"service exists", []ipvsadm.Command{parse("-A -t 192.168.26.10:80")}, ipvs.ErrServiceExists, 0, "Service already exists"},
		{"edit missing service", []ipvsadm.Command{parse("-E -t 192.168.26.10:81")}, ipvs.ErrNoService, 0, "No such service"},
		{"delete missing service", []ipvsadm.Command{parse("-D -t 192.168.26.10:81")}, ipvs.ErrNoService, 0, "No such service"},
		{"server of missing service", []ipvsadm.Command{parse("-a -t 192.168.26.10:81 -r 10.0.0.1")}, ipvs.ErrNoService, 0, "Service not defined"},
		{"dest exists", []ipvsadm.Command{parse("-a -t 192.168.26.10:80 -r 10.11.12.1")}, ipvs.ErrDestExists, 0, "Destination already exists"},
		{"no dest", []ipvsadm.Command{parse("-A -t 192.168.26.10:81"), parse("-d -t 192.168.26.10:80 -r 10.0.0.9")}, ipvs.ErrNoDest, 1, "No such destination"},
		{"edit no dest", []ipvsadm.Command{parse("-e -t 192.168.26.10:80 -r 10.0.0.9 -w 3")}, ipvs.ErrNoDest, 0, "No such destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.ApplyErr = &ipvsadm.CommandError{Index: tt.index, Cmd: tt.cmds[tt.index], Err: tt.sentinel}
			err := c.Apply(ctx, tt.cmds)
			var ae *api.APIError
			if !errors.As(err, &ae) || !errors.Is(err, tt.sentinel) || ae.Index != tt.index {
				t.Fatalf("Apply = %v, want an *APIError matching %v at index %d", err, tt.sentinel, tt.index)
			}
			if got := cli.IpvsadmMessage(err, tt.cmds[tt.index].Kind); got != tt.ipvsadmsg {
				t.Errorf("cli.IpvsadmMessage = %q, want %q", got, tt.ipvsadmsg)
			}
		})
	}
	d.ApplyErr = nil
	if err := c.Zero(ctx, &ipvs.ServiceKey{Proto: ipvs.UDP, Addr: admintest.VIP, Port: 1}); !errors.Is(err, ipvs.ErrNoService) ||
		cli.IpvsadmMessage(err, ipvsadm.KindZero) != "No such service" {
		t.Errorf("Zero(missing) = %v", err)
	}
	if _, err := c.SaveConfig(ctx); err == nil || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("SaveConfig = %v, want the daemon's error", err)
	}
	list, _ := ipvsadm.ParseArgs([]string{"-L"})
	var ae *api.APIError
	if err := c.Apply(ctx, []ipvsadm.Command{list}); !errors.As(err, &ae) || ae.Code != api.CodeBadRequest || ae.Status != http.StatusBadRequest {
		t.Errorf("Apply(list) = %v, want a bad_request error", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lvsd.sock")
	_, err := client.NewClient(path).Status(context.Background())
	want := "cannot reach lvsd at " + path + ": is lvsd running? (connect: no such file or directory)"
	if err == nil || err.Error() != want {
		t.Errorf("Status on a missing socket = %v, want %q", err, want)
	}
	var ue *client.UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("error %T is not an *client.UnreachableError", err)
	}
	if client.NewClient("").Socket() != api.DefaultSocket {
		t.Errorf("client.NewClient(\"\") socket = %s, want %s", client.NewClient("").Socket(), api.DefaultSocket)
	}
}

func TestClientNonJSONAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "teapot", http.StatusTeapot)
	})}
	go srv.Serve(l)
	defer srv.Close()
	_, err = client.NewClient(path).Status(context.Background())
	var ae *api.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusTeapot || !strings.Contains(ae.Message, "teapot") {
		t.Errorf("Status from a non-lvsd server = %v, want an APIError with its text", err)
	}
}
