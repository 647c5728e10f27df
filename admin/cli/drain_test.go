package cli

import (
	"strings"
	"testing"
)

func TestDrainCommandUsage(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"--bogus"}} {
		var out, errw strings.Builder
		if code := DrainCommand(t.Context(), args, &out, &errw); code != 2 {
			t.Errorf("DrainCommand(%q) = %d, want 2 (usage)", args, code)
		}
	}
}
