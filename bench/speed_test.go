package bench

import "testing"

func TestSpinWork(t *testing.T) {
	// Marsaglia's xorshift64 (13, 7, 17) from his seed: its first output.
	const first = 8748534153485358512
	tests := []struct {
		rounds int
		want   uint64
		slot   int    // a table slot to check
		inSlot uint64 // what it must hold
	}{
		{rounds: 0, want: 88172645463325252, slot: first & (spinTable - 1), inSlot: 0},
		{rounds: 1, want: first, slot: first & (spinTable - 1), inSlot: first},
	}
	for _, tt := range tests {
		table := make([]uint64, spinTable)
		if got := spinWork(table, tt.rounds); got != tt.want {
			t.Errorf("spinWork(%d) = %d, want %d", tt.rounds, got, tt.want)
		}
		if table[tt.slot] != tt.inSlot {
			t.Errorf("spinWork(%d): table[%d] = %d, want %d", tt.rounds, tt.slot, table[tt.slot], tt.inSlot)
		}
	}
}
