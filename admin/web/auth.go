package web

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// User is the only login, as the Piranha Configuration Tool's.
const User = "piranha"

// DefaultPasswordFile is where the password hash lives when lvs.cf is in its
// default place: next to it. lvsd's default is piranha.passwd in the
// directory of the lvs.cf it reads.
const DefaultPasswordFile = "/etc/sysconfig/ha/piranha.passwd"

// PasswordFileFor returns the default password file for an lvs.cf path.
func PasswordFileFor(configFile string) string {
	return filepath.Join(filepath.Dir(configFile), "piranha.passwd")
}

// ErrNoPassword means no password has been set: nobody can log in until
// `lvsd --set-password` or `lvsadm passwd` writes the file.
var ErrNoPassword = errors.New("no administrator password is set (run lvsadm passwd or lvsd --set-password)")

// errBadLogin is a wrong user or password; the two are not told apart.
var errBadLogin = errors.New("wrong user name or password")

// bcryptCost is bcrypt's work factor; tests lower it to keep logins fast.
var bcryptCost = bcrypt.DefaultCost

// MinPassword is the shortest password SetPassword accepts.
const MinPassword = 8

// SetPassword writes the bcrypt hash of password for User to path in the
// htpasswd layout ("piranha:$2a$…"), mode 0600, atomically. The password
// itself is never written or logged.
func SetPassword(path, password string) error {
	password = strings.TrimRight(password, "\r\n")
	if len(password) < MinPassword {
		return fmt.Errorf("the password must have at least %d characters", MinPassword)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	return writeSecretFile(path, fmt.Appendf(nil, "%s:%s\n", User, hash))
}

// ReadPassword reads one password line from r (a terminal or a pipe).
func ReadPassword(r *bufio.Reader) (string, error) {
	s, err := r.ReadString('\n')
	if err != nil && s == "" {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// verify checks user and password against the hash in the file at path.
// The file is read on every login, so a new password works at once.
func verify(path, user, password string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoPassword
	}
	if err != nil {
		return fmt.Errorf("reading the password file: %w", err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		name, hash, ok := bytes.Cut(bytes.TrimSpace(line), []byte(":"))
		if !ok || string(name) != User {
			continue
		}
		if user != User || bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
			return errBadLogin
		}
		return nil
	}
	return ErrNoPassword
}

// limiter refuses logins from a client address after too many failures:
// at most burst failures, one more allowed every per.
type limiter struct {
	burst int
	per   time.Duration

	mu   sync.Mutex           // guards fail
	fail map[string]failCount // client address → its recent failures
}

type failCount struct {
	n    float64   // failures, decaying by one every per
	last time.Time // when n was last updated
}

func newLimiter(burst int, per time.Duration) *limiter {
	return &limiter{burst: burst, per: per, fail: map[string]failCount{}}
}

// decayed returns f's count at now.
func (l *limiter) decayed(f failCount, now time.Time) float64 {
	n := f.n - float64(now.Sub(f.last))/float64(l.per)
	return max(n, 0)
}

// allow reports whether client may try to log in now, and if not, how long
// it has to wait.
func (l *limiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fail[client]
	if !ok {
		return true, 0
	}
	n := l.decayed(f, now)
	if n < float64(l.burst) {
		return true, 0
	}
	return false, time.Duration((n - float64(l.burst) + 1) * float64(l.per))
}

// failed records a failed login of client.
func (l *limiter) failed(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fail[client]
	l.fail[client] = failCount{n: l.decayed(f, now) + 1, last: now}
	if len(l.fail) > 4096 { // bound the map: forget clients that have calmed down
		for k, v := range l.fail {
			if l.decayed(v, now) == 0 {
				delete(l.fail, k)
			}
		}
	}
}

// succeeded forgets client's failures.
func (l *limiter) succeeded(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fail, client)
}
