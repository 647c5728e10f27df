package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"lvs/internal/testutil"
)

// testStore returns a store of its own for one test: state files in a
// temporary directory, namespaces under a prefix no other code uses.
func testStore(t *testing.T) Store {
	return Store{Dir: t.TempDir(), Prefix: "lvslab-" + NewID() + "-"}
}

func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	p.Wait()
	return p.Pid
}

func readState(t *testing.T, s Store, id string) *State {
	t.Helper()
	b, err := os.ReadFile(s.path(id))
	if err != nil {
		t.Fatalf("reading state: %v", err)
	}
	st := &State{}
	if err := json.Unmarshal(b, st); err != nil {
		t.Fatalf("parsing state: %v", err)
	}
	return st
}

func exists(name string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// TestLab builds two namespaces joined by a bridge, checks that the state
// file lists each namespace and process, that traffic flows, and that Close
// removes everything.
func TestLab(t *testing.T) {
	testutil.RequireRoot(t)
	s := testStore(t)
	lab, err := s.New(Options{Label: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	if st := readState(t, s, lab.ID()); st.Owner != os.Getpid() || len(st.Namespaces) != 0 || st.Label != "test" {
		t.Errorf("state before any namespace = %+v, want owner %d, no namespaces", st, os.Getpid())
	}
	sw, err := lab.NS("sw")
	if err != nil {
		t.Fatal(err)
	}
	a, err := lab.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.NS("b")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*NS{a, b} {
		port := "p" + strings.TrimPrefix(n.Name, lab.Prefix())
		must(t, sw.Veth(port, n, "eth0"))
		must(t, n.Up("eth0"))
	}
	must(t, sw.Bridge("br0", "pa", "pb"))
	must(t, a.AddAddr("eth0", netip.MustParsePrefix("10.99.0.1/24")))
	must(t, b.AddAddr("eth0", netip.MustParsePrefix("10.99.0.2/24")))
	must(t, a.AddRoute(netip.Prefix{}, netip.MustParseAddr("10.99.0.2")))
	must(t, a.Sysctl("net.ipv4.conf.all.arp_ignore", "1"))
	if out, err := a.Run(context.Background(), "", "cat", "/proc/sys/net/ipv4/conf/all/arp_ignore"); err != nil || strings.TrimSpace(out) != "1" {
		t.Errorf("arp_ignore in a = %q, %v; want 1", out, err)
	}
	if out, err := b.Run(context.Background(), "", "cat", "/proc/sys/net/ipv4/conf/all/arp_ignore"); err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("arp_ignore in b = %q, %v; want 0 (sysctls are per namespace)", out, err)
	}
	testTraffic(t, a, b, "10.99.0.2")

	p, err := lab.Start(b, Cmd{Name: "sleeper", Argv: []string{"sleep", "600"}, Log: filepath.Join(t.TempDir(), "log")})
	if err != nil {
		t.Fatal(err)
	}
	st := readState(t, s, lab.ID())
	want := []string{sw.Name, a.Name, b.Name}
	if !slices.Equal(st.Namespaces, want) || !slices.Equal(st.PIDs, []int{p.PID}) {
		t.Errorf("state = namespaces %v pids %v, want %v and [%d]", st.Namespaces, st.PIDs, want, p.PID)
	}
	if pg, _ := syscall.Getpgid(p.PID); pg != p.PID {
		t.Errorf("process group of %d = %d, want its own", p.PID, pg)
	}
	if err := lab.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !p.Exited() {
		t.Errorf("process %d still runs after Close", p.PID)
	}
	if err := p.Signal(syscall.SIGTERM); err == nil {
		t.Errorf("Signal after exit = nil, want an error")
	}
	if left := s.Leftovers(); len(left) > 0 {
		t.Errorf("namespaces left after Close: %v", left)
	}
	if _, err := os.Stat(s.path(lab.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after Close: %v, want it gone", err)
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// testTraffic sends one UDP datagram from a to address to in b.
func testTraffic(t *testing.T, a, b *NS, to string) {
	t.Helper()
	var ln *net.UDPConn
	must(t, b.Do(func() (err error) {
		ln, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(to), Port: 9})
		return err
	}))
	defer ln.Close()
	must(t, a.Do(func() error {
		c, err := net.Dial("udp4", to+":9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	}))
	ln.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	n, _, err := ln.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("hello")) {
		t.Errorf("datagram across the bridge = %q, %v; want hello", buf[:n], err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSweep leaves a live run alone and removes a dead one: its process
// (still running in its namespace), namespaces, directory and state file.
func TestSweep(t *testing.T) {
	testutil.RequireRoot(t)
	s := testStore(t)
	s.OwnedDirs = []string{"run-"}
	live, err := s.New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := live.NS("x"); err != nil {
		t.Fatal(err)
	}

	// A dead run: built as its owner would, then orphaned by forging the
	// owner to a PID that has exited.
	dir, err := os.MkdirTemp("", "run-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dead, err := s.New(Options{Kept: true, Dir: dir}) // Kept: its process has no Pdeathsig
	if err != nil {
		t.Fatal(err)
	}
	n, err := dead.NS("y")
	if err != nil {
		t.Fatal(err)
	}
	p, err := dead.Start(n, Cmd{Name: "sleeper", Argv: []string{"sleep", "600"}, Log: filepath.Join(t.TempDir(), "log")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	dead.st.Owner, dead.st.Kept = deadPID(t), false
	must(t, s.save(dead.st))
	n.close()

	removed, err := s.Sweep()
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !slices.Equal(removed, []string{dead.ID()}) {
		t.Errorf("Sweep() = %v, want [%s]", removed, dead.ID())
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Errorf("the dead run's process %d survived the sweep", p.PID)
	}
	if exists(n.Name) {
		t.Errorf("namespace %s survived the sweep", n.Name)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run dir %s survived the sweep", dir)
	}
	if !exists(live.Namespace("x")) {
		t.Errorf("the sweep removed the live run's namespace")
	}
	if _, err := os.Stat(s.path(live.ID())); err != nil {
		t.Errorf("the sweep removed the live run's state: %v", err)
	}
}

// TestSweepOrphans deletes unclaimed namespaces of a dead test process and
// keeps those of a live one and those a state file claims.
func TestSweepOrphans(t *testing.T) {
	testutil.RequireRoot(t)
	s := testStore(t)
	s.Orphans, s.PIDNames = true, true
	claimed, err := s.New(Options{ID: strconv.Itoa(os.Getpid()) + "-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer claimed.Close()
	if _, err := claimed.NS("c"); err != nil {
		t.Fatal(err)
	}
	deadName := s.Prefix + strconv.Itoa(deadPID(t)) + "-1-d"
	liveName := s.Prefix + "1-1-l" // PID 1 always runs
	for _, name := range []string{deadName, liveName} {
		n, err := openNS(name)
		if err != nil {
			t.Fatal(err)
		}
		n.close()
		defer netns.DeleteNamed(name)
	}
	removed, err := s.Sweep()
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !slices.Equal(removed, []string{deadName}) {
		t.Errorf("Sweep() = %v, want [%s]", removed, deadName)
	}
	for name, want := range map[string]bool{deadName: false, liveName: true, claimed.Namespace("c"): true} {
		if exists(name) != want {
			t.Errorf("namespace %s exists = %v after the sweep, want %v", name, !want, want)
		}
	}
}

// TestT checks the test facade: namespaces and a veth made by name, a
// command and a socket inside, and everything gone when the test ends.
func TestT(t *testing.T) {
	testutil.RequireRoot(t)
	var a, b string
	t.Run("lab", func(t *testing.T) {
		lab := NewT(t, "lvslabt-")
		a, b = lab.NS("a"), lab.NS("b")
		if want := fmt.Sprintf("lvslabt-%d-", os.Getpid()); !strings.HasPrefix(a, want) {
			t.Errorf("NS(a) = %s, want the prefix %s", a, want)
		}
		lab.Veth(a, "eth0", b, "eth0")
		lab.Must("ip", "-n", a, "addr", "add", "10.99.1.1/24", "dev", "eth0")
		lab.Must("ip", "-n", b, "addr", "add", "10.99.1.2/24", "dev", "eth0")
		if out := lab.MustIn(a, "ip", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, "10.99.1.1/24") {
			t.Errorf("ip addr in %s = %q, want 10.99.1.1/24", a, out)
		}
		testTraffic(t, lab.Get(a), lab.Get(b), "10.99.1.2")
	})
	for _, name := range []string{a, b} {
		if name == "" || exists(name) {
			t.Errorf("namespace %q still exists after its test ended", name)
		}
	}
}
