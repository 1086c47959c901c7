package main

import (
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// killHook is a test hook, not a feature: with HOIST_TEST_KILL_AFTER=N
// hoist kills itself with SIGKILL right after the Nth plan operation
// that succeeded (counted across the command's plans), as a crash or
// kill -9 would at that point, so that a test can check that the next
// command converges from every step (e2e/reliability). Unset (always,
// but in those tests) it is nil and costs nothing.
func (a *app) killHook() func() {
	n, err := strconv.Atoi(a.getenv("HOIST_TEST_KILL_AFTER"))
	if err != nil || n <= 0 {
		return nil
	}
	var done atomic.Int64
	return func() {
		if done.Add(1) == int64(n) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}
