package dist

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"lvs/config"
)

const (
	debSample = "deb/lvs.cf"
	conffile  = "/etc/sysconfig/ha/lvs.cf"
)

// buildDeb returns a package of version: with -short, dist/deb/build.sh
// packs the stand-in binaries (the packaging is tested without compiling);
// otherwise make deb builds it, hardened and stripped, as shipped.
func buildDeb(t *testing.T, version, bin string) string {
	t.Helper()
	out := t.TempDir()
	if bin == "" && !testing.Short() {
		makeRun(t, "deb", "DEB_OUT="+out, "DEB_VERSION="+version)
	} else {
		if bin == "" {
			bin = binaries(t)
		}
		cmd := exec.Command("deb/build.sh", out, version)
		cmd.Env = append(os.Environ(), "DEB_BIN="+bin)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dist/deb/build.sh: %v\n%s", err, b)
		}
	}
	deb := filepath.Join(out, "lvs-go_"+version+"_amd64.deb")
	if _, err := os.Stat(deb); err != nil {
		t.Fatalf("no %s: %v", deb, err)
	}
	return deb
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// debFiles are the regular files of the package: what make install
// installs for PREFIX=/usr, manual pages compressed, plus the conffile,
// the dashboards and the Debian documents.
func debFiles() map[string]fs.FileMode {
	want := map[string]fs.FileMode{}
	for f, mode := range installed("/usr") {
		if strings.Contains(f, "/man/") {
			f += ".gz"
		}
		want[f] = mode
	}
	for _, f := range []string{"etc/sysconfig/ha/lvs.cf", "usr/share/doc/lvs-go/copyright", "usr/share/doc/lvs-go/changelog.gz",
		"usr/share/lvs-go/grafana-dashboard.json", "usr/share/lvs-go/prometheus-alerts.yml"} {
		want[f] = 0o644
	}
	return want
}

// TestDeb builds the package, checks its control data, installs it with
// dpkg into a scratch root (dpkg --root, maintainer scripts run without
// chroot and, seeing DPKG_ROOT, leave the host's systemd alone), upgrades
// it over an edited lvs.cf (which dpkg must keep), removes it (lvs.cf
// stays) and purges it (lvs.cf goes). Then lintian, when installed, must
// have nothing to say about a package built by make deb.
func TestDeb(t *testing.T) {
	for _, c := range []string{"dpkg-deb", "dpkg", "dpkg-query"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s is not installed", c)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root needs root to own the installed files")
	}
	deb := buildDeb(t, "1.0~test1", "")

	fields := run(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Section", "Maintainer")
	for _, want := range []string{"Package: lvs-go\n", "Version: 1.0~test1\n", "Architecture: amd64\n", "Section: net\n"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control lacks %q:\n%s", want, fields)
		}
	}
	ctrl := t.TempDir()
	run(t, "dpkg-deb", "-e", deb, ctrl)
	if b, err := os.ReadFile(filepath.Join(ctrl, "conffiles")); err != nil || string(b) != conffile+"\n" {
		t.Errorf("conffiles = %q (%v), want %s", b, err, conffile)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if info, err := os.Stat(filepath.Join(ctrl, s)); err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("maintainer script %s: %v %v, want mode 0755", s, info, err)
		}
	}

	root := t.TempDir()
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg := func(args ...string) string {
		// --force-depends: the scratch root has no libc6 package.
		return run(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends"}, args...)...)
	}
	query := func() string {
		out, _ := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W",
			"-f=${Status}|${Version}|${Conffiles}", "lvs-go").Output()
		return string(out)
	}

	dpkg("-i", deb)
	got := files(t, root)
	for f := range got {
		if strings.HasPrefix(f, "var/lib/dpkg/") {
			delete(got, f)
		}
	}
	want := debFiles()
	for f, mode := range want {
		if g, ok := got[f]; !ok {
			t.Errorf("the package did not install %s", f)
		} else if g != mode {
			t.Errorf("%s has mode %v, want %v", f, g, mode)
		}
	}
	for f := range got {
		if _, ok := want[f]; !ok {
			t.Errorf("the package installed %s, which is not in the list", f)
		}
	}
	sample, _ := os.ReadFile(debSample)
	if b, err := os.ReadFile(filepath.Join(root, conffile)); err != nil || !bytes.Equal(b, sample) {
		t.Errorf("%s is not dist/%s (%v)", conffile, debSample, err)
	}
	if q := query(); !regexp.MustCompile(`^install ok installed\|1\.0~test1\| ` + conffile + ` [0-9a-f]{32}`).MatchString(q) {
		t.Errorf("dpkg-query after install: %q, want installed with %s as a conffile", q, conffile)
	}

	// An upgrade keeps the administrator's lvs.cf.
	mine := []byte("# the administrator's site\nprimary = 192.168.26.9\n")
	if err := os.WriteFile(filepath.Join(root, conffile), mine, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, b := range []string{"usr/sbin/lvsd", "usr/sbin/lvsadm", "usr/bin/lvssim"} {
		data, err := os.ReadFile(filepath.Join(root, b))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, filepath.Base(b)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dpkg("--force-confold", "-i", buildDeb(t, "1.0~test2", bin))
	if b, _ := os.ReadFile(filepath.Join(root, conffile)); !bytes.Equal(b, mine) {
		t.Errorf("the upgrade replaced the edited %s with %q", conffile, b)
	}
	if q := query(); !strings.HasPrefix(q, "install ok installed|1.0~test2|") {
		t.Errorf("dpkg-query after the upgrade: %q", q)
	}

	dpkg("-r", "lvs-go")
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/lvsd")); err == nil {
		t.Error("dpkg -r left /usr/sbin/lvsd")
	}
	if _, err := os.Stat(filepath.Join(root, conffile)); err != nil {
		t.Errorf("dpkg -r removed the conffile %s: %v", conffile, err)
	}
	dpkg("-P", "lvs-go")
	if _, err := os.Stat(filepath.Join(root, conffile)); err == nil {
		t.Errorf("dpkg -P left the conffile %s", conffile)
	}

	if testing.Short() {
		return // lintian judges the shipped binaries, not stand-ins
	}
	lintian, err := exec.LookPath("lintian")
	if err != nil {
		t.Log("lintian is not installed: not run")
		return
	}
	out, err := exec.Command(lintian, "--allow-root", deb).CombinedOutput()
	var tags []string
	for _, l := range strings.Split(string(out), "\n") {
		if regexp.MustCompile(`^[EWIPX]: `).MatchString(l) {
			tags = append(tags, l)
		}
	}
	if err != nil || len(tags) > 0 {
		t.Errorf("lintian %s: %v\n%s", filepath.Base(deb), err, strings.Join(tags, "\n"))
	}
}

// TestDebSample checks that the commented sample lvs.cf of the package,
// once its sample lines are uncommented, is a valid configuration.
func TestDebSample(t *testing.T) {
	b, err := os.ReadFile(debSample)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, l := range strings.Split(text, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			t.Errorf("%s: %q is not a comment: the sample must not configure anything", debSample, l)
		}
	}
	start, end := strings.Index(text, "# --- sample ---\n"), strings.Index(text, "# --- end of sample ---")
	if start < 0 || end < start {
		t.Fatalf("%s: no sample between the markers", debSample)
	}
	var site []string
	for _, l := range strings.Split(text[start:end], "\n")[1:] {
		site = append(site, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	c, err := config.Parse(debSample, strings.NewReader(strings.Join(site, "\n")))
	if err != nil {
		t.Fatalf("the uncommented sample does not parse:\n%v", err)
	}
	if v, s := c.Counts(); v == 0 || s == 0 {
		t.Errorf("the sample has %d virtual and %d real servers", v, s)
	}
	if !slices.Contains(c.Keys, "primary") {
		t.Errorf("the sample sets no primary")
	}
}
