package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// session runs on the host, not in a container. The test starts it as
// the session leader of a pty it made (setsid, TIOCSCTTY), standing for
// the user's shell: it runs PROG (hoist) in its own session and process
// group, the terminal's foreground one, as a shell without job control
// would, reports PROG's exit status on fd 3, and then stays, as the shell
// does after a command returns, so the terminal keeps its session while
// the test looks for what a container left behind on it. The test ends
// it with SIGTERM.
//
//	probe session -- PROG [ARGS...]
func session(args []string) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	status := os.NewFile(3, "status")
	if len(args) == 0 || status == nil {
		fmt.Fprintln(os.Stderr, "usage: probe session -- PROG [ARGS...] (with fd 3 open)")
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Start()
	if err == nil {
		// A shell ignores these while it waits; so does this one, once
		// PROG is started (an ignored signal stays ignored across exec).
		signal.Ignore(syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTTOU, syscall.SIGTTIN, syscall.SIGHUP)
		err = cmd.Wait()
	}
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		fmt.Fprintf(status, "exit %d %v\n", code, err)
	} else {
		fmt.Fprintf(status, "exit 0\n")
	}
	status.Close()
	<-sig
}
