package main

import (
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/orchestrate"
)

// newPause is pause or unpause (verb), as docker compose has them.
func newPause(a *app, verb string) *cobra.Command {
	short := map[string]string{"pause": "Pause services", "unpause": "Unpause services"}[verb]
	return &cobra.Command{
		Use:   verb + " [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withNamedProject(ctx, func(name string, _ *types.Project, o *orchestrate.Orchestrator) error {
				if verb == "pause" {
					return o.Pause(ctx, name, args)
				}
				return o.Unpause(ctx, name, args)
			})
		},
	}
}
