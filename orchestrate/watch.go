package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/watch"
)

// WatchController carries out develop.watch actions on the project's
// running containers, through whatever engine the orchestrator drives.
type WatchController struct {
	o       *Orchestrator
	p       *types.Project
	killCtx context.Context
}

var _ watch.Controller = (*WatchController)(nil)

// WatchController returns the controller `hoist watch` runs with.
func (o *Orchestrator) WatchController(p *types.Project, killCtx context.Context) *WatchController {
	if killCtx == nil {
		killCtx = context.Background()
	}
	return &WatchController{o: o, p: p, killCtx: killCtx}
}

func (w *WatchController) running(ctx context.Context, service string) ([]engine.Container, error) {
	cs, err := w.o.Containers(ctx, w.p.Name, []string{service}, false)
	if err != nil {
		return nil, err
	}
	var out []engine.Container
	for _, c := range cs {
		if c.State == engine.StateRunning {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("service %q has no running container to update: start it with hoist up", service)
	}
	return out, nil
}

// Sync writes the changed files into every running container of service.
func (w *WatchController) Sync(ctx context.Context, service string, changes []watch.Change) error {
	syncer, ok := w.o.Backend.(engine.Syncer)
	if !ok {
		return fmt.Errorf("the %s engine cannot sync files: %w", w.o.Backend.Name(), engine.ErrNotImplemented)
	}
	cs, err := w.running(ctx, service)
	if err != nil {
		return err
	}
	out := make([]engine.SyncChange, len(changes))
	for i, c := range changes {
		out[i] = engine.SyncChange{HostPath: c.HostPath, ContainerPath: c.ContainerPath, Root: c.Target, Deleted: c.Deleted}
	}
	var errs []error
	for _, c := range cs {
		if err := syncer.Sync(ctx, c.ID, out); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Rebuild builds the service's image and recreates its containers when the
// image changed.
func (w *WatchController) Rebuild(ctx context.Context, service string) error {
	if err := w.o.Build(ctx, w.p, []string{service}, BuildOptions{}); err != nil {
		return err
	}
	_, err := w.o.Up(ctx, w.p, UpOptions{Services: []string{service}, NoDeps: true, KillCtx: w.killCtx})
	return err
}

// Restart stops and starts the service's containers.
func (w *WatchController) Restart(ctx context.Context, service string) error {
	if err := w.o.Stop(ctx, w.p.Name, w.p, []string{service}, nil, w.killCtx); err != nil {
		return err
	}
	return w.o.Start(ctx, w.p.Name, []string{service})
}

// Exec runs a sync+exec rule's command in each running container.
func (w *WatchController) Exec(ctx context.Context, service string, cmd watch.ExecCommand) error {
	ex, ok := w.o.Backend.(engine.Execer)
	if !ok {
		return fmt.Errorf("the %s engine cannot exec: %w", w.o.Backend.Name(), engine.ErrNotImplemented)
	}
	cs, err := w.running(ctx, service)
	if err != nil {
		return err
	}
	env := make([]string, 0, len(cmd.Environment))
	for k, v := range cmd.Environment {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	for _, c := range cs {
		code, err := ex.Exec(ctx, c.ID, engine.ExecSpec{Cmd: cmd.Command, User: cmd.User, WorkDir: cmd.WorkingDir, Env: env, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		if code != 0 {
			return fmt.Errorf("%s: %v exited with code %d", c.Name, cmd.Command, code)
		}
	}
	return nil
}
