package supervisor

import "time"

// Docker's restart backoff: the first restart waits 100 ms, each next
// one twice as long up to a minute, and a run that lasted 10 s resets it.
const (
	backoffStart = 100 * time.Millisecond
	backoffMax   = time.Minute
	backoffReset = 10 * time.Second
)

// backoff is the restart delay of one container.
type backoff struct{ delay time.Duration }

// next returns the wait before restarting a run that lasted uptime.
func (b *backoff) next(uptime time.Duration) time.Duration {
	switch {
	case uptime >= backoffReset || b.delay == 0:
		b.delay = backoffStart
	default:
		b.delay = min(2*b.delay, backoffMax)
	}
	return b.delay
}

// shouldRestart decides on restarting after an exit with code, given the
// restarts already made and whether Stop asked for the exit.
func (p RestartPolicy) shouldRestart(code, restarts int, stopped bool) bool {
	if stopped {
		return false
	}
	switch p.Mode {
	case RestartAlways, RestartUnlessStopped:
		return true
	case RestartOnFailure:
		return code != 0 && (p.MaxRetries == 0 || restarts < p.MaxRetries)
	}
	return false
}
