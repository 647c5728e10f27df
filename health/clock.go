package health

import "lvs/internal/clock"

// Clock is the Runner's source of time. Tests pass a fake one and advance it;
// nothing in the Runner sleeps or reads the wall clock on its own.
type Clock = clock.Clock

// Timer is a one-shot timer of a Clock.
type Timer = clock.Timer

// SystemClock is the real clock.
func SystemClock() Clock { return clock.System() }
