package daemon_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lvs/internal/netlab"
)

// The IPv6 FTP site: client c on the public segment 2001:db8:26::/64, the
// router r (lvsd) with the VIP 2001:db8:26::10 and nat_router6
// fd00:11:12::10, one real server ftp1 (fd00:11:12::1, vsftpd on IPv6)
// behind it. The virtual server is port 21 alone with ftp_helper on: no
// firewall mark, no pasv_address, no passive port range, no masquerade
// rule for port 20 — lvsd's FTP helper follows EPSV and EPRT |2|. A
// masquerade block lets the real servers open TCP connections to port
// 8080 of the public segment, which come from the VIP.
var lvsCFFTP6 = siteCF6("nat", natRouter6+"masquerade out6 {\n\tprotocol = tcp\n\tsource = fd00:11:12::/64\n\tdestination = 2001:db8:26::/64\n\tdport = 8080\n}\n",
	"ftp6", vip6, 21, "\tftp_helper = 1\n\tsend = \"quit\\r\\n\"\n\texpect = \"220\"\n", realServer{"ftp1", ftpRS6, 1})

const (
	ftpRS6   = "fd00:11:12::1"
	ftpSize6 = 4 << 20
)

// TestIntegrationFTP66 runs the real lvsd between a real IPv6 client and
// a real vsftpd over IPv6: curl and lftp download a checksummed file in
// passive mode (EPSV: the data connection to the VIP reaches the control
// connection's real server) and in active mode (EPRT |2|: vsftpd's
// connection from port 20 to the client leaves from [VIP]:20), and a real
// server's own connection to the public side is masqueraded to the VIP.
func TestIntegrationFTP66(t *testing.T) {
	s := newSite6(t, "f6", "vsftpd", "curl", "lftp")
	lab, c, rs := s.lab, s.c, s.lab.NS("ftp1-6")
	s.natSegments([]string{rs}, []string{ftpRS6})
	root, sum := ftpRoot6(t)
	conf := filepath.Join(root, "vsftpd.conf")
	if err := os.WriteFile(conf, []byte(vsftpdConf6(root)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Lab().Start(lab.Get(rs), netlab.Cmd{Name: "vsftpd on ftp1", Argv: []string{"vsftpd", conf},
		Log: filepath.Join(s.dir, "vsftpd.log")}); err != nil {
		t.Fatal(err)
	}
	s.start(lvsCFFTP6, "the IPv6 FTP site's lvs.cf")
	url := "ftp://[" + vip6 + "]/"
	s.waitFor(t, "the FTP service through the VIP", 20*time.Second, func() bool {
		out, err := lab.In(c, "curl", "-g", "-6", "-sS", "--max-time", "3", url+"whoami")
		return err == nil && strings.TrimSpace(out) == "ftp1"
	})

	dl := t.TempDir()
	tests := []struct {
		name string
		argv func(out string) []string
		saw  string // what the client's transcript must show
	}{
		{"curl passive (EPSV)", func(out string) []string {
			return []string{"curl", "-g", "-6", "-sS", "-v", "--max-time", "60", "-o", out, url + "data.bin"}
		}, "229 "},
		{"curl active (EPRT)", func(out string) []string {
			return []string{"curl", "-g", "-6", "-sS", "-v", "--max-time", "60", "--ftp-port", "-", "-o", out, url + "data.bin"}
		}, "EPRT |2|"},
		{"lftp passive", func(out string) []string {
			return []string{"lftp", "-d", "-c", "set net:timeout 10; set net:max-retries 1; set ftp:passive-mode on; " +
				"open ftp://anonymous:x@[" + vip6 + "]; get data.bin -o " + out}
		}, "EPSV"},
		{"lftp active", func(out string) []string {
			return []string{"lftp", "-d", "-c", "set net:timeout 10; set net:max-retries 1; set ftp:passive-mode off; " +
				"open ftp://anonymous:x@[" + vip6 + "]; get data.bin -o " + out}
		}, "EPRT |2|"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dl, fmt.Sprintf("data-%d.bin", i))
			transcript, err := lab.In(c, tt.argv(out)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, transcript)
			}
			if !strings.Contains(transcript, tt.saw) {
				t.Errorf("the session's transcript has no %q: the data connection did not take the path under test\n%s", tt.saw, transcript)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("download missing: %v\n%s", err, transcript)
			}
			if len(b) != ftpSize6 || sha256.Sum256(b) != sum {
				t.Errorf("downloaded %d bytes with another checksum, want the %d-byte data.bin intact", len(b), ftpSize6)
			}
		})
	}

	// The real server's own connection out: the peer sees the VIP.
	var l net.Listener
	var err error
	lab.Do(c, func() { l, err = net.Listen("tcp6", "[::]:8080") })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(conn, "%s\n", conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr())
			conn.Close()
		}
	}()
	dial := func(to string) {
		t.Helper()
		var seen string
		lab.Do(rs, func() {
			var conn net.Conn
			if conn, err = net.DialTimeout("tcp6", net.JoinHostPort(to, "8080"), 5*time.Second); err != nil {
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			seen, err = bufio.NewReader(conn).ReadString('\n')
		})
		if err != nil {
			t.Fatalf("real server's connection to [%s]:8080: %v", to, err)
		}
		if got := strings.TrimSpace(seen); got != vip6 {
			t.Errorf("[%s] saw the real server's connection from %s, want the VIP %s (masqueraded)", to, got, vip6)
		}
	}
	dial(client6)
	// A host lvsd has never heard of: the masqueraded SYN waits for the
	// neighbour advertisement instead of being dropped (and retransmitted
	// by the real server a second later).
	const fresh6 = "2001:db8:26::101"
	s.addr(c, fresh6+"/64", "eth0")
	before := neighDrops(s.lvsdStats())
	dial(fresh6)
	if after := neighDrops(s.lvsdStats()); after != before {
		t.Errorf("frames dropped for want of a neighbour: %d before the connection to a new host, %d after; want it held, not dropped", before, after)
	}
}

// neighDrops sums the no_neighbour and neighbour_failed drops of an
// lvsd.stats dump.
func neighDrops(stats string) int {
	n := 0
	for _, l := range strings.Split(stats, "\n") {
		var k string
		var v int
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "%s %d", &k, &v); err == nil && (k == "no_neighbour" || k == "neighbour_failed") {
			n += v
		}
	}
	return n
}

// ftpRoot6 makes vsftpd's anonymous root — whoami and a seeded
// pseudo-random data.bin — in a directory the ftp user can read (a test's
// TempDir is not), removed when the test ends, and returns it with
// data.bin's checksum.
func ftpRoot6(t *testing.T) (string, [32]byte) {
	t.Helper()
	root, err := os.MkdirTemp("", "lvst-ftp6-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	for _, d := range []string{root, filepath.Join(root, "pub"), filepath.Join(root, "empty")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := make([]byte, ftpSize6)
	_, _ = rand.NewChaCha8([32]byte{21, 6}).Read(data)
	if err := os.WriteFile(filepath.Join(root, "pub", "data.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "pub", "whoami"), []byte("ftp1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "pub"), 0o555); err != nil { // vsftpd refuses a writable anonymous root
		t.Fatal(err)
	}
	return root, sha256.Sum256(data)
}

// vsftpdConf6 is vsftpd on IPv6 with anonymous reads from root/pub and
// active data connections from port 20; no pasv_address and no passive
// port range (the FTP helper does without them).
func vsftpdConf6(root string) string {
	return fmt.Sprintf(`listen=NO
listen_ipv6=YES
listen_port=21
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_root=%s
no_anon_password=YES
secure_chroot_dir=%s
pasv_enable=YES
pasv_addr_resolve=NO
connect_from_port_20=YES
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
ftpd_banner=lvst ftp1
`, filepath.Join(root, "pub"), filepath.Join(root, "empty"))
}
