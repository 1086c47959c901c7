package orchestrate

import (
	"context"
	"fmt"

	"github.com/hoist-dev/hoist/dag"
	"github.com/hoist-dev/hoist/engine"
)

// Event ops of pause and unpause.
const (
	OpPause   = "pause container"
	OpUnpause = "unpause container"
)

// Pause freezes the running containers of services (or all), as docker
// compose pause does: the others are left alone.
func (o *Orchestrator) Pause(ctx context.Context, name string, services []string) error {
	p, err := ability[engine.Pauser](o.Backend, "pause containers")
	if err != nil {
		return err
	}
	return o.eachContainer(ctx, name, services, engine.StateRunning, OpPause, p.Pause)
}

// Unpause thaws the paused containers of services (or all).
func (o *Orchestrator) Unpause(ctx context.Context, name string, services []string) error {
	p, err := ability[engine.Pauser](o.Backend, "unpause containers")
	if err != nil {
		return err
	}
	return o.eachContainer(ctx, name, services, engine.StatePaused, OpUnpause, p.Unpause)
}

// eachContainer runs fn on the project's containers of services in
// state, in parallel, reporting each as op.
func (o *Orchestrator) eachContainer(ctx context.Context, name string, services []string, state, op string, fn func(ctx context.Context, id string) error) error {
	cs, err := o.Containers(ctx, name, services, false)
	if err != nil {
		return err
	}
	var tasks []dag.Task
	for _, c := range cs {
		if c.State != state {
			continue
		}
		tasks = append(tasks, dag.Task{ID: c.Name, Run: func(ctx context.Context) error {
			o.emit(Event{Op: op, Target: c.Name, Status: "started"})
			if err := fn(ctx, c.ID); err != nil {
				o.emit(Event{Op: op, Target: c.Name, Status: "failed", Message: err.Error()})
				return fmt.Errorf("%s %s: %w", op, c.Name, err)
			}
			o.emit(Event{Op: op, Target: c.Name, Status: "done"})
			return nil
		}})
	}
	if len(tasks) == 0 {
		return nil
	}
	return dag.Run(ctx, tasks, dag.Options{Parallel: o.parallel()})
}
