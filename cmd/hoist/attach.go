package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newAttach(a *app) *cobra.Command {
	var index int
	var detachKeys string
	var noStdin, sigProxy bool
	c := &cobra.Command{
		Use:   "attach [OPTIONS] SERVICE",
		Short: "Attach local standard input, output, and error streams to a service's running container",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withContainers(ctx, args, false, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				c, err := orchestrate.ServiceContainer(cs, args[0], index)
				if err != nil {
					return err
				}
				s := engine.AttachStreams{Stdout: a.stdout, Stderr: a.stderr}
				if !noStdin {
					s.Stdin = a.stdin
				}
				actx := ctx
				if sigProxy {
					// The container decides what a signal means: the
					// first interrupt goes to it instead of ending the
					// attach; a second still ends hoist (killCtx).
					var cancel context.CancelFunc
					actx, cancel = context.WithCancel(context.WithoutCancel(ctx))
					defer cancel()
					stop := context.AfterFunc(a.killCtx, cancel)
					defer stop()
					sigs := make(chan os.Signal, 4)
					signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
					defer signal.Stop(sigs)
					go func() {
						for {
							select {
							case sig := <-sigs:
								_ = o.Signal(actx, c, "SIG"+signalName(sig))
							case <-actx.Done():
								return
							}
						}
					}()
				}
				code, _, err := o.AttachContainer(actx, c, s, detachKeys)
				if err != nil {
					return err
				}
				return exitOrNil(code)
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching from a container (default ctrl-p,ctrl-q)")
	fl.IntVar(&index, "index", 0, "index of the container if service has multiple replicas")
	fl.BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	fl.BoolVar(&sigProxy, "sig-proxy", true, "proxy all received signals to the process")
	return c
}

// signalName is a signal's name without SIG (INT, TERM, ...).
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		switch s {
		case syscall.SIGINT:
			return "INT"
		case syscall.SIGTERM:
			return "TERM"
		case syscall.SIGHUP:
			return "HUP"
		case syscall.SIGQUIT:
			return "QUIT"
		case syscall.SIGUSR1:
			return "USR1"
		case syscall.SIGUSR2:
			return "USR2"
		}
	}
	return "TERM"
}
