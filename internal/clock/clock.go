// Package clock is the one time source that code which waits is given,
// so that its tests move time themselves and never sleep: watch's
// debounce, the supervisor's restart backoff and healthchecks, the log
// writer's timestamps.
//
// A Clock has two methods, Now and AfterFunc; After is derived from
// them, so a fake only implements the two.
package clock

import "time"

// Clock is a source of time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless
	// the returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the handle AfterFunc returns.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether
	// it did so.
	Stop() bool
}

// Real is the Clock of package time.
func Real() Clock { return real{} }

type real struct{}

func (real) Now() time.Time { return time.Now() }

func (real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// After returns a channel that receives c's time once d has elapsed, as
// time.After does.
func After(c Clock, d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.AfterFunc(d, func() { ch <- c.Now() })
	return ch
}
