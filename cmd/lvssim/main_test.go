package main

import (
	"context"
	"strings"
	"testing"
)

func TestRunArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string // substring of the error; "" for none
	}{
		{[]string{"--help"}, ""},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"run", "nat", "ftp"}, "takes one topology"},
		{[]string{"run", "--router", "teleport", "nat"}, "expected auto, lvsd or kernel"},
		{[]string{"run", "no-such-site"}, "no shipped topology of that name"},
		{[]string{"exec"}, "expected NODE -- CMD"},
	}
	for _, tc := range tests {
		err := run(context.Background(), tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("run(%q) = %v, want nil", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
