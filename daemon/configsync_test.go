package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lvs/config"
)

const pairConf = `serial_no = 1
primary = 192.168.26.9
service = lvs
backup_active = 1
backup = 192.168.26.8
heartbeat_key = "a key of sixteen bytes or more"
network = nat
nat_router = 10.11.12.10 eth1:1
virtual www {
     active = 1
     address = 192.168.26.10 eth0:1
     port = 80
     scheduler = rr
     protocol = tcp
     server rs1 {
         address = 10.11.12.1
         active = 1
         weight = 1
     }
}
`

// TestTakeSyncedRefusals: a pushed lvs.cf that must not be applied leaves
// the running configuration and the file alone, and says why.
func TestTakeSyncedRefusals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lvs.cf")
	if err := os.WriteFile(path, []byte(pairConf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, strings.NewReader(pairConf))
	if err != nil {
		t.Fatal(err)
	}
	d := &lvsd{opts: Options{ConfigFile: path}, cfg: cfg, text: []byte(pairConf)}
	tests := []struct {
		name, text, why string
		active          bool
	}{
		{"while active", strings.Replace(pairConf, "serial_no = 1", "serial_no = 2", 1), "is active", true},
		{"with errors", strings.Replace(pairConf, "scheduler = rr", "scheduler = fastest", 1), "refused", false},
		{"other pair", strings.Replace(pairConf, "backup = 192.168.26.8", "backup = 192.168.26.7", 1), "primary, backup", false},
		{"backup off", strings.Replace(pairConf, "backup_active = 1", "backup_active = 0", 1), "backup_active", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.active = tt.active
			msg, err := d.takeSynced([]byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("takeSynced = %q, %v; want a refusal mentioning %q", msg, err, tt.why)
			}
			if got, _ := os.ReadFile(path); string(got) != pairConf || d.cfg != cfg {
				t.Error("a refused file changed lvs.cf or the running configuration")
			}
		})
	}
}

func TestHeartbeatChanged(t *testing.T) {
	a, err := config.Parse("a", strings.NewReader(pairConf))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := config.Parse("b", strings.NewReader(strings.Replace(pairConf, "serial_no = 1", "serial_no = 5", 1)))
	if heartbeatChanged(a, b) {
		t.Error("a serial_no change counted as a heartbeat settings change")
	}
	c, _ := config.Parse("c", strings.NewReader(strings.Replace(pairConf, "service = lvs", "service = lvs\nkeepalive = 1", 1)))
	if !heartbeatChanged(a, c) {
		t.Error("a keepalive change was not noticed")
	}
}
