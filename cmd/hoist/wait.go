package main

import (
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/orchestrate"
)

// newWait is docker compose's wait: block until the services' containers
// stop; the exit status is the first one's code. --down-project takes the
// project down as soon as the first one stops.
func newWait(a *app) *cobra.Command {
	var downProject bool
	c := &cobra.Command{
		Use:   "wait [SERVICE...]",
		Short: "Block until the services' containers stop",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withNamedProject(ctx, func(name string, p *types.Project, o *orchestrate.Orchestrator) error {
				code, err := o.WaitStopped(ctx, name, args, !downProject)
				if err != nil {
					return err
				}
				if downProject {
					// As docker compose's: orphans go too.
					if _, err := o.Down(ctx, name, p, orchestrate.DownOptions{RemoveOrphans: true, KillCtx: a.killCtx}); err != nil {
						return err
					}
				}
				return exitOrNil(code)
			})
		},
	}
	c.Flags().BoolVar(&downProject, "down-project", false, "take the project down when the first container stops")
	return c
}
