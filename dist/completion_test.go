package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"lvs/config"
)

const completion = "lvsadm.bash-completion"

func readSource(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCompletionOptions checks that the completion offers every option of
// ipvsadm's table that lvsadm parses (admin/ipvsadm/parse.go).
func TestCompletionOptions(t *testing.T) {
	src := readSource(t, "admin/ipvsadm/parse.go")
	text := readSource(t, "dist/"+completion)
	var opts []string
	for _, m := range regexp.MustCompile(`\{"([\w-]+)", (?:'(\w)'|0), arg\w+\}`).FindAllStringSubmatch(src, -1) {
		opts = append(opts, "--"+m[1])
		if m[2] != "" {
			opts = append(opts, "-"+m[2])
		}
	}
	if len(opts) < 40 {
		t.Fatalf("found %d options in admin/ipvsadm/parse.go; has the option table changed form?", len(opts))
	}
	words := regexp.MustCompile(`--?[\w-]+`).FindAllString(text, -1)
	for _, o := range opts {
		if !slices.Contains(words, o) {
			t.Errorf("%s does not offer %s", completion, o)
		}
	}
}

// complete runs the completion function for the words of a command line
// (the last one being completed) and returns what it offers. dir, when not
// "", is put first on PATH (for a stand-in lvsadm).
func complete(t *testing.T, dir string, words ...string) []string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + w + "'"
	}
	script := `source "$1"; COMP_WORDS=(` + strings.Join(quoted, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _lvsadm; printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script, "bash", filepath.Join(root, "dist", completion))
	if dir != "" {
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion of %q: %v\n%s", words, err, out)
	}
	return strings.Fields(string(out))
}

func TestCompletion(t *testing.T) {
	// A stand-in lvsadm that prints what `lvsadm -S -n` prints for a table
	// of two services, as the completion reads the running table.
	fake := t.TempDir()
	save := "-A -t 192.168.26.10:80 -s wlc\n-a -t 192.168.26.10:80 -r 10.11.12.1:80 -m -w 1\n" +
		"-a -t 192.168.26.10:80 -r 10.11.12.2:80 -m -w 1\n-A -u 192.168.26.10:53 -s rr\n-A -f 80 -s wlc -p 300\n"
	if err := os.WriteFile(filepath.Join(fake, "lvsadm"), []byte("#!/bin/sh\ncat <<'EOF'\n"+save+"EOF\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{"subcommands", []string{"lvsadm", "im"}, []string{"import-keepalived"}},
		{"schedulers", []string{"lvsadm", "-A", "-t", "1.2.3.4:80", "-s", "w"}, []string{"wlc", "wrr"}},
		{"sched flags", []string{"lvsadm", "-b", "sh-"}, []string{"sh-fallback", "sh-port"}},
		{"long options", []string{"lvsadm", "--sa"}, []string{"--save", "--save-config"}},
		{"tcp services", []string{"lvsadm", "-a", "-t", ""}, []string{"192.168.26.10:80"}},
		{"udp services", []string{"lvsadm", "-D", "-u", ""}, []string{"192.168.26.10:53"}},
		{"fwmark services", []string{"lvsadm", "-D", "-f", ""}, []string{"80"}},
		{"real servers", []string{"lvsadm", "-d", "-t", "192.168.26.10:80", "-r", "10.11.12."}, []string{"10.11.12.1:80", "10.11.12.2:80"}},
		{"import options", []string{"lvsadm", "import-keepalived", "--p"}, []string{"--primary"}},
		{"passwd options", []string{"lvsadm", "passwd", "--"}, []string{"--password-file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := complete(t, fake, tt.words...)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("completing %q = %q, want %q", tt.words, got, tt.want)
			}
		})
	}
}

// TestCompletionSchedulers checks the scheduler list against lvs.cf's.
func TestCompletionSchedulers(t *testing.T) {
	got := complete(t, "", "lvsadm", "-s", "")
	if want := config.SchedulerNames(); !slices.Equal(got, want) {
		t.Errorf("completing -s offers %q, want %q", got, want)
	}
}
