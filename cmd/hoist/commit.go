package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newExport(a *app) *cobra.Command {
	var index int
	var output string
	c := &cobra.Command{
		Use:   "export [OPTIONS] SERVICE",
		Short: "Export a service container's filesystem as a tar archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if output == "" && isTerminal(a.stdout) {
				return errors.New("output option is required when exporting to terminal")
			}
			return a.withContainers(ctx, args, true, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				c, err := orchestrate.ServiceContainer(cs, args[0], index)
				if err != nil {
					return err
				}
				if output == "" {
					return o.Export(ctx, c, a.stdout)
				}
				return writeFileAtomic(output, func(f *os.File) error { return o.Export(ctx, c, f) })
			})
		},
	}
	c.Flags().IntVar(&index, "index", 0, "index of the container if service has multiple replicas")
	c.Flags().StringVarP(&output, "output", "o", "", "write to a file, instead of STDOUT")
	return c
}

// writeFileAtomic has write fill a new file that replaces path only
// when it succeeded, mode 0600, as docker's export writes its output.
func writeFileAtomic(path string, write func(f *os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("failed to export container: %w", err)
	}
	defer os.Remove(f.Name())
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func newCommit(a *app) *cobra.Command {
	var index int
	var opts engine.CommitOptions
	c := &cobra.Command{
		Use:   "commit [OPTIONS] SERVICE [REPOSITORY[:TAG]]",
		Short: "Create a new image from a service container's changes",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 2 {
				opts.Ref = args[1]
			}
			return a.withContainers(ctx, args[:1], true, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				c, err := orchestrate.ServiceContainer(cs, args[0], index)
				if err != nil {
					return err
				}
				id, err := o.Commit(ctx, c, opts)
				if err != nil {
					return err
				}
				// As docker commit: the new image's ID, for scripts.
				fmt.Fprintln(a.stdout, id)
				return nil
			})
		},
	}
	fl := c.Flags()
	fl.IntVar(&index, "index", 0, "index of the container if service has multiple replicas")
	// docker compose gives it -p, which is the project's name here (and
	// there: cobra refuses the two).
	fl.BoolVar(&opts.Pause, "pause", true, "pause container during commit")
	fl.StringVarP(&opts.Message, "message", "m", "", "commit message")
	fl.StringVarP(&opts.Author, "author", "a", "", `author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fl.StringArrayVarP(&opts.Changes, "change", "c", nil, "apply Dockerfile instruction to the created image")
	return c
}
