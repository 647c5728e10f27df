package ipvsadm

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"lvs/admin"
	"lvs/admin/admintest"
)

func TestWriteListGolden(t *testing.T) {
	tests := []struct {
		name string
		f    ListFormat
	}{
		{"list", 0},
		{"stats", FmtStats},
		{"stats-exact", FmtStats | FmtExact},
		{"rate", FmtRate},
		{"thresholds", FmtThresholds},
		{"persistent-conn", FmtPersistentConn},
		{"save", FmtRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteList(&b, admintest.SampleStatus(t), tt.f); err != nil {
				t.Fatal(err)
			}
			admintest.Golden(t, filepath.Join("testdata", "ipvsadm-"+tt.name+".golden"), b.Bytes())
		})
	}
}

func TestWriteTimeouts(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTimeouts(&b, admin.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "Timeout (tcp tcpfin udp): 900 120 300\n"; got != want {
		t.Errorf("WriteTimeouts = %q, want %q", got, want)
	}
}

func TestLargenum(t *testing.T) {
	tests := []struct {
		v    uint64
		f    ListFormat
		want string
	}{
		{99_999_999, 0, " 99999999"},
		{123_456_789, 0, "  123456K"},
		{2_500_000_000, 0, "    2500M"},
		{250_000_000_000, 0, "     250G"},
		{123_456_789_012_345, 0, "     123T"},
		{7, FmtExact, "        7"},
		{123_456_789_012, FmtExact, " 123456789012"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		largenums(&b, tt.f, tt.v)
		if b.String() != tt.want {
			t.Errorf("largenum(%d, %v) = %q, want %q", tt.v, tt.f, b.String(), tt.want)
		}
	}
}
