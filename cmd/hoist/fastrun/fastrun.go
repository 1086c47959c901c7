// Package fastrun is `hoist run --rm`'s fast path: a command line that ran
// a simple one-off container before (engine/native/oneoff) runs it again
// from what that run left in the run cache (internal/runcache), as long
// as none of the files it was made from changed, without loading the
// compose file.
//
// It runs from this package's initialisation, before main and before a
// third of hoist's packages are initialised. Go initialises, at each step,
// the first package in import path order whose imports are all
// initialised; this one needs only the runtime, oneoff (with the store,
// launch, volume and etcfiles) and runcache (the standard library, x/sys,
// the seccomp packages and go-units), so it comes before the compose
// loader (its JSON schema compiles five meta-schemas, 10 ms here), the
// registry client and the builder. A dependency whose path sorts late and
// that few packages need (net/netip, through unique) would hold it back:
// TestStaysLight keeps them out. Here that makes run --rm 0.037 s instead
// of 0.057 s. Anything it cannot do, it leaves to the usual way before it
// has created anything.
package fastrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/oneoff"
	"github.com/hoist-dev/hoist/engine/native/rootless"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/runcache"
	"github.com/hoist-dev/hoist/internal/userns"
)

// HOIST_FASTRUN=off (or 0, false) turns the fast path off; =require makes
// a command line it cannot run fail (exit status 125) instead of taking
// the usual way, to check that it runs.
func init() {
	// The first steps of a rootless user namespace run here too, before
	// most of hoist is initialised: each is a hoist executed again, and
	// the rest of the initialisation would be half of its start.
	switch os.Args[0] {
	case rootless.RoleUserns:
		os.Exit(rootless.RunUserns())
	case roleRootless:
		os.Exit(runRootlessRole())
	}
	if runtime.IsRole() || !slices.Contains(os.Args[1:], "run") {
		return
	}
	mode := getenv(os.Environ(), "HOIST_FASTRUN")
	switch mode {
	case "off", "0", "false":
		return
	}
	run := runRoot
	if os.Geteuid() != 0 && !userns.Inside() {
		run = runRootless
	}
	if code, ran := run(); ran {
		os.Exit(code)
	}
	if mode == "require" {
		fmt.Fprintln(os.Stderr, "hoist: HOIST_FASTRUN=require: this command line has no usable run cache entry (not run the same way before, an input changed, or a terminal on stdin)")
		os.Exit(125)
	}
}

// lookup finds this command line's entry in the run cache of runDir.
func lookup(env []string, runDir string) (e *runcache.Entry, key string, ok bool) {
	// A terminal on stdin decides things the cache does not record (a
	// TTY for the command, how stdin is read).
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		return nil, "", false
	}
	if getenv(env, "HOIST_CACHE_DIR") == "off" {
		return nil, "", false
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, "", false
	}
	key, err = runcache.Key(os.Args[1:], cwd, env, "/proc/self/exe")
	if err != nil {
		return nil, "", false
	}
	e, ok = runcache.Lookup(runcache.Dir(runDir), key)
	if !ok || e.RunDir != runDir {
		return nil, "", false
	}
	return e, key, true
}

// runRoot runs the command line from the run cache, as root; ran is
// false when it did nothing, for main to do it the usual way.
func runRoot() (code int, ran bool) {
	env := os.Environ()
	runDir := getenv(env, "HOIST_RUN_DIR")
	if runDir == "" {
		runDir = store.DefaultRunDir
	}
	runDir, err := filepath.Abs(runDir)
	if err != nil {
		return 0, false
	}
	e, _, ok := lookup(env, runDir)
	if !ok || e.Rootless {
		return 0, false
	}
	return replay(e)
}

// replay runs the container of e, attached, and removes it.
func replay(e *runcache.Entry) (code int, ran bool) {
	// As main does: the first interrupt stops the container (it is
	// killed, as the usual way's run does), the exit status is then 130.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var interrupted atomic.Bool
	go func() {
		<-sigs
		interrupted.Store(true)
		fmt.Fprintln(os.Stderr, "Gracefully stopping... (press Ctrl+C again to force)")
		cancel()
	}()
	code, ran, err := oneoff.Replay(ctx, oneoff.RunOptions{
		Layout: store.Layout{Root: e.Root, RunDir: e.RunDir}, Record: e.Record, RandomName: e.RandomName,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		// As the usual way's native engine prints its warnings.
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "WARN "+format+"\n", args...) },
	})
	if !ran {
		return 0, false
	}
	switch {
	case interrupted.Load() || errors.Is(err, context.Canceled):
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "hoist:", err)
		}
		return 130, true
	case err != nil:
		fmt.Fprintln(os.Stderr, "hoist:", err)
		return 1, true
	}
	return code, true
}

// getenv is the first value of key in env, as cmd/hoist reads it.
func getenv(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
