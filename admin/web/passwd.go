package web

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Passwd implements `lvsadm passwd [--password-file FILE]`: it reads the
// new password of the user piranha from in (one line), writes its bcrypt
// hash to the password file (mode 0600) and returns the exit status, as
// Piranha's piranha-passwd did (guide §2.2).
func Passwd(args []string, in io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("lvsadm passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("password-file", DefaultPasswordFile, "")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: lvsadm passwd [--password-file FILE]\n"+
			"Reads the web tool's new password from standard input and writes its bcrypt hash\n"+
			"to FILE (default %s, mode 0600).\n", DefaultPasswordFile)
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
