package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoist-dev/hoist/orchestrate"
)

func newRm(a *app) *cobra.Command {
	var force, stop, volumes bool
	var timeout int
	c := &cobra.Command{
		Use:   "rm [SERVICE...]",
		Short: "Remove stopped service containers",
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
			cs, err := o.Removable(ctx, name, args, stop)
			if err != nil {
				return err
			}
			if len(cs) == 0 {
				fmt.Fprintln(a.stderr, "No stopped containers")
				return nil
			}
			if !force {
				// As docker compose: ask in a terminal; elsewhere (a
				// script, CI) there is nobody to ask, so go ahead.
				names := make([]string, len(cs))
				for i, c := range cs {
					names[i] = c.Name
				}
				fmt.Fprintf(a.stderr, "Going to remove %s\n", strings.Join(names, ", "))
				if in, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
					fmt.Fprint(a.stderr, "Are you sure? [yN] ")
					answer, _ := bufio.NewReader(in).ReadString('\n')
					if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
						return nil
					}
				}
			}
			opts := orchestrate.RmOptions{Stop: stop, Volumes: volumes, KillCtx: a.killCtx}
			if cmd.Flags().Changed("timeout") {
				t := time.Duration(timeout) * time.Second
				opts.Timeout = &t
			}
			return o.Remove(ctx, name, p, args, opts)
		},
	}
	fl := c.Flags()
	fl.BoolVar(&force, "force", false, "do not ask for confirmation (-f)")
	fl.BoolVarP(&stop, "stop", "s", false, "stop the containers first if needed")
	fl.BoolVarP(&volumes, "volumes", "v", false, "remove their anonymous volumes")
	fl.IntVarP(&timeout, "timeout", "t", 10, "with -s: seconds to wait for a container to stop before killing it")
	return c
}
