package web

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// API tokens let programs use the JSON API on the TCP admin listener
// without a browser session: `lvsadm passwd --token` prints a new token
// once and keeps only its SHA-256 in the token file, beside the password
// file. A token is 32 random bytes, so a fast hash is enough: nothing can
// be guessed from it, unlike a password, which is why passwords get bcrypt.

// TokenPrefix starts every API token, so a leaked one is recognisable.
const TokenPrefix = "lvs_"

// TokenFileFor returns the token file that goes with a password file:
// piranha.tokens in the same directory.
func TokenFileFor(passwordFile string) string {
	return filepath.Join(filepath.Dir(passwordFile), "piranha.tokens")
}

// ErrNoToken means a request carried no valid API token.
var ErrNoToken = errors.New("no valid API token")

// tokenHash is what the token file keeps of a token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// validLabel reports whether a token's label can stand in the file: one
// word of letters, digits, '.', '_', '-' and '@'.
func validLabel(l string) bool {
	if l == "" || len(l) > 64 {
		return false
	}
	return !strings.ContainsFunc(l, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r))
	})
}

// NewToken makes a random API token, adds its hash to the token file at
// path under label (one line: "label sha256:HEX created"), written
// atomically with mode 0600, and returns the token. The token itself is
// never written or logged: this is the only time anyone sees it.
func NewToken(path, label string, now time.Time) (string, error) {
	if !validLabel(label) {
		return "", fmt.Errorf("invalid token label %q: use letters, digits, '.', '_', '-' or '@'", label)
	}
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		old = append(old, '\n')
	}
	line := fmt.Sprintf("%s %s %s\n", label, tokenHash(token), now.UTC().Format(time.RFC3339))
	if err := writeSecretFile(path, append(old, line...)); err != nil {
		return "", err
	}
	return token, nil
}

// RevokeTokens removes every token, or only those labelled label when it
// is not empty, from the token file, and returns how many it removed.
func RevokeTokens(path, label string) (int, error) {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	var keep bytes.Buffer
	n := 0
	for _, line := range strings.SplitAfter(string(old), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.HasPrefix(f[1], "sha256:") && (label == "" || f[0] == label) {
			n++
			continue
		}
		keep.WriteString(line)
	}
	if n == 0 {
		return 0, nil
	}
	return n, writeSecretFile(path, keep.Bytes())
}

// checkToken reports whether token is one of the token file's. The file is
// read on every request, so new and revoked tokens take effect at once; a
// missing file means no token is valid.
func checkToken(path, token string) error {
	if !strings.HasPrefix(token, TokenPrefix) {
		return ErrNoToken
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoToken
	}
	if err != nil {
		return fmt.Errorf("reading the token file: %w", err)
	}
	defer f.Close()
	want := []byte(tokenHash(token))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(fields[1]), want) == 1 {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the token file: %w", err)
	}
	return ErrNoToken
}

// writeSecretFile replaces path with data, mode 0600, atomically (a
// temporary file in the same directory, then a rename).
func writeSecretFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after a successful rename this finds nothing
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
