// Command hoist runs compose projects on Docker Engine or on its own
// daemonless runtime.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	// Imported for its initialisation: hoist run's fast path, which ends
	// the process there when it ran the command (see its doc).
	_ "github.com/hoist-dev/hoist/cmd/hoist/fastrun"
	"github.com/hoist-dev/hoist/engine/native/rootless"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/diskfull"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	// The native runtime re-executes this binary as container init, exec
	// helper and monitor; those roles never reach the CLI.
	if runtime.MaybeInit() {
		return
	}
	// hoist is short-lived and allocates mostly while loading compose files:
	// trading memory for fewer GC cycles shortens every command.
	debug.SetGCPercent(400)
	os.Exit(run())
}

func run() int {
	// The first interrupt cancels ctx (graceful stop); the second cancels
	// killCtx (kill what is left).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killCtx, kill := context.WithCancel(context.Background())
	defer kill()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	interrupted := false
	go func() {
		<-sigs
		interrupted = true
		fmt.Fprintln(os.Stderr, "Gracefully stopping... (press Ctrl+C again to force)")
		cancel()
		<-sigs
		kill()
	}()
	rootless.EnterWorkDir()
	app := &app{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, environ: os.Environ(), killCtx: killCtx,
		args: os.Args[1:]}
	root := newRoot(app)
	root.SetArgs(rewriteArgs(os.Args[1:]))
	// A full disk says so, and where, on one line, however deep it was.
	err := diskfull.Explain(root.ExecuteContext(ctx))
	var ec exitCode
	switch {
	case interrupted || errors.Is(err, context.Canceled):
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "hoist:", err)
		}
		return 130
	case errors.As(err, &ec):
		return int(ec)
	case err != nil:
		fmt.Fprintln(os.Stderr, "hoist:", err)
		return 1
	}
	return 0
}

// exitCode is returned by commands that pass an exit status through
// (exec, up --exit-code-from) without printing an error.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
