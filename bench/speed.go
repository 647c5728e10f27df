package bench

// spinRounds is the size of one speed probe's workload (spinWork): about
// 3.5 ms of one of this machine's cores when it runs at its usual speed.
const spinRounds = 2_000_000

// spinTable is the speed probe's table: 512 KiB, so the workload reads
// and writes the core's caches as well as its registers.
const spinTable = 1 << 16

// spinWork runs the speed probe's fixed workload: rounds steps of a
// xorshift generator, each adding into a slot of table (len spinTable)
// the step picks. It returns the generator's last value, so the work
// cannot be left out, and it is the same for every call with the same
// rounds and a zeroed table.
func spinWork(table []uint64, rounds int) uint64 {
	x := uint64(88172645463325252)
	for range rounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		table[x&(spinTable-1)] += x
	}
	return x
}
