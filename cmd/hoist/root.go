package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/docker"
	"github.com/hoist-dev/hoist/engine/native"
	"github.com/hoist-dev/hoist/engine/native/rootless"
	"github.com/hoist-dev/hoist/engine/native/rootless/anchor"
	"github.com/hoist-dev/hoist/engine/swarm"
	"github.com/hoist-dev/hoist/internal/userns"
	"github.com/hoist-dev/hoist/netplan"
	"github.com/hoist-dev/hoist/orchestrate"
)

// app carries the process's streams and global flags; no globals.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	environ        []string
	killCtx        context.Context
	// args is the command line as given (without the program name), what
	// hoist run's cache is keyed on (see rememberRun).
	args []string

	files      []string
	project    string
	profiles   []string
	envFiles   []string
	projectDir string
	parallel   int
	progress   string
	engineName string
	// command is the command's name under hoist ("up", "image"), which
	// decides whether a rootless run needs the project's anchor.
	command string
	// loaded is the project this command last loaded (load), which a
	// rootless run reads again rather than loading it a second time
	// before it enters the namespace (runRootless).
	loaded *types.Project
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "hoist",
		Short:         "Run compose projects, with or without a Docker daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version (-v), as docker compose has it; `version` says more.
		Version: version,
	}
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		for c := cmd; c.HasParent(); c = c.Parent() {
			a.command = c.Name()
		}
	}
	root.SetVersionTemplate("hoist version {{.Version}}\n")
	f := root.PersistentFlags()
	f.StringArrayVarP(&a.files, "file", "f", nil, "compose configuration files")
	f.StringVarP(&a.project, "project-name", "p", "", "project name")
	f.StringArrayVar(&a.profiles, "profile", nil, "profiles to enable")
	f.StringArrayVar(&a.envFiles, "env-file", nil, "alternate environment files")
	f.StringVar(&a.projectDir, "project-directory", "", "alternate working directory (default: the first file's directory)")
	f.IntVar(&a.parallel, "parallel", orchestrate.DefaultParallel, "maximum operations at once")
	f.StringVar(&a.progress, "progress", "auto", "progress output: auto, tty, plain, json or quiet")
	f.StringVar(&a.engineName, "engine", a.getenv("HOIST_ENGINE"), "engine: docker, native, swarm or auto (env HOIST_ENGINE)")
	root.AddCommand(
		newUp(a), newCreate(a), newDown(a), newRm(a), newWait(a), newPs(a), newLogs(a), newConfig(a), newGraph(a), newVersion(a),
		newExec(a), newLifecycle(a, "start"), newLifecycle(a, "stop"), newLifecycle(a, "restart"), newLifecycle(a, "kill"),
		newLs(a), newBuild(a), newPull(a), newPush(a), newRun(a), newImage(a), newImages(a), newPort(a), newTop(a), newWatch(a),
		newCp(a), newConvert(a), newSystem(a, newSystemReset(a)), newDoctor(a),
	)
	root.AddCommand(parityCommands(a)...)
	a.routeSwarm(root)
	return root
}

func (a *app) getenv(k string) string {
	for _, kv := range a.environ {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v
		}
	}
	return ""
}

func (a *app) loadOptions() compose.Options {
	return compose.Options{Files: a.files, Name: a.project, ProjectDir: a.projectDir, Profiles: a.profiles, EnvFiles: a.envFiles, Environ: a.environ, CacheDir: a.cacheDir(),
		Warn: a.warn, Swarm: a.onSwarm()}
}

// warn prints a warning of the loader as hoist's own warnings look.
func (a *app) warn(w *compose.Error) {
	fmt.Fprintln(a.stderr, "WARN "+w.Error())
}

// cacheDir follows the XDG convention; HOIST_CACHE_DIR overrides it and
// HOIST_CACHE_DIR=off disables caching.
func (a *app) cacheDir() string {
	if d := a.getenv("HOIST_CACHE_DIR"); d != "" {
		if d == "off" {
			return ""
		}
		return d
	}
	if d := a.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "hoist")
	}
	if h := a.getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "hoist")
	}
	return ""
}

func (a *app) load(ctx context.Context) (*types.Project, error) {
	p, err := compose.Load(ctx, a.loadOptions())
	if err == nil {
		a.loaded = p
	}
	return p, err
}

// loadModel loads the model as `config` prints it (compose.Options.ModelOnly).
func (a *app) loadModel(ctx context.Context) (*types.Project, error) {
	o := a.loadOptions()
	o.ModelOnly = true
	return compose.Load(ctx, o)
}

// projectName resolves the project for commands that work without a compose
// file (down, ps, logs): -p, COMPOSE_PROJECT_NAME, the compose file, then
// the directory name, as docker compose does.
func (a *app) projectName(ctx context.Context) (string, *types.Project, error) {
	p, err := a.load(ctx)
	if err == nil {
		return p.Name, p, nil
	}
	var ce *compose.Error
	noFile := errors.As(err, &ce) && strings.HasPrefix(ce.Msg, "no compose file found")
	if !noFile {
		return "", nil, err
	}
	if a.project != "" {
		return a.project, nil, nil
	}
	if n := a.getenv("COMPOSE_PROJECT_NAME"); n != "" {
		return n, nil, nil
	}
	dir := a.projectDir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	return normalizeName(filepath.Base(dir)), nil, nil
}

var reNameChars = regexp.MustCompile(`[^a-z0-9_-]+`)

func normalizeName(s string) string {
	return strings.TrimLeft(reNameChars.ReplaceAllString(strings.ToLower(s), ""), "_-")
}

// backend opens the selected engine. auto (the default) is native when
// running as root on Linux and the native engine opens its store, docker
// otherwise.
func (a *app) backend(ctx context.Context) (engine.Backend, error) {
	name := a.engineName
	switch name {
	case "", "auto":
		if goruntime.GOOS == "linux" && os.Geteuid() == 0 {
			if b, err := a.nativeBackend(ctx); err == nil {
				return b, nil
			}
		}
		if goruntime.GOOS == "linux" && rootlessWanted() && rootless.Check() == nil {
			return nil, a.runRootless(ctx)
		}
		return a.dockerBackend(ctx)
	case "docker":
		return a.dockerBackend(ctx)
	case swarmEngine:
		return nil, orchestrate.NotSupported(swarmEngine, "this command")
	case "native":
		if rootlessWanted() {
			if err := rootless.Check(); err != nil {
				return nil, err
			}
			return nil, a.runRootless(ctx)
		}
		return a.nativeBackend(ctx)
	}
	return nil, fmt.Errorf("unknown engine %q: use docker, native, swarm or auto", name)
}

func (a *app) dockerBackend(ctx context.Context) (engine.Backend, error) {
	b, err := docker.New(ctx)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return b, nil
}

func (a *app) nativeBackend(ctx context.Context) (*native.Backend, error) {
	o := native.Options{
		Root:   a.getenv("HOIST_ROOT"),
		RunDir: a.getenv("HOIST_RUN_DIR"),
		Logf:   func(format string, args ...any) { fmt.Fprintf(a.stderr, "WARN "+format+"\n", args...) },
		// A test hook; nil unless HOIST_TEST_KILL_AFTER_WRITE is set.
		AfterWrite: a.writeKillHook(),
	}
	// In a rootless project's namespaces (runRootless), its anchor starts
	// the supervisor.
	if sock := a.getenv(rootless.AnchorEnv); sock != "" && userns.Inside() {
		o.SpawnSupervisor = anchor.Spawner(sock)
	}
	// The holder's main thread is in the host's network namespace: new
	// subnets avoid the host's routes, not only the project's.
	if pid := a.getenv(rootless.HolderEnv); pid != "" && userns.Inside() {
		o.HostRoutes = func() ([]netip.Prefix, error) { return netplan.RoutesIn("/proc/" + pid + "/net") }
	}
	return native.New(ctx, o)
}

// inHolder says whether this hoist was run again inside a rootless
// project's holder (runRootless).
func (a *app) inHolder() bool { return a.getenv(rootless.HolderEnv) != "" && userns.Inside() }

// orchestrator opens the engine and a progress renderer.
func (a *app) orchestrator(ctx context.Context) (*orchestrate.Orchestrator, *renderer, error) {
	b, err := a.backend(ctx)
	if err != nil {
		return nil, nil, err
	}
	r := newRenderer(a.stderr, a.progress)
	return &orchestrate.Orchestrator{Backend: b, Parallel: a.parallel, Report: r.event, AfterOp: a.killHook()}, r, nil
}

// services opens the swarm engine for the service-level commands: a
// swarm manager reached as the docker engine reaches its daemon
// (DOCKER_HOST, docker contexts, TLS); a daemon that is no manager is a
// clear error.
func (a *app) services(ctx context.Context) (*orchestrate.Services, error) {
	e, err := swarm.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("swarm engine: %w", err)
	}
	r := newRenderer(a.stderr, a.progress)
	return &orchestrate.Services{Runner: e, Parallel: a.parallel, Report: r.event}, nil
}
