package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newBuild(a *app) *cobra.Command {
	var opts orchestrate.BuildOptions
	var args []string
	var quiet bool
	c := &cobra.Command{
		Use:   "build [SERVICE...]",
		Short: "Build the services' images",
		RunE: func(cmd *cobra.Command, services []string) error {
			if quiet {
				a.progress = "quiet"
			}
			opts.Args = map[string]*string{}
			for _, kv := range args {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					// --build-arg NAME takes the value from the environment.
					val, set := os.LookupEnv(k)
					if !set {
						continue
					}
					v = val
				}
				opts.Args[k] = &v
			}
			ctx := cmd.Context()
			return a.withProject(ctx, func(p *types.Project, o *orchestrate.Orchestrator) error {
				return o.Build(ctx, p, services, opts)
			})
		},
	}
	fl := c.Flags()
	fl.BoolVar(&opts.NoCache, "no-cache", false, "do not use the build cache")
	fl.BoolVar(&opts.Pull, "pull", false, "always pull newer base images")
	fl.StringArrayVar(&args, "build-arg", nil, "set a build argument (NAME=VALUE)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	return c
}

func newPull(a *app) *cobra.Command {
	var opts orchestrate.PullOptions
	var policy string
	var quiet bool
	c := &cobra.Command{
		Use:   "pull [SERVICE...]",
		Short: "Pull the services' images",
		RunE: func(cmd *cobra.Command, services []string) error {
			switch policy {
			case "always":
			case "missing":
				opts.Missing = true
			default:
				return fmt.Errorf("pull --policy %q: use missing or always", policy)
			}
			if quiet {
				a.progress = "quiet"
			}
			ctx := cmd.Context()
			return a.withProject(ctx, func(p *types.Project, o *orchestrate.Orchestrator) error {
				return o.Pull(ctx, p, services, opts)
			})
		},
	}
	fl := c.Flags()
	fl.BoolVar(&opts.IgnoreBuildable, "ignore-buildable", false, "skip services that have a build section")
	fl.BoolVar(&opts.IgnoreFailures, "ignore-pull-failures", false, "pull what can be pulled and ignore the images that fail")
	fl.StringVar(&policy, "policy", "always", "missing (only images not present) or always")
	fl.BoolVarP(&quiet, "quiet", "q", false, "pull without printing progress")
	return c
}

func newPush(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "push [SERVICE...]",
		Short: "Push the services' built images to their registries",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			return a.withProject(ctx, func(p *types.Project, o *orchestrate.Orchestrator) error {
				return o.Push(ctx, p, services)
			})
		},
	}
}

// newImage is `hoist image ...`: the engine's local images, which matters
// most for the native engine where there is no docker CLI to do it.
func newImage(a *app) *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Manage the engine's local images"}
	var changes []string
	imp := &cobra.Command{
		Use:   "import [--change INSTRUCTION...] TARBALL|- REF",
		Short: "Create an image from a root filesystem tarball (like docker import)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
				r, closeFn, err := a.openInput(args[0])
				if err != nil {
					return err
				}
				defer closeFn()
				id, err := o.ImportImage(ctx, r, args[1], changes)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, id)
				return nil
			})
		},
	}
	imp.Flags().StringArrayVarP(&changes, "change", "c", nil, "Dockerfile instruction to apply (CMD, ENV, WORKDIR, ...)")
	load := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Load images from a docker save or OCI archive",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			input, _ := cmd.Flags().GetString("input")
			return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
				r, closeFn, err := a.openInput(input)
				if err != nil {
					return err
				}
				defer closeFn()
				refs, err := o.LoadImages(ctx, r)
				for _, ref := range refs {
					fmt.Fprintln(a.stdout, "Loaded image:", ref)
				}
				return err
			})
		},
	}
	load.Flags().StringP("input", "i", "-", "archive to read (- for stdin)")
	var lsAll, lsQuiet bool
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List local images",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.listImages(cmd, lsAll, lsQuiet)
		},
	}
	ls.Flags().BoolVarP(&lsAll, "all", "a", false, "also untagged images (the native builder's layer cache among them)")
	ls.Flags().BoolVarP(&lsQuiet, "quiet", "q", false, "only the image IDs")
	rm := &cobra.Command{
		Use:   "rm REF...",
		Short: "Remove local images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			force, _ := cmd.Flags().GetBool("force")
			return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
				for _, ref := range args {
					if err := o.RemoveImage(ctx, ref, force); err != nil {
						return err
					}
					fmt.Fprintln(a.stdout, "Deleted:", ref)
				}
				return nil
			})
		},
	}
	rm.Flags().Bool("force", false, "remove even if in use (-f works too)")
	inspect := &cobra.Command{
		Use:   "inspect REF...",
		Short: "Show images' configuration as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
				out, err := o.InspectImages(ctx, args)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			})
		},
	}
	c.AddCommand(imp, load, ls, rm, inspect)
	return c
}

// listImages is docker's `images`: tagged images under their familiar
// names; with all, untagged ones too, as <none>.
func (a *app) listImages(cmd *cobra.Command, all, quiet bool) error {
	ctx := cmd.Context()
	var list []engine.ImageSummary
	err := a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
		var err error
		list, err = o.ListImages(ctx)
		return err
	})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	seen := map[string]bool{}
	for _, im := range list {
		repo, tag := "<none>", "<none>"
		if !strings.HasPrefix(im.Ref, "sha256:") {
			repo, tag = splitRef(familiarRef(im.Ref))
		} else if !all {
			continue
		}
		id := strings.TrimPrefix(im.ID, "sha256:")
		if len(id) > 12 {
			id = id[:12]
		}
		if quiet {
			if !seen[id] {
				seen[id] = true
				fmt.Fprintln(tw, id)
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id, im.Created.Format("2006-01-02 15:04"), humanSize(im.Size))
	}
	return tw.Flush()
}

// familiarRef drops Docker Hub's implied parts of a reference, as docker
// shows it: index.docker.io/library/redis:7 is redis:7.
func familiarRef(ref string) string {
	for _, p := range []string{"index.docker.io/library/", "docker.io/library/", "index.docker.io/", "docker.io/"} {
		if rest, ok := strings.CutPrefix(ref, p); ok {
			return rest
		}
	}
	return ref
}

func (a *app) openInput(path string) (r *os.File, closeFn func(), err error) {
	if path == "-" || path == "" {
		if f, ok := a.stdin.(*os.File); ok {
			return f, func() {}, nil
		}
		return nil, nil, fmt.Errorf("stdin is not a file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
