// Package dist holds what make install and make deb ship besides the
// binaries and the manual pages: the systemd unit lvsd.service.in, lvsadm's
// bash completion, the Debian packaging, and a Grafana dashboard and
// Prometheus alert rules over lvsd's /metrics. Its tests run make install,
// make uninstall and make deb into scratch directories and check the
// dashboard and rules against a running lvsd.
package dist

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const root = ".."

// installed is the documented list (Makefile, above install): every file
// make install writes, relative to DESTDIR, by PREFIX; the unit goes to
// /lib/systemd/system for PREFIX=/usr.
func installed(prefix string) map[string]fs.FileMode {
	p := strings.TrimPrefix(prefix, "/")
	unitDir := p + "/lib/systemd/system"
	if prefix == "/usr" {
		unitDir = "lib/systemd/system"
	}
	return map[string]fs.FileMode{
		p + "/sbin/lvsd":                                0o755,
		p + "/sbin/lvsadm":                              0o755,
		p + "/bin/lvssim":                               0o755,
		p + "/share/man/man1/lvssim.1":                  0o644,
		p + "/share/man/man5/lvs.cf.5":                  0o644,
		p + "/share/man/man8/lvsd.8":                    0o644,
		p + "/share/man/man8/lvsadm.8":                  0o644,
		unitDir + "/lvsd.service":                       0o644,
		p + "/share/bash-completion/completions/lvsadm": 0o644,
	}
}

// binaries returns a directory holding lvsd, lvsadm and lvssim: built by
// make build, or with -short small scripts standing in for them, so that
// the install logic is tested without compiling the module.
func binaries(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if !testing.Short() {
		makeRun(t, "build", "BIN="+bin)
		return bin
	}
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"lvsd", "lvsadm", "lvssim"} {
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\necho "+b+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func makeRun(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", append([]string{"-C", root}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// files lists the regular files under dir with their permission bits.
func files(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	got := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		got[filepath.ToSlash(rel)] = info.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestInstallUninstall(t *testing.T) {
	bin := binaries(t)
	for _, prefix := range []string{"/usr/local", "/usr"} {
		t.Run(strings.TrimPrefix(prefix, "/"), func(t *testing.T) {
			dest := t.TempDir()
			vars := []string{"-o", "build", "BIN=" + bin, "DESTDIR=" + dest, "PREFIX=" + prefix}
			makeRun(t, append([]string{"install"}, vars...)...)
			got, want := files(t, dest), installed(prefix)
			for f, mode := range want {
				if g, ok := got[f]; !ok {
					t.Errorf("make install did not install %s", f)
				} else if g != mode {
					t.Errorf("%s has mode %v, want %v", f, g, mode)
				}
			}
			for f := range got {
				if _, ok := want[f]; !ok {
					t.Errorf("make install installed %s, which is not in the documented list", f)
				}
			}
			checkContents(t, dest, prefix, bin)
			makeRun(t, append([]string{"uninstall"}, vars...)...)
			if left := files(t, dest); len(left) > 0 {
				t.Errorf("make uninstall left %v", slices.Sorted(maps.Keys(left)))
			}
		})
	}
}

// checkContents compares the installed files with their sources and checks
// the substitution in the unit.
func checkContents(t *testing.T, dest, prefix, bin string) {
	t.Helper()
	same := func(installed, src string) {
		a, err1 := os.ReadFile(filepath.Join(dest, installed))
		b, err2 := os.ReadFile(src)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s (%v, %v)", installed, src, err1, err2)
		}
	}
	same(prefix+"/sbin/lvsd", filepath.Join(bin, "lvsd"))
	same(prefix+"/share/man/man8/lvsd.8", filepath.Join(root, "docs/man/lvsd.8"))
	same(prefix+"/share/bash-completion/completions/lvsadm", filepath.Join(root, "dist/lvsadm.bash-completion"))
	unitDir := prefix + "/lib/systemd/system"
	if prefix == "/usr" {
		unitDir = "/lib/systemd/system"
	}
	unit, err := os.ReadFile(filepath.Join(dest, unitDir, "lvsd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nType=notify\n",
		"\nExecStart=" + prefix + "/sbin/lvsd -f /etc/sysconfig/ha/lvs.cf $LVSD_OPTS\n",
		"\nExecReload=/bin/kill -HUP $MAINPID\n",
		"\nRestart=on-failure\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("lvsd.service lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(string(unit), "@SBINDIR@") {
		t.Error("lvsd.service still holds @SBINDIR@")
	}
}

// TestUnitVerify installs under a scratch PREFIX (so that the unit's
// ExecStart names a file that exists) and runs systemd-analyze verify on the
// unit, with MANPATH pointing at the installed pages so that its
// Documentation= check finds them. Any diagnostic fails the test.
func TestUnitVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	bin := binaries(t)
	prefix := t.TempDir()
	makeRun(t, "install", "-o", "build", "BIN="+bin, "PREFIX="+prefix)
	unit := filepath.Join(prefix, "lib/systemd/system/lvsd.service")
	cmd := exec.Command(sa, "verify", unit)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(prefix, "share/man"), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}
