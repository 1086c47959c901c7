package main

import (
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/orchestrate"
)

func newDown(a *app) *cobra.Command {
	var volumes, removeOrphans, dryRun bool
	var rmi string
	var timeout int
	c := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove the project's containers and networks",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if rmi != "" && rmi != "local" && rmi != "all" {
				return fmt.Errorf("--rmi %q: use local or all", rmi)
			}
			return a.withNamedProject(ctx, func(name string, p *types.Project, o *orchestrate.Orchestrator) error {
				opts := orchestrate.DownOptions{Volumes: volumes, RemoveOrphans: removeOrphans, Rmi: rmi, DryRun: dryRun,
					Timeout: timeoutFlag(cmd, timeout), KillCtx: a.killCtx}
				pl, err := o.Down(ctx, name, p, opts)
				if dryRun && err == nil {
					fmt.Fprint(a.stdout, pl.String())
				}
				return err
			})
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&volumes, "volumes", "v", false, "remove named volumes too")
	fl.BoolVar(&removeOrphans, "remove-orphans", false, "remove containers of services not in the compose file")
	fl.StringVar(&rmi, "rmi", "", "remove images: local or all")
	fl.IntVarP(&timeout, "timeout", "t", 10, "seconds to wait for a container to stop before killing it")
	fl.BoolVar(&dryRun, "dry-run", false, "print the plan and do nothing")
	return c
}
