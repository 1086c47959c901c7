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
func (a *app) killHook() func() { return a.killAfter("HOIST_TEST_KILL_AFTER") }

// writeKillHook is killHook's like for the native image store and
// builder: with HOIST_TEST_KILL_AFTER_WRITE=N hoist kills itself right
// after the Nth write they made durable (a blob, an unpacked layer, the
// image index, a build cache entry), so that a test can kill pull, image
// load and build between every two of their writes.
func (a *app) writeKillHook() func() { return a.killAfter("HOIST_TEST_KILL_AFTER_WRITE") }

// killAfter is a hook that sends this process SIGKILL at its Nth call,
// N the value of the environment variable env, or nil when it is unset.
func (a *app) killAfter(env string) func() {
	n, err := strconv.Atoi(a.getenv(env))
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
