package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
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
			return a.withNamedProject(ctx, func(name string, p *types.Project, o *orchestrate.Orchestrator) error {
				return a.rm(ctx, name, p, o, args, rmFlags{force: force, stop: stop, volumes: volumes, timeout: timeoutFlag(cmd, timeout)})
			})
		},
	}
	fl := c.Flags()
	fl.BoolVar(&force, "force", false, "do not ask for confirmation (-f)")
	fl.BoolVarP(&stop, "stop", "s", false, "stop the containers first if needed")
	fl.BoolVarP(&volumes, "volumes", "v", false, "remove their anonymous volumes")
	fl.IntVarP(&timeout, "timeout", "t", 10, "with -s: seconds to wait for a container to stop before killing it")
	return c
}

type rmFlags struct {
	force, stop, volumes bool
	timeout              *time.Duration
}

// rm removes what o.Removable lists, after asking in a terminal unless
// force.
func (a *app) rm(ctx context.Context, name string, p *types.Project, o *orchestrate.Orchestrator, services []string, f rmFlags) error {
	cs, err := o.Removable(ctx, name, services, f.stop)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		fmt.Fprintln(a.stderr, "No stopped containers")
		return nil
	}
	if !f.force {
		// As docker compose: ask in a terminal; elsewhere (a script,
		// CI) there is nobody to ask, so go ahead.
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
	opts := orchestrate.RmOptions{Stop: f.stop, Volumes: f.volumes, Timeout: f.timeout, KillCtx: a.killCtx}
	return o.Remove(ctx, name, p, services, opts)
}
