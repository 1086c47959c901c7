package main

import (
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/filecopy"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newCp(a *app) *cobra.Command {
	var r filecopy.Request
	var all bool
	c := &cobra.Command{
		Use:   "cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n  hoist cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH",
		Short: "Copy files/folders between a service container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		// The two forms of Use say where the flags go.
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Source, r.Destination, r.Stdin, r.Stdout = args[0], args[1], a.stdin, a.stdout
			svc, _, err := r.Service()
			if err != nil {
				return err
			}
			return a.withContainers(cmd.Context(), []string{svc}, all, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				return o.Copy(cmd.Context(), cs, r)
			})
		},
	}
	fl := c.Flags()
	fl.IntVar(&r.Index, "index", 0, "index of the container if the service has several replicas")
	fl.BoolVar(&all, "all", false, "include containers created by the run command")
	fl.BoolVarP(&r.FollowLink, "follow-link", "L", false, "always follow a symbol link in SRC_PATH")
	fl.BoolVarP(&r.CopyUIDGID, "archive", "a", false, "archive mode (copy all uid/gid information)")
	return c
}
