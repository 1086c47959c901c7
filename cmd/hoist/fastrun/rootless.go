package fastrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/rootless"
	"github.com/hoist-dev/hoist/internal/runcache"
)

// roleRootless is hoist executed again by rootless.RunIn as the root of
// a user namespace of its own, where it replays a rootless entry. A
// replayed one-off has no network of the project's (oneoff's simple
// records only), so it needs no holder of the project's network
// namespace and no anchor: the usual way's holder, the nsenter and the
// second hoist it runs there are most of what a rootless run --rm costs
// over root's.
const roleRootless = "hoist-runtime:fastrun"

// passWord is what the role says on its ready pipe when it leaves the
// command line to the usual way, having made nothing.
const passWord = "pass"

// runRootless runs the command line from the user's run cache (the
// rootless run dir) in a user namespace of its own; ran is false when it
// did nothing, for main to do it the usual way (through a holder).
func runRootless() (code int, ran bool) {
	env := os.Environ()
	uid, gid := os.Getuid(), os.Getgid()
	// Only looked at: this runs for any command line with a "run" word,
	// of the docker engine too; with no run dir there is no entry, and
	// the usual way makes the dirs (or says what is wrong with them).
	dirs, err := rootless.ExistingDirs(func(k string) string { return getenv(env, k) }, uid)
	if err != nil {
		return 0, false
	}
	e, key, ok := lookup(env, dirs.RunDir)
	if !ok || !e.Rootless || e.Root != dirs.Root {
		return 0, false
	}
	name := rootless.UserName(uid)
	m, err := rootless.Lookup(name, uid, gid)
	if err != nil {
		return 0, false
	}
	if m.Single {
		// As the usual way warns, each time.
		fmt.Fprintf(os.Stderr, "WARN "+rootless.SingleWarning+"\n", name, name)
	}
	// The role stops the container on the first interrupt, as the usual
	// way does; this process waits for it. What is sent to this process
	// alone (kill) is passed on; the terminal's interrupt reaches both.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	cmd := &exec.Cmd{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: env}
	ready, err := rootless.RunIn(context.Background(), m, roleRootless, key+" "+runcache.Dir(dirs.RunDir), cmd)
	if err != nil {
		return 0, false // nothing made: the usual way says what is wrong
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	word, _ := io.ReadAll(ready)
	ready.Close()
	err = cmd.Wait()
	close(done)
	if w := strings.TrimSpace(string(word)); w != "" {
		// The role passed, or RunUserns could not execute it: either
		// way before anything was made.
		if w != passWord {
			fmt.Fprintln(os.Stderr, "hoist: rootless fast path:", w)
		}
		return 0, false
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ee.ExitCode(), true
	case err != nil:
		fmt.Fprintln(os.Stderr, "hoist:", err)
		return 1, true
	}
	return 0, true
}

// runRootlessRole replays, as root of its user namespace, the entry its
// argument names ("KEY DIR"), and says passWord on fd 4 when it does not.
func runRootlessRole() int {
	ready := os.NewFile(4, "ready")
	// Nothing it starts may hold the pipe: its end is this role's.
	unix.CloseOnExec(4)
	var cfg rootless.HolderConfig
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil {
		fmt.Fprintf(ready, "config: %v\n", err)
		return 125
	}
	key, dir, _ := strings.Cut(cfg.Arg, " ")
	// Read again: an input may have changed since the user's side
	// looked (runcache.Lookup checks them).
	if e, ok := runcache.Lookup(dir, key); ok && e.Rootless {
		if code, ran := replay(e); ran {
			return code
		}
	}
	fmt.Fprint(ready, passWord)
	return 0
}
