package main

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native"
	"github.com/hoist-dev/hoist/internal/runcache"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newRun(a *app) *cobra.Command {
	var opts orchestrate.RunOptions
	var entrypoint string
	var noTTY bool
	c := &cobra.Command{
		Use:   "run [flags] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command in a new container of a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				opts.Cmd = args[1:]
			}
			if cmd.Flags().Changed("entrypoint") {
				opts.Entrypoint = []string{entrypoint}
				if entrypoint == "" {
					opts.Entrypoint = []string{}
				}
			}
			opts.Stdout, opts.Stderr = a.stdout, a.stderr
			if !opts.Detach {
				opts.Stdin = a.stdin
				// A terminal on both ends: the command gets one too, as
				// with docker compose run (-T: not).
				if f := a.terminalIn(noTTY); f != nil {
					size, resize, stop := watchTerminalSize(f)
					defer stop()
					opts.TTY, opts.Size, opts.Resize = true, size, resize
					opts.RawMode = func() func() { return rawMode(f) }
				}
			}
			ctx := cmd.Context()
			loadStart := time.Now()
			p, inputs, err := compose.LoadWithInputs(ctx, a.loadOptions())
			if err != nil {
				return err
			}
			a.loaded = p
			// The inputs' digests are taken now, just after the load read
			// them and before the container runs (it may write the project
			// dir), and the image index's as soon as the engine read it.
			var entry *runcache.Entry
			in := a.runInputs(inputs, loadStart)
			return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
				if rec, ok := o.Backend.(replayRecorder); ok && in != nil && opts.Rm && !opts.Detach && !opts.TTY {
					opts.SelfContained = recordingRunner{rec, func(r native.Replay) {
						if more, err := runcache.Digest(r.Inputs, nil, loadStart); err == nil {
							entry = &runcache.Entry{Inputs: append(in, more...), Record: r.Record, Root: r.Root, RunDir: r.RunDir, RandomName: opts.Name == ""}
						}
					}}
				}
				code, err := o.Run(ctx, p, args[0], opts)
				if err != nil {
					return err
				}
				if entry != nil {
					a.rememberRun(*entry)
				}
				return exitOrNil(code)
			})
		},
	}
	fl := c.Flags()
	fl.SetInterspersed(false)
	fl.BoolVar(&opts.Rm, "rm", false, "remove the container when it exits")
	fl.BoolVarP(&noTTY, "no-TTY", "T", false, "do not allocate a TTY")
	fl.BoolVarP(&opts.Detach, "detach", "d", false, "run in the background")
	fl.BoolVar(&opts.NoDeps, "no-deps", false, "do not start the service's dependencies")
	fl.BoolVar(&opts.ServicePorts, "service-ports", false, "publish the service's ports")
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "set environment variables")
	fl.StringVarP(&opts.User, "user", "u", "", "run as this user")
	fl.StringVarP(&opts.WorkDir, "workdir", "w", "", "working directory")
	fl.StringVar(&opts.Name, "name", "", "container name")
	fl.StringVar(&entrypoint, "entrypoint", "", "override the entrypoint")
	fl.StringArrayVarP(&opts.Volumes, "volume", "v", nil, "bind mount or volume, as HOST_PATH:CONTAINER_PATH[:ro] or VOLUME:CONTAINER_PATH")
	fl.StringArrayVar(&opts.Publish, "publish", nil, "publish a port, as [IP:]HOST_PORT:CONTAINER_PORT (-p)")
	fl.StringArrayVarP(&opts.Labels, "label", "l", nil, "add a label, as KEY=VALUE")
	fl.BoolVar(&opts.Build, "build", false, "build the image before running")
	return c
}

// replayRecorder is an engine that can tell how to run a one-off
// container again by itself, from a record (the native engine): what the
// fast path (cmd/hoist/fastrun) runs.
type replayRecorder interface {
	RunRecorded(ctx context.Context, spec engine.ContainerSpec, opts engine.RunAttach, record func(native.Replay)) (int, error)
}

// recordingRunner runs a self-contained one-off (orchestrate.RunOptions)
// and hands record how to run it again.
type recordingRunner struct {
	r      replayRecorder
	record func(native.Replay)
}

func (x recordingRunner) RunContainer(ctx context.Context, spec engine.ContainerSpec, opts engine.RunAttach) (int, error) {
	return x.r.RunRecorded(ctx, spec, opts, x.record)
}

// runInputs are the digests of the files a run's project was made from,
// taken now; nil when the run is not to be remembered (see rememberRun).
func (a *app) runInputs(in *compose.Inputs, since time.Time) []runcache.Input {
	// Rootless, a run is remembered under the key the user's side gave
	// (runcache.KeyEnv), which its fast path looks up: this hoist's own
	// command line holds the holder's pid, new each run. The user's side
	// gives none when the fast path could not replay the run (keep-id).
	if in == nil || a.args == nil || a.getenv("HOIST_CACHE_DIR") == "off" || a.inHolder() && a.getenv(runcache.KeyEnv) == "" {
		return nil
	}
	out, err := runcache.Digest(in.Files, in.Present, since)
	if err != nil {
		return nil
	}
	return out
}

// rememberRun leaves what the fast path (cmd/hoist/fastrun) needs to run
// this command line again without the compose file: the engine's record
// of the container, keyed on the command line, and the files it was made
// from. Best effort: without it the next run only takes the usual way.
func (a *app) rememberRun(e runcache.Entry) {
	if a.inHolder() {
		e.Rootless = true
		_ = runcache.Save(runcache.Dir(e.RunDir), a.getenv(runcache.KeyEnv), e)
		return
	}
	cwd, err := os.Getwd()
	if err != nil {
		return
	}
	key, err := runcache.Key(a.args, cwd, a.environ, "/proc/self/exe")
	if err != nil {
		return
	}
	_ = runcache.Save(runcache.Dir(e.RunDir), key, e)
}
