package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/api"
	"lvs/admin/ipvsadm"
	"lvs/ipvs"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildLvsadm builds this command once per test run: the tests run the
// real binary, as an administrator would.
func buildLvsadm(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "lvsadm-bin"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "lvsadm")
		var out []byte
		if out, buildErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); buildErr != nil {
			buildErr = errors.New(buildErr.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

// stubDaemon answers with a fixed one-service table and records edits.
type stubDaemon struct {
	mu    sync.Mutex
	edits []ipvsadm.Command
}

func (d *stubDaemon) Status() admin.Status {
	return admin.Status{Services: []admin.ServiceStatus{{Proto: "TCP", Addr: netip.MustParseAddr("192.168.26.10"),
		Port: 80, Sched: "wlc", Dests: []admin.DestStatus{{Addr: netip.MustParseAddr("10.11.12.1"), Port: 80,
			Forward: "Masq", Weight: 1, Active: 3, Inactive: 12}}}},
		Timeouts: admin.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}}
}

func (d *stubDaemon) Connections() []admin.ConnStatus { return nil }

func (d *stubDaemon) Apply(_ context.Context, cmds []ipvsadm.Command) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range cmds {
		if c.Kind == ipvsadm.KindAddService {
			return &ipvsadm.CommandError{Cmd: c, Err: ipvs.ErrServiceExists}
		}
	}
	d.edits = append(d.edits, cmds...)
	return nil
}

func (d *stubDaemon) Zero(context.Context, *ipvs.ServiceKey) error { return nil }

func (d *stubDaemon) SetTimeouts(context.Context, admin.Timeouts) error { return nil }

func (d *stubDaemon) SaveConfig(context.Context) (string, error) {
	return "", errors.New("writing lvs.cf: permission denied")
}

func TestLvsadmBinary(t *testing.T) {
	bin := buildLvsadm(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "lvsd.sock")
	l, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	d := &stubDaemon{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, l, d) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	list := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  192.168.26.10:80 wlc\n" +
		"  -> 10.11.12.1:80                Masq    1      3          12        \n"
	tests := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"-Ln", "--socket", sock}, 0, list, ""},
		{[]string{"--socket=" + sock, "-L", "--timeout"}, 0, "Timeout (tcp tcpfin udp): 900 120 300\n", ""},
		{[]string{"-a", "-t", "192.168.26.10:80", "-r", "10.11.12.2", "--socket", sock}, 0, "", ""},
		{[]string{"-A", "-t", "192.168.26.10:80", "--socket", sock}, 1, "", "Service already exists\n"},
		{[]string{"--save-config", "--socket", sock}, 1, "", "writing lvs.cf: permission denied\n"},
		{[]string{"-L", "--weight", "2"}, 2, "", "Illegal 'weight' option with the 'list' command\n"},
		{[]string{"-L", "--socket", filepath.Join(dir, "none.sock")}, 1, "",
			"cannot reach lvsd at " + filepath.Join(dir, "none.sock") + ": is lvsd running? (connect: no such file or directory)\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || out.String() != tt.stdout || errb.String() != tt.stderr {
				t.Errorf("lvsadm %v = exit %d, %q, %q; want exit %d, %q, %q",
					tt.args, code, out.String(), errb.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.edits) != 1 || d.edits[0].Kind != ipvsadm.KindAddDest || d.edits[0].Dest.Addr != netip.MustParseAddr("10.11.12.2") {
		t.Errorf("daemon received %+v, want the one add-server", d.edits)
	}
}

func TestLvsadmHelp(t *testing.T) {
	out, err := exec.Command(buildLvsadm(t), "--help").Output()
	if err != nil {
		t.Fatalf("lvsadm --help: %v", err)
	}
	for _, want := range []string{"-A|E -t|u|f service-address", "--socket PATH", "--save-config", "wlc"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("lvsadm --help lacks %q", want)
		}
	}
}
