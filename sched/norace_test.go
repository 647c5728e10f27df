//go:build !race

package sched

// raceEnabled scales the long property tests down under the race detector.
const raceEnabled = false
