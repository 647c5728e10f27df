package main

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"lvs/bench"
)

func TestParseFlags(t *testing.T) {
	var out, errb bytes.Buffer
	o, err := parseFlags(strings.Fields("--quick --out /tmp/x --reps 4 --window 2s --contenders klb,lvsd-1w --load 5000 --dir-cpu 1 --no-scaling --no-overload"), &out, &errb)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if !o.Quick || o.Out != "/tmp/x" || o.Reps != 4 || o.Window != 2*time.Second || o.LoadPPS != 5000 || o.DirCPU != 1 || o.GenCPU != -1 || !o.NoScaling || !o.NoOverload ||
		!slices.Equal(o.Contenders, []string{"klb", "lvsd-1w"}) {
		t.Errorf("parseFlags = %+v", o)
	}
	o, err = parseFlags(strings.Fields("--scaling-only servers,flows --scale-reps 5"), &out, &errb)
	if err != nil || !slices.Equal(o.ScalingOnly, []string{"servers", "flows"}) || o.ScaleReps != 5 {
		t.Errorf("--scaling-only servers,flows --scale-reps 5 = %v, %v, %v", o.ScalingOnly, o.ScaleReps, err)
	}
	o, err = parseFlags([]string{"--tcp-only", "--during", "perf record -C 1"}, &out, &errb)
	if err != nil || !o.TCPOnly || o.During != "perf record -C 1" {
		t.Errorf("--tcp-only --during = %v, %q, %v", o.TCPOnly, o.During, err)
	}
	if _, err := parseFlags([]string{"extra"}, &out, &errb); err == nil {
		t.Errorf("parseFlags accepted a stray argument")
	}
	if _, err := parseFlags([]string{"--help"}, &out, &errb); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "Usage: lvsbench") {
		t.Errorf("--help = %v, printed %q", err, out.String())
	}
}

// TestUsageDocumentsEveryFlag keeps --help complete: every flag lvsbench
// defines appears in it.
func TestUsageDocumentsEveryFlag(t *testing.T) {
	var o bench.Options
	var c string
	flags(&o, &c).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(usage, "--"+f.Name+" ") && !strings.Contains(usage, "--"+f.Name+"\n") {
			t.Errorf("usage does not document --%s", f.Name)
		}
	})
}

// TestUsageNamesEveryContender keeps --help's list of contenders and the
// --contenders list complete.
func TestUsageNamesEveryContender(t *testing.T) {
	list := usage[strings.Index(usage, "--contenders LIST"):]
	list = strings.Join(strings.Fields(list[:strings.Index(list, "(")]), "")
	for _, name := range bench.AllContenders {
		if !strings.Contains(usage, "\n  "+name+" ") {
			t.Errorf("usage does not describe contender %s", name)
		}
		if !slices.Contains(strings.Split(strings.TrimPrefix(list, "--contendersLISTcomma-separatedsubsetof"), ","), name) {
			t.Errorf("usage's --contenders list lacks %s: %s", name, list)
		}
	}
}
