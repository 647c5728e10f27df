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
