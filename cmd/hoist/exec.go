package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newExec(a *app) *cobra.Command {
	var noTTY, detach bool
	var user, workdir string
	var env []string
	var index int
	c := &cobra.Command{
		Use:   "exec [flags] SERVICE COMMAND [ARGS...]",
		Short: "Run a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, _, err := a.projectName(ctx)
			if err != nil {
				return err
			}
			b, err := a.backend(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			ex, ok := b.(engine.Execer)
			if !ok {
				return fmt.Errorf("the %s engine cannot exec: %w", b.Name(), engine.ErrNotImplemented)
			}
			cs, err := (&orchestrate.Orchestrator{Backend: b}).Containers(ctx, name, args[:1], false)
			if err != nil {
				return err
			}
			var target *engine.Container
			for i := range cs {
				if cs[i].Number == index && cs[i].State == engine.StateRunning {
					target = &cs[i]
				}
			}
			if target == nil {
				return fmt.Errorf("service %q has no running container number %d: start it with hoist up", args[0], index)
			}
			tty := !noTTY && isTerminal(a.stdout)
			if f, ok := a.stdin.(*os.File); tty && ok && term.IsTerminal(int(f.Fd())) {
				old, err := term.MakeRaw(int(f.Fd()))
				if err == nil {
					defer term.Restore(int(f.Fd()), old)
				}
			} else {
				tty = false
			}
			spec := engine.ExecSpec{Cmd: args[1:], User: user, WorkDir: workdir, Env: env, TTY: tty, Stdout: a.stdout, Stderr: a.stderr}
			if !detach {
				spec.Stdin = a.stdin
			}
			code, err := ex.Exec(ctx, target.ID, spec)
			if err != nil {
				return fmt.Errorf("exec in %s: %w", target.Name, err)
			}
			return exitOrNil(code)
		},
	}
	fl := c.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&noTTY, "no-TTY", "T", false, "do not allocate a TTY")
	fl.BoolVarP(&detach, "detach", "d", false, "do not attach stdin")
	fl.StringVarP(&user, "user", "u", "", "run as this user")
	fl.StringVarP(&workdir, "workdir", "w", "", "working directory")
	fl.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	fl.IntVar(&index, "index", 1, "container number of the service")
	return c
}

func newLifecycle(a *app, verb string) *cobra.Command {
	var timeout int
	var signal string
	c := &cobra.Command{
		Use:   verb + " [SERVICE...]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " services",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, p, err := a.projectName(ctx)
			if err != nil {
				return err
			}
			o, _, err := a.orchestrator(ctx)
			if err != nil {
				return err
			}
			defer o.Backend.Close()
			switch verb {
			case "stop":
				return o.Stop(ctx, name, p, args, a.killCtx)
			case "start":
				return o.Start(ctx, name, args)
			case "restart":
				if err := o.Stop(ctx, name, p, args, a.killCtx); err != nil {
					return err
				}
				return o.Start(ctx, name, args)
			case "kill":
				return o.Kill(ctx, name, args, signal)
			}
			return nil
		},
	}
	if verb == "stop" || verb == "restart" {
		c.Flags().IntVarP(&timeout, "timeout", "t", 10, "seconds to wait before killing")
	}
	if verb == "kill" {
		c.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "signal to send")
	}
	return c
}

func newLs(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List projects (not yet implemented)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return fmt.Errorf("ls: %w", engine.ErrNotImplemented)
		},
	}
}
