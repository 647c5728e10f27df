package bench

import "testing"

func TestForeignTicks(t *testing.T) {
	const self = 100
	a := procSnap{
		1:   {ppid: 0, ticks: 50},
		2:   {ppid: 0, kernel: true, ticks: 5},
		100: {ppid: 1, ticks: 10},  // the harness
		101: {ppid: 100, ticks: 7}, // lvsd, its child
		102: {ppid: 101, ticks: 3}, // a grandchild
		200: {ppid: 1, ticks: 20},  // someone's go build
		300: {ppid: 1, ticks: 4},   // an idle shell
	}
	tests := []struct {
		name string
		b    procSnap
		want uint64
	}{
		{name: "nothing ran", b: a, want: 0},
		{name: "only the run's processes and kernel threads", b: procSnap{
			1: {ppid: 0, ticks: 50}, 2: {ppid: 0, kernel: true, ticks: 90},
			100: {ppid: 1, ticks: 40}, 101: {ppid: 100, ticks: 70}, 102: {ppid: 101, ticks: 30},
			103: {ppid: 100, ticks: 8}, // a new child of the harness
			200: {ppid: 1, ticks: 20}, 300: {ppid: 1, ticks: 4},
		}, want: 0},
		{name: "a build's growth, its reaped compiler, a new process", b: procSnap{
			1: {ppid: 0, ticks: 50}, 2: {ppid: 0, kernel: true, ticks: 5},
			100: {ppid: 1, ticks: 10}, 101: {ppid: 100, ticks: 7}, 102: {ppid: 101, ticks: 3},
			200: {ppid: 1, ticks: 20 + 11 + 30}, // 11 of its own, 30 of a compiler it reaped
			300: {ppid: 1, ticks: 4},
			400: {ppid: 300, ticks: 6}, // born in the window under the shell
		}, want: 11 + 30 + 6},
		{name: "the run's orphan", b: procSnap{
			1: {ppid: 0, ticks: 50}, 2: {ppid: 0, kernel: true, ticks: 5},
			100: {ppid: 1, ticks: 10 + 7}, // 101 ended, reaped by the harness
			102: {ppid: 1, ticks: 3 + 5},  // reparented to init: ours by a
			200: {ppid: 1, ticks: 20}, 300: {ppid: 1, ticks: 4},
		}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := foreignTicks(a, tt.b, self); got != tt.want {
				t.Errorf("foreignTicks = %d, want %d", got, tt.want)
			}
		})
	}
}
