package main

import (
	"bytes"
	"strings"
	"testing"

	"lvs/daemon"
)

// noNice in a test's want is --worker-nice 0 (0 there means the default).
const noNice = 100

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
		{"ip6tables", []string{"-t", "--ip6tables", "ip6t"}, daemon.Options{ConfigTest: true, Ip6tablesFile: "ip6t"}, -1, "", ""},
		{"dump", []string{"--config-dump"}, daemon.Options{ConfigDump: true}, -1, "", ""},
		{"daemon", nil, daemon.Options{}, -1, "", ""},
		{"help", []string{"--help"}, daemon.Options{}, 0, "Usage: lvsd", ""},
		{"unknown flag", []string{"-x"}, daemon.Options{}, 2, "", "flag provided but not defined: -x"},
		{"argument", []string{"-t", "lvs.cf"}, daemon.Options{ConfigTest: true}, 2, "", `unexpected argument "lvs.cf"`},
		{"admin", []string{"--admin", ":3636", "--admin-allow", "127.0.0.1,172.16.57", "--password-file", "p"},
			daemon.Options{Admin: ":3636", AdminAllow: "127.0.0.1,172.16.57", PasswordFile: "p"}, -1, "", ""},
		{"tls", []string{"--admin-cert", "c.pem", "--admin-key", "k.pem"}, daemon.Options{AdminCert: "c.pem", AdminKey: "k.pem"}, -1, "", ""},
		{"cert without key", []string{"--admin-cert", "c.pem"}, daemon.Options{AdminCert: "c.pem"}, 2, "", "go together"},
		{"bad allow", []string{"--admin-allow", "10.0.0.0/33"}, daemon.Options{AdminAllow: "10.0.0.0/33"}, 2, "", "--admin-allow"},
		{"both modes", []string{"-t", "--config-dump"}, daemon.Options{ConfigTest: true, ConfigDump: true}, 2, "", "exclude each other"},
		{"worker nice", []string{"--worker-nice", "0"}, daemon.Options{WorkerNice: noNice}, -1, "", ""},
		{"worker nice range", []string{"--worker-nice", "-21"}, daemon.Options{WorkerNice: -21}, 2, "", "want -20 to 19"},
		{"kernel schedule", []string{"--kernel-schedule=off"}, daemon.Options{KernelSchedule: "off"}, -1, "", ""},
		{"kernel schedule alone", []string{"--kernel-schedule"}, daemon.Options{KernelSchedule: "all"}, -1, "", ""},
		{"flow map", []string{"--flow-map", "1048576"}, daemon.Options{FlowMap: 1 << 20}, -1, "", ""},
		{"flow map range", []string{"--flow-map", "-1"}, daemon.Options{FlowMap: -1}, 2, "", "want 1 to"},
		{"flow map start", []string{"--flow-map-start", "1024"}, daemon.Options{FlowMapStart: 1024}, -1, "", ""},
		{"flow map start range", []string{"--flow-map-start", "-5"}, daemon.Options{FlowMapStart: -5}, 2, "", "--flow-map-start -5: want 1 to"},
		{"kernel schedule bad", []string{"--kernel-schedule=tcp"}, daemon.Options{KernelSchedule: "tcp"}, 2, "", "want udp, all or off"},
	}
	for _, tt := range tests {
		// --worker-nice's default; noNice stands for an explicit 0.
		switch tt.want.WorkerNice {
		case 0:
			tt.want.WorkerNice = -5
		case noNice:
			tt.want.WorkerNice = 0
		}
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got, _, code := parseFlags(tt.args, &out, &errb)
			if got != tt.want || code != tt.code {
				t.Errorf("parseFlags(%q) = %+v, %d; want %+v, %d", tt.args, got, code, tt.want, tt.code)
			}
			if !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.err) {
				t.Errorf("parseFlags(%q) printed %q / %q; want %q / %q", tt.args, out.String(), errb.String(), tt.out, tt.err)
			}
		})
	}
}
