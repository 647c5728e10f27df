package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lvs.cf")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, wrap("", "", ""))
	if err := WriteFile(path, c); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(Format(c)) {
		t.Errorf("file holds %q, %v; want Format(c)", got, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only lvs.cf (no temporary left)", len(entries))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "lvs.cf"), c); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestReplaceTextKeepsBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lvs.cf")
	if err := ReplaceText(path, []byte("first\n")); err != nil {
		t.Fatalf("ReplaceText on a new file: %v", err)
	}
	if _, err := os.Stat(path + ".bak"); !os.IsNotExist(err) {
		t.Errorf("a new file left a .bak: %v", err)
	}
	if err := ReplaceText(path, []byte("second\n")); err != nil {
		t.Fatalf("ReplaceText: %v", err)
	}
	for name, want := range map[string]string{path: "second\n", path + ".bak": "first\n"} {
		if got, err := os.ReadFile(name); err != nil || string(got) != want {
			t.Errorf("%s holds %q, %v; want %q", filepath.Base(name), got, err, want)
		}
	}
}
