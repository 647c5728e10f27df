package daemon

import (
	"strings"
	"testing"
)

// These tests run lvsadm (cli.CLI, what cmd/lvsadm runs) against lvsd's
// own handler and control loop: every ipvsadm edit, its messages and exit
// codes, as a user on the guide's NAT site sees them.

// TestLvsadmEdits: each edit kind, then -S shows the table and
// --save-config writes a file that `lvsd -t` accepts.
func TestLvsadmEdits(t *testing.T) {
	td := newTestDaemon(t, guideNAT)
	sock := td.serveAPI(t)
	steps := []string{
		"-e -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 5 -x 100 -y 50",
		"-a -t 192.168.26.10:80 -r 10.11.12.9",
		"-d -t 192.168.26.10:80 -r 10.11.12.2",
		"-E -t 192.168.26.10:80 -s rr -p 600 -M 255.255.255.0",
		"-A -u 192.168.26.11:53 -s sh -b sh-port",
		"-a -u 192.168.26.11:53 -r 10.11.12.4:5353 -w 2",
		"-A -t 192.168.26.10:443 -s wlc",
		"-a -t 192.168.26.10:443 -r 10.11.12.3",
		"-D -t 192.168.26.10:443",
	}
	for _, s := range steps {
		if out, errs, code := lvsadm(t, sock, s); code != 0 || out != "" || errs != "" {
			t.Fatalf("lvsadm %s = exit %d, stdout %q, stderr %q", s, code, out, errs)
		}
	}
	want := "-A -t 192.168.26.10:80 -s rr -p 600 -M 255.255.255.0\n" +
		"-a -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 5 -x 100 -y 50\n" +
		"-a -t 192.168.26.10:80 -r 10.11.12.3:80 -m -w 2\n" +
		"-a -t 192.168.26.10:80 -r 10.11.12.9:80 -m -w 1\n" + // no -g/-i/-m: lvs.cf's network (nat)
		"-A -u 192.168.26.11:53 -s sh -b sh-port\n" +
		"-a -u 192.168.26.11:53 -r 10.11.12.4:5353 -m -w 2\n"
	if out, errs, code := lvsadm(t, sock, "-S -n"); code != 0 || out != want {
		t.Errorf("lvsadm -S -n = exit %d, stderr %q:\n%s\nwant\n%s", code, errs, out, want)
	}
	out, errs, code := lvsadm(t, sock, "--save-config")
	if code != 0 || out != "saved the running table to "+td.opts.ConfigFile+"\n" {
		t.Fatalf("lvsadm --save-config = exit %d, %q, %q", code, out, errs)
	}
	var vout, verr strings.Builder
	if code := ConfigTest(td.opts, &vout, &verr); code != ExitOK {
		t.Errorf("lvsd -t on the saved file = %d: %s%s", code, vout.String(), verr.String())
	}

	// -C empties the table; the saved file keeps what was saved.
	if _, errs, code := lvsadm(t, sock, "-C"); code != 0 {
		t.Fatalf("lvsadm -C: exit %d: %s", code, errs)
	}
	if out, _, _ := lvsadm(t, sock, "-S -n"); out != "" {
		t.Errorf("after -C, -S -n = %q, want nothing", out)
	}
}

// TestLvsadmErrors: every refusal has ipvsadm's words (or lvsd's own where
// ipvsadm has none) and exit code, and changes nothing.
func TestLvsadmErrors(t *testing.T) {
	td := newTestDaemon(t, guideNAT)
	sock := td.serveAPI(t)
	tests := []struct {
		args, stderr string
		code         int
	}{
		{"-A -t 192.168.26.10:80", "Service already exists\n", 1},
		{"-E -t 192.168.26.10:81 -s rr", "No such service\n", 1},
		{"-D -t 192.168.26.10:81", "No such service\n", 1},
		{"-a -t 192.168.26.10:81 -r 10.0.0.1", "Service not defined\n", 1},
		{"-e -t 192.168.26.10:81 -r 10.0.0.1", "Service not defined\n", 1},
		{"-d -u 192.168.26.10:80 -r 10.11.12.1", "Service not defined\n", 1},
		{"-a -t 192.168.26.10:80 -r 10.11.12.1", "Destination already exists\n", 1},
		{"-a -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 4", "Destination already exists\n", 1},
		{"-d -t 192.168.26.10:80 -r 10.0.0.1", "No such destination\n", 1},
		{"-d -t 192.168.26.10:80 -r 10.11.12.1:8080", "No such destination\n", 1},
		{"-e -t 192.168.26.10:80 -r 10.0.0.1 -w 3", "No such destination\n", 1},
		{"-a -f 80 -r 10.11.12.1", "Service not defined\n", 1},
		{"-E -t 192.168.26.10:80 -s bogus", "Scheduler or persistence engine not found\n", 1},
		{"-a -t 192.168.26.10:80 -r 10.11.12.7 -g",
			"lvs.cf has one forwarding method for every real server (network = nat); Route is not it\n", 1},
		{"-A -f 90 -s rr -p",
			"a firewall-mark service needs its VIP in lvs.cf: add a virtual block with fwmark = 90 and address = VIP DEV, then reload\n", 1},
		{"-A -u 192.168.26.10:53 -o",
			"lvs.cf has no one-packet scheduling (-o): lvsd cannot keep it\n", 1},
		{"-a -t 192.168.26.10:80 -r 10.11.12.7 -w 65536", "illegal weight specified\n", 2},
		{"-A -t 192.168.26.12:80 -o", "One-Packet Scheduling is only for UDP virtual services\n", 2},
		{"-a -t 192.168.26.10:80", "You need to supply the 'real-server' option for the 'add-server' command\n", 2},
		{"-E -t 192.168.26.10:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port'\n", 2},
	}
	before, _, _ := lvsadm(t, sock, "-S -n")
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			out, errs, code := lvsadm(t, sock, tt.args)
			if out != "" || errs != tt.stderr || code != tt.code {
				t.Errorf("lvsadm %s = (%q, %q, exit %d), want (\"\", %q, exit %d)", tt.args, out, errs, code, tt.stderr, tt.code)
			}
			if after, _, _ := lvsadm(t, sock, "-S -n"); after != before {
				t.Errorf("the refused edit changed the table:\n%s\nwas\n%s", after, before)
			}
		})
	}
	if n := td.logs.count("panic"); n != 0 {
		t.Errorf("%d log lines mention a panic", n)
	}
}

// TestLvsadmRestore: -S then -C then -R gives the table back; a failing
// line applies nothing and is named.
func TestLvsadmRestore(t *testing.T) {
	td := newTestDaemon(t, guideNAT)
	sock := td.serveAPI(t)
	td.apply(t, "-A -u 192.168.26.11:53 -s rr", "-a -u 192.168.26.11:53 -r 10.11.12.4 -w 3",
		"-E -t 192.168.26.10:80 -s wrr -p 300 -M 255.255.0.0")
	saved, _, code := lvsadm(t, sock, "-S")
	if code != 0 || saved == "" {
		t.Fatalf("lvsadm -S = exit %d, %q", code, saved)
	}
	restore := func(input string) (string, int) {
		t.Helper()
		_, errs, code := lvsadmIn(t, sock, "-R", input)
		return errs, code
	}
	if errs, code := restore("-C\n" + saved); code != 0 {
		t.Fatalf("lvsadm -R: exit %d: %s", code, errs)
	}
	if again, _, _ := lvsadm(t, sock, "-S"); again != saved {
		t.Errorf("-S after -C and -R =\n%s\nwant\n%s", again, saved)
	}
	errs, code := restore("-C\n-A -t 192.168.26.12:80\n\n-a -t 192.168.26.10:80 -r 10.11.12.9\n")
	if code != 1 || errs != "line 4: Service not defined\n" {
		t.Errorf("failing restore = exit %d, %q; want exit 1, %q", code, errs, "line 4: Service not defined\n")
	}
	if after, _, _ := lvsadm(t, sock, "-S"); after != saved {
		t.Errorf("a failed restore changed the table:\n%s\nwas\n%s", after, saved)
	}
	// A refusal ipvsadm has no words for keeps lvsd's, after the line.
	errs, code = restore("\n-a -t 192.168.26.10:80 -r 10.11.12.9 -g\n")
	if want := "line 2: lvs.cf has one forwarding method for every real server (network = nat); Route is not it\n"; code != 1 || errs != want {
		t.Errorf("restore of a -g server on a NAT site = exit %d, %q; want exit 1, %q", code, errs, want)
	}
}
