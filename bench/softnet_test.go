package bench

import (
	"strings"
	"testing"
)

func TestParseSoftnet(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Backlog
	}{
		{
			name: "Linux 6 with the CPU column",
			text: "3eae8991 0001dc84 00000032 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n" +
				"c88df2bd 16f3d97f 0000003d 00000000 00000000 00000000 00000000 00000000 00000000 00fb4af3 00000000 00000000 00000001 00000000 00000000\n",
			want: []Backlog{{Processed: 0x3eae8991, Dropped: 0x1dc84}, {Processed: 0xc88df2bd, Dropped: 0x16f3d97f}},
		},
		{
			name: "an offline CPU between online ones",
			text: "00000010 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n" +
				"00000020 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002\n",
			want: []Backlog{{Processed: 0x10, Dropped: 1}, {}, {Processed: 0x20, Dropped: 2}},
		},
		{
			name: "old kernel without the CPU column",
			text: "00000010 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n" +
				"00000020 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n",
			want: []Backlog{{Processed: 0x10, Dropped: 1}, {Processed: 0x20, Dropped: 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSoftnet(strings.NewReader(tt.text))
			if err != nil {
				t.Fatalf("ParseSoftnet: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseSoftnet = %+v, want %+v", got, tt.want)
			}
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Errorf("cpu%d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	for _, bad := range []string{"", "0001 0002\n", "zz 00 00\n", "1ffffffff 0 0\n"} {
		if _, err := ParseSoftnet(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseSoftnet(%q) = nil error, want one", bad)
		}
	}
}

func TestBacklogDrops(t *testing.T) {
	a := []Backlog{{Dropped: 5}, {Dropped: 0xfffffff0}}
	b := []Backlog{{Dropped: 9}, {Dropped: 0x10}}
	tests := []struct {
		cpu  int
		want uint64
	}{
		{0, 4},
		{1, 0x20}, // the kernel's 32-bit counter wrapped
		{2, 0},    // not in the samples
		{-1, 0},
	}
	for _, tt := range tests {
		if got := backlogDrops(a, b, tt.cpu); got != tt.want {
			t.Errorf("backlogDrops(cpu %d) = %d, want %d", tt.cpu, got, tt.want)
		}
	}
}

func TestParseCPUMask(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		bad  bool
	}{
		{in: "2\n", want: 2},
		{in: "0\n", want: 0},
		{in: "00000000,00000001\n", want: 1},
		{in: "00000001,00000000\n", want: 1 << 32},
		{in: "", bad: true},
		{in: "x\n", bad: true},
	}
	for _, tt := range tests {
		got, err := parseCPUMask(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseCPUMask(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
