package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes c to path in the layout of Format, atomically (see
// WriteText).
func WriteFile(path string, c *Config) error {
	return WriteText(path, Format(c))
}

// WriteText writes text to path atomically: a temporary file in the same
// directory is written, synced and renamed over path, so a reader (the peer
// router, a reload) never sees half a file. The file mode is 0644.
func WriteText(path string, text []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(text); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ReplaceText is WriteText keeping the file it replaces as path.bak (also
// written atomically), the way lvsadm --save-config, the web tool and config
// sync change a running router's lvs.cf: the previous version is one rename
// away. A missing old file leaves no .bak.
func ReplaceText(path string, text []byte) error {
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := WriteText(path+".bak", old); err != nil {
			return fmt.Errorf("keeping %s.bak: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("keeping %s.bak: %w", path, err)
	}
	return WriteText(path, text)
}
