package watch

import "github.com/hoist-dev/hoist/internal/clock"

// Clock is the source of time for debouncing, loop detection and event
// timestamps (internal/clock). It is injected so that tests drive time
// explicitly and never sleep.
type Clock = clock.Clock

// Timer is the handle returned by Clock.AfterFunc.
type Timer = clock.Timer

// RealClock returns the Clock backed by package time.
func RealClock() Clock { return clock.Real() }
