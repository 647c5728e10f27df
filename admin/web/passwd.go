package web

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Passwd implements `lvsadm passwd`. Without options it reads the new
// password of the user piranha from in (one line), writes its bcrypt hash
// to the password file (mode 0600) and returns the exit status, as
// Piranha's piranha-passwd did (guide §2.2). With --token it makes a new
// API token for the JSON API on lvsd's TCP admin listener, prints it on
// stdout (the only time it is shown) and keeps only its hash in the token
// file beside the password file; --revoke-tokens removes tokens.
func Passwd(args []string, in io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lvsadm passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("password-file", DefaultPasswordFile, "")
	tokenFile := fs.String("token-file", "", "")
	token := fs.Bool("token", false, "")
	label := fs.String("label", "", "")
	revoke := fs.Bool("revoke-tokens", false, "")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: lvsadm passwd [--password-file FILE]\n"+
			"       lvsadm passwd --token [--label NAME] [--password-file FILE | --token-file FILE]\n"+
			"       lvsadm passwd --revoke-tokens [--label NAME] [--password-file FILE | --token-file FILE]\n"+
			"Reads the web tool's new password from standard input and writes its bcrypt hash\n"+
			"to FILE (default %s, mode 0600).\n"+
			"--token prints a new API token for lvsd's TCP admin listener (send it as\n"+
			"\"Authorization: Bearer TOKEN\") and adds only its SHA-256, labelled NAME, to the\n"+
			"token file (default piranha.tokens beside the password file, mode 0600).\n"+
			"--revoke-tokens removes every token, or those labelled NAME.\n", DefaultPasswordFile)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lvsadm passwd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *tokenFile == "" {
		*tokenFile = TokenFileFor(*path)
	}
	switch {
	case *token && *revoke:
		fmt.Fprintln(stderr, "lvsadm passwd: --token and --revoke-tokens go separately")
		return 2
	case *token:
		if *label == "" {
			*label = "token-" + time.Now().UTC().Format("20060102T150405Z")
		}
		t, err := NewToken(*tokenFile, *label, time.Now())
		if err != nil {
			fmt.Fprintln(stderr, "lvsadm passwd:", err)
			return 1
		}
		fmt.Fprintln(stdout, t)
		fmt.Fprintf(stderr, "API token %s added to %s; it is not shown again\n", *label, *tokenFile)
		return 0
	case *revoke:
		n, err := RevokeTokens(*tokenFile, *label)
		if err != nil {
			fmt.Fprintln(stderr, "lvsadm passwd:", err)
			return 1
		}
		fmt.Fprintf(stderr, "%d API token(s) removed from %s\n", n, *tokenFile)
		return 0
	case *label != "":
		fmt.Fprintln(stderr, "lvsadm passwd: --label goes with --token or --revoke-tokens")
		return 2
	}
	fmt.Fprintf(stderr, "New password for %s: ", User)
	pw, err := ReadSecret(in)
	if err == nil {
		err = SetPassword(*path, pw)
	}
	if err != nil {
		fmt.Fprintln(stderr, "\nlvsadm passwd:", err)
		return 1
	}
	fmt.Fprintf(stderr, "\npassword written to %s\n", *path)
	return 0
}

// ReadSecret reads a password: without echo from a terminal, else one
// line of in.
func ReadSecret(in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		if err != nil {
			return "", err
		}
		return ReadPassword(bufio.NewReader(strings.NewReader(string(b) + "\n")))
	}
	return ReadPassword(bufio.NewReader(in))
}
