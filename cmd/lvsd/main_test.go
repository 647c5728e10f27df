package main

import (
	"bytes"
	"strings"
	"testing"

	"lvs/daemon"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     daemon.Options
		code     int
		out, err string
	}{
		{"test short", []string{"-t", "-f", "x.cf"}, daemon.Options{ConfigTest: true, ConfigFile: "x.cf"}, -1, "", ""},
		{"test long", []string{"--config-test", "--config", "x.cf", "--iptables", "ipt"}, daemon.Options{ConfigTest: true, ConfigFile: "x.cf", IptablesFile: "ipt"}, -1, "", ""},
		{"dump", []string{"--config-dump"}, daemon.Options{ConfigDump: true}, -1, "", ""},
		{"daemon", nil, daemon.Options{}, -1, "", ""},
		{"help", []string{"--help"}, daemon.Options{}, 0, "Usage: lvsd", ""},
		{"unknown flag", []string{"-x"}, daemon.Options{}, 2, "", "flag provided but not defined: -x"},
		{"argument", []string{"-t", "lvs.cf"}, daemon.Options{ConfigTest: true}, 2, "", `unexpected argument "lvs.cf"`},
		{"both modes", []string{"-t", "--config-dump"}, daemon.Options{ConfigTest: true, ConfigDump: true}, 2, "", "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got, code := parseFlags(tt.args, &out, &errb)
			if got != tt.want || code != tt.code {
				t.Errorf("parseFlags(%q) = %+v, %d; want %+v, %d", tt.args, got, code, tt.want, tt.code)
			}
			if !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("parseFlags(%q) printed %q / %q; want %q / %q", tt.args, out.String(), errb.String(), tt.out, tt.err)
			}
		})
	}
}
