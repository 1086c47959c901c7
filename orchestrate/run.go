package orchestrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/plan"
)

// RunOptions are `run`'s flags.
type RunOptions struct {
	Cmd          []string
	Entrypoint   []string
	Env          []string
	User         string
	WorkDir      string
	Name         string
	Rm           bool
	NoDeps       bool
	ServicePorts bool
	Detach       bool
	// Volumes (-v) are mounts in docker's short syntax, Publish (-p) port
	// bindings and Labels (-l) KEY=VALUE labels, added to the service's.
	Volumes []string
	Publish []string
	Labels  []string
	// Build (--build) builds the service's image first, even if present.
	Build bool
	// Stdin, when set, is the command's standard input (docker compose
	// run's default -i).
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// TTY gives the command a terminal of size Size, resized by Resize;
	// RawMode, when set, is called just before the container starts
	// attached (the caller's terminal goes raw then, not while images
	// build) and its result once the container is gone.
	TTY     bool
	Size    engine.WinSize
	Resize  <-chan engine.WinSize
	RawMode func() (restore func())
	// SelfContained, when set, runs the container attached in place of
	// the engine's Runner when the run needs nothing but the container:
	// no dependency to start and no image to build or pull. (hoist run's
	// fast path records such a run, where the engine can, to do it again
	// by itself: cmd/hoist/run.go.)
	SelfContained engine.Runner
}

// Run starts a one-off container of a service (after its dependencies,
// unless NoDeps), streams its output and returns its exit code.
func (o *Orchestrator) Run(ctx context.Context, p *types.Project, service string, opts RunOptions) (int, error) {
	s, ok := p.Services[service]
	if !ok {
		return 0, fmt.Errorf("no such service: %q", service)
	}
	// -v, -p and -l are checked before anything is created.
	extra, err := runAdditions(p, opts)
	if err != nil {
		return 0, err
	}
	s.Volumes = append(slices.Clone(s.Volumes), extra.volumes...)
	selfContained := true
	if !opts.NoDeps && len(s.DependsOn) > 0 {
		var deps []string
		for d := range s.DependsOn {
			if _, ok := p.Services[d]; ok {
				deps = append(deps, d)
			}
		}
		if len(deps) > 0 {
			selfContained = false
			if _, err := o.Up(ctx, p, UpOptions{Services: deps}); err != nil {
				return 0, fmt.Errorf("start dependencies of %q: %w", service, err)
			}
		}
	}
	ref := compose.ImageRef(p, s)
	_, err = o.Backend.ImageID(ctx, ref)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return 0, err
	}
	if err != nil || (opts.Build && s.Build != nil) {
		selfContained = false
		one, err := p.WithSelectedServices([]string{service}, types.IgnoreDependencies)
		if err != nil {
			return 0, err
		}
		pl := plan.Images(one, &engine.State{ImageIDs: map[string]string{}}, plan.ImageOptions{Build: opts.Build})
		if err := o.execute(ctx, one, pl, newRunState(&engine.State{}), o.parallel()); err != nil {
			return 0, err
		}
	}
	if err := o.ensureResources(ctx, p, s); err != nil {
		return 0, err
	}
	if opts.Cmd != nil {
		s.Command = opts.Cmd
	}
	if opts.Entrypoint != nil {
		s.Entrypoint = opts.Entrypoint
	}
	if !opts.ServicePorts {
		s.Ports = nil
	}
	s.Ports = append(s.Ports, extra.ports...)
	if len(extra.labels) > 0 {
		labels := types.Labels{}
		maps.Copy(labels, s.Labels)
		maps.Copy(labels, extra.labels)
		s.Labels = labels
	}
	if opts.User != "" {
		s.User = opts.User
	}
	if opts.WorkDir != "" {
		s.WorkingDir = opts.WorkDir
	}
	if len(opts.Env) > 0 {
		env := types.MappingWithEquals{}
		for k, v := range s.Environment {
			env[k] = v
		}
		for k, v := range types.NewMappingWithEquals(opts.Env) {
			env[k] = v
		}
		s.Environment = env
	}
	// A one-off container neither restarts nor counts as a replica.
	s.Restart = ""
	s.ContainerName = ""
	name := opts.Name
	if name == "" {
		name = fmt.Sprintf("%s-%s-run-%s", p.Name, service, randomSuffix())
	}
	spec, err := containerSpec(p, s, 1, name, true)
	if err != nil {
		return 0, err
	}
	// What the engine would silently drop is said here as at up. A run
	// that warns is never made self-contained: the fast path would replay
	// it later without the warning.
	withRun := *p
	withRun.Services = maps.Clone(p.Services)
	withRun.Services[service] = s
	if len(o.warnUnsupported(&withRun, []string{service}, true)) > 0 {
		selfContained = false
	}
	spec.OneOff = true
	runner, ok := o.Backend.(engine.Runner)
	if opts.SelfContained != nil && selfContained {
		runner, ok = opts.SelfContained, true
	}
	if ok && !opts.Detach {
		if opts.TTY && opts.RawMode != nil {
			defer opts.RawMode()()
		}
		attach := engine.RunAttach{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Remove: opts.Rm,
			TTY: opts.TTY, Size: opts.Size, Resize: opts.Resize}
		return runner.RunContainer(ctx, spec, attach)
	}
	id, err := o.Backend.CreateContainer(ctx, spec)
	if err != nil {
		return 0, err
	}
	cleanup := func() {
		if !opts.Rm {
			return
		}
		// The caller's ctx may be cancelled; removal must still happen.
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = o.Backend.RemoveContainer(rctx, id, engine.RemoveOptions{Force: true, Volumes: true})
	}
	if err := o.Backend.StartContainer(ctx, id); err != nil {
		cleanup()
		return 0, err
	}
	if opts.Detach {
		return 0, nil
	}
	defer cleanup()
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- o.Backend.Logs(ctx, id, engine.LogOptions{Follow: true, Tail: "all"}, opts.Stdout, opts.Stderr)
	}()
	c, err := o.Backend.Wait(ctx, id, engine.WaitExited)
	if err != nil {
		return 0, err
	}
	// The log stream ends at exit; wait for it so no output is lost.
	select {
	case <-logsDone:
	case <-time.After(5 * time.Second):
	}
	return c.ExitCode, nil
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ensureResources creates the networks and volumes a service needs; they
// may be missing when run comes before any up.
func (o *Orchestrator) ensureResources(ctx context.Context, p *types.Project, s types.ServiceConfig) error {
	for key := range s.Networks {
		n, ok := p.Networks[key]
		if !ok || bool(n.External) {
			continue
		}
		spec, err := networkSpec(p, n.Name)
		if err != nil {
			return err
		}
		if err := o.Backend.CreateNetwork(ctx, spec); err != nil && !errors.Is(err, engine.ErrConflict) {
			return err
		}
	}
	for _, v := range s.Volumes {
		vol, ok := p.Volumes[v.Source]
		if v.Type != types.VolumeTypeVolume || !ok || bool(vol.External) {
			continue
		}
		spec, err := volumeSpec(p, vol.Name)
		if err != nil {
			return err
		}
		if err := o.Backend.CreateVolume(ctx, spec); err != nil && !errors.Is(err, engine.ErrConflict) {
			return err
		}
	}
	return nil
}

// runExtras are what run's -v, -p and -l add to the service.
type runExtras struct {
	volumes []types.ServiceVolumeConfig
	ports   []types.ServicePortConfig
	labels  types.Labels
}

// runAdditions parses run's -v, -p and -l before anything is created. A
// relative bind source is taken from the current directory, as the shell
// that typed it means; a named volume must be one the project declares.
func runAdditions(p *types.Project, opts RunOptions) (runExtras, error) {
	var x runExtras
	for _, v := range opts.Volumes {
		vol, err := format.ParseVolume(v)
		if err != nil {
			return x, fmt.Errorf("-v %q: %w; use HOST_PATH:CONTAINER_PATH[:ro] or VOLUME:CONTAINER_PATH", v, err)
		}
		switch vol.Type {
		case types.VolumeTypeBind:
			if !filepath.IsAbs(vol.Source) {
				abs, err := filepath.Abs(vol.Source)
				if err != nil {
					return x, fmt.Errorf("-v %q: %w", v, err)
				}
				vol.Source = abs
			}
			if vol.Bind == nil {
				vol.Bind = &types.ServiceVolumeBind{CreateHostPath: true}
			}
		case types.VolumeTypeVolume:
			if _, ok := p.Volumes[vol.Source]; vol.Source != "" && !ok {
				return x, fmt.Errorf("-v %q: volume %q is not declared in the project; declare it under volumes: or give a path (./%s)", v, vol.Source, vol.Source)
			}
		}
		x.volumes = append(x.volumes, vol)
	}
	for _, spec := range opts.Publish {
		ports, err := types.ParsePortConfig(spec)
		if err != nil {
			return x, fmt.Errorf("-p %q: %w; use [IP:]HOST_PORT:CONTAINER_PORT[/PROTOCOL]", spec, err)
		}
		x.ports = append(x.ports, ports...)
	}
	for _, l := range opts.Labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return x, fmt.Errorf("-l %q: use KEY=VALUE", l)
		}
		if x.labels == nil {
			x.labels = types.Labels{}
		}
		x.labels[k] = v
	}
	return x, nil
}
