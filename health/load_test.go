package health

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseLoad(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want float32
		err  bool
	}{
		{"uptime", " 10:14:20 up 3 days,  2:01,  1 user,  load average: 0.42, 0.30, 0.25", 0.42, false},
		{"uptime high", "10:14:20 up 1 min,  0 users,  load average: 12.50, 3.00, 1.00", 12.5, false},
		{"rup", "web1          up  3 days,  2:01,  load average: 1.00, 0.80, 0.50", 1, false},
		{"ruptime (no colon after load)", "web1          up  1+03:41,     0 users,  load 0.07, 0.03, 0.00", 0.07, false},
		{"comma decimal locale: strtod stops", "load average: 0,42, 0,30, 0,25", 0, false},
		{"empty number is 0 (strtod)", "load average: , 1", 0, false},
		{"two dots", "load average: 1.2.3, 1", 1.2, false},
		{"no load", "up 3 days", 0, true},
		{"number at the end", "load average: 0.42", 0, true},
		{"colon last", "load:", 0, true},
		{"bad terminator", "load average: 0.42;", 0, true},
	}
	for _, tt := range tests {
		got, err := parseLoad(tt.out)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s: parseLoad(%q) = %v, %v; want %v, error %v", tt.name, tt.out, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, errBadLoad) {
			t.Errorf("%s: parseLoad error %v is not errBadLoad", tt.name, err)
		}
	}
}

func FuzzParseLoad(f *testing.F) {
	f.Add(" 10:14:20 up 3 days,  2:01,  1 user,  load average: 0.42, 0.30, 0.25")
	f.Add("web1 up 1+03:41, 0 users, load 0.07, 0.03, 0.00")
	f.Add("load:")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseLoad(s)
		if err == nil && v < 0 {
			t.Errorf("parseLoad(%q) = %v, a negative load", s, v)
		}
	})
}

// TestLoadWeight pins nanny's adjustWeight formula on worked values.
func TestLoadWeight(t *testing.T) {
	tests := []struct {
		last, weight int
		load         float32
		want         int
		changed      bool
	}{
		{10, 10, 0, 15, true},    // 10 + 5·1
		{10, 10, 0.5, 13, true},  // 10 + 5·0.794 = 13.97 → 13
		{10, 10, 0.42, 14, true}, // 10 + 5·0.834 = 14.17 → 14
		{10, 10, 0.9, 10, false}, // 12.32 → 12: |2| < 2.5
		{10, 10, 1, 10, false},   // exactly 1: unchanged
		{10, 10, -1, 10, false},  // failed reading
		{10, 10, 2, 10, false},   // 10 − 5 = 5, floored at 10
		{15, 10, 2, 10, true},    // 15 − 5 = 10
		{20, 10, 9, 10, true},    // 20 − 5·2 = 10
		{96, 10, 0, 100, true},   // 101 capped at 10·10
		{98, 10, 0, 98, false},   // 103 → 100: |2| < 2.5
		{1, 1, 0, 1, false},      // 1.5 → 1
		{4, 4, 0.125, 5, true},   // 4 + 2·0.956 = 5.91 → 5: |1| ≥ 1
		{100, 100, 1.001, 100, false},
	}
	for _, tt := range tests {
		got, changed := loadWeight(tt.last, tt.weight, DefaultScale, tt.load)
		if got != tt.want || changed != tt.changed {
			t.Errorf("loadWeight(last %d, weight %d, load %v) = %d, %v; want %d, %v",
				tt.last, tt.weight, tt.load, got, changed, tt.want, tt.changed)
		}
	}
}

// TestLoadCommands runs fake rsh, ruptime and custom load commands found on
// PATH, with nanny's argument lists.
func TestLoadCommands(t *testing.T) {
	dir := t.TempDir()
	script(t, dir, "rsh", `[ "$1 $2" = "127.0.0.1 uptime" ] && echo " 10:00:00 up 1 day,  2 users,  load average: 0.42, 0.30, 0.25"`)
	script(t, dir, "ruptime", `[ "$1" = 127.0.0.1 ] && echo "web1  up  1+03:41,  0 users,  load 2.00, 1.00, 0.50"`)
	script(t, dir, "rup", `echo "no such host"`)
	custom := script(t, dir, "myload", `[ "$#" = 1 ] && echo "load: 0.10, 0"`)
	script(t, dir, "broken", `exit 3`)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	addr := netip.MustParseAddrPort("127.0.0.1:80")
	tests := []struct {
		monitor, rsh string
		kind         LoadKind
		value        float64
		detail       string
	}{
		{"uptime", "", LoadAverage, float64(float32(0.42)), ""},
		{"uptime", "rsh", LoadAverage, float64(float32(0.42)), ""},
		{"rsh", "", LoadAverage, float64(float32(0.42)), ""},
		{"ruptime", "", LoadAverage, 2, ""},
		{custom, "", LoadAverage, float64(float32(0.1)), ""},
		{"rup", "", LoadNone, 0, "bad load average returned"},
		{"broken", "", LoadNone, 0, "exited with status 3"},
	}
	for _, tt := range tests {
		lc, err := NewLoadChecker(Spec{Addr: addr, LoadMonitor: tt.monitor, RshCommand: tt.rsh})
		if err != nil || lc == nil {
			t.Fatalf("NewLoadChecker(%q) = %v, %v", tt.monitor, lc, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got := lc.Load(ctx)
		cancel()
		if got.Kind != tt.kind || got.Value != tt.value || !strings.Contains(got.Detail, tt.detail) {
			t.Errorf("load_monitor %q: Load() = %+v, want kind %v value %v detail ~%q", tt.monitor, got, tt.kind, tt.value, tt.detail)
		}
	}
	for _, none := range []string{"", "none"} {
		if lc, err := NewLoadChecker(Spec{Addr: addr, LoadMonitor: none}); lc != nil || err != nil {
			t.Errorf("NewLoadChecker(%q) = %v, %v; want nil, nil", none, lc, err)
		}
	}
}
