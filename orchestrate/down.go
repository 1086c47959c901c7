package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/dag"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/plan"
)

// DownOptions are `down`'s flags.
type DownOptions struct {
	Volumes       bool
	RemoveOrphans bool
	Rmi           string // "", "local" or "all"
	Timeout       *time.Duration
	DryRun        bool
	KillCtx       context.Context
}

// Down removes the project's containers, networks and (with Volumes) named
// volumes. p may be nil: everything is found by label.
func (o *Orchestrator) Down(ctx context.Context, name string, p *types.Project, opts DownOptions) (*plan.Plan, error) {
	observed, err := o.Backend.Observe(ctx, name, serviceImages(name, p, opts.Rmi))
	if err != nil {
		return nil, fmt.Errorf("observe project %q: %w", name, err)
	}
	var filter map[string]bool
	if p != nil && !opts.RemoveOrphans {
		filter = map[string]bool{}
		for n := range p.Services {
			filter[n] = true
		}
		for n := range p.DisabledServices {
			filter[n] = true
		}
		var orphans []string
		for _, c := range observed.Containers {
			if !filter[c.Service] && !c.OneOff {
				orphans = append(orphans, c.Name)
			}
			if c.OneOff {
				filter[c.Service] = true
			}
		}
		if len(orphans) > 0 {
			sort.Strings(orphans)
			o.warn(fmt.Sprintf("found orphan containers (%s) for this project; remove them with --remove-orphans", strings.Join(orphans, ", ")))
		} else {
			filter = nil
		}
	}
	pl := plan.Down(observed, plan.DownOptions{Services: filter, Volumes: opts.Volumes, Images: rmiRefs(name, observed, opts.Rmi)})
	for _, w := range pl.Warnings {
		o.warn(w)
	}
	if opts.DryRun {
		return pl, nil
	}
	st := newRunState(observed)
	if err := o.runDown(ctx, p, pl, st, opts.Timeout, opts.KillCtx); err != nil {
		return pl, err
	}
	// Provider services, once the containers that depend on them are gone
	// (without the compose file, hoist does not know of them).
	if p != nil {
		if _, providers := withoutProviders(p); len(providers) > 0 {
			if err := o.downProviders(ctx, p, providers); err != nil {
				return pl, err
			}
		}
	}
	// What an interrupted or failed teardown left (a supervisor, network
	// state) goes too, even when there was nothing else to remove.
	if t, ok := o.Backend.(engine.ProjectTearer); ok && filter == nil {
		if err := t.TeardownProject(ctx, name); err != nil {
			return pl, fmt.Errorf("tear down project %q: %w", name, err)
		}
	}
	return pl, nil
}

// runDown executes a removal plan; once killCtx ends, stops become kills.
func (o *Orchestrator) runDown(ctx context.Context, p *types.Project, pl *plan.Plan, st *runState, timeout *time.Duration, killCtx context.Context) error {
	if killCtx == nil {
		killCtx = context.Background()
	}
	d := &downer{o: o, p: p, st: st, timeout: timeout, killCtx: killCtx}
	return d.execute(ctx, pl)
}

type downer struct {
	o       *Orchestrator
	p       *types.Project
	st      *runState
	timeout *time.Duration
	killCtx context.Context
}

func (d *downer) execute(ctx context.Context, pl *plan.Plan) error {
	parallel := d.o.removalParallel()
	orig := d.o.Backend
	removed := map[string]bool{}
	for _, op := range pl.Ops() {
		if op.Kind == plan.Remove {
			removed[op.Target] = true
		}
	}
	// Stops and removals need the grace period and retries; everything else
	// is the shared op runner.
	return d.o.executeWith(ctx, d.p, pl, d.st, parallel, func(ctx context.Context, op *plan.Op) (bool, error) {
		switch op.Kind {
		case plan.Stop:
			t := stopTimeout(d.p, op.Service)
			if d.timeout != nil {
				t = *d.timeout
			}
			return true, d.stop(ctx, d.st.id(op.Target), t, removed[op.Target])
		case plan.RemoveNetwork:
			return true, d.removeNetwork(ctx, op.Target)
		case plan.RemoveVolume:
			err := orig.RemoveVolume(ctx, op.Target)
			if errors.Is(err, engine.ErrNotFound) {
				err = nil
			}
			return true, err
		case plan.RemoveImage:
			rm, ok := orig.(engine.ImageRemover)
			if !ok {
				return true, fmt.Errorf("the %s engine cannot remove images: %w", orig.Name(), engine.ErrNotImplemented)
			}
			err := rm.RemoveImage(ctx, op.Target, false)
			if errors.Is(err, engine.ErrNotFound) {
				err = nil
			}
			return true, err
		}
		return false, nil
	})
}

// stop stops gracefully unless the user insists (killCtx ends), which
// interrupts a stop already waiting out its grace period and kills.
func (d *downer) stop(ctx context.Context, id string, grace time.Duration, removing bool) error {
	b := d.o.Backend
	stopContainer := b.StopContainer
	if ps, ok := b.(engine.ProcessStopper); ok && removing {
		stopContainer = ps.StopProcesses
	}
	if d.killCtx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		unhook := context.AfterFunc(d.killCtx, cancel)
		err := stopContainer(sctx, id, grace)
		unhook()
		cancel()
		if d.killCtx.Err() == nil || err == nil {
			if errors.Is(err, engine.ErrNotFound) {
				return nil
			}
			return err
		}
	}
	err := stopContainer(ctx, id, 0)
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	return err
}

// removeNetwork retries for a while: right after its last container goes,
// Engine 20.10 may still count an endpoint (moby#42119). On a loaded machine
// that lasted more than the 3 s the first version of this loop allowed (seen
// in the bench with two cores busy), so the budget is time, not attempts.
func (d *downer) removeNetwork(ctx context.Context, name string) error {
	const budget = 15 * time.Second
	deadline := time.Now().Add(budget)
	backoff := 50 * time.Millisecond
	for {
		err := d.o.Backend.RemoveNetwork(ctx, name)
		if err == nil || errors.Is(err, engine.ErrNotFound) {
			return nil
		}
		if time.Now().After(deadline) || !errors.Is(err, engine.ErrConflict) && !strings.Contains(err.Error(), "active endpoints") {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// rollback removes what a failed up created, in reverse dependency order.
func (o *Orchestrator) rollback(killCtx context.Context, p *types.Project, st *runState) error {
	st.mu.Lock()
	state := &engine.State{Containers: append([]engine.Container(nil), st.created...), Networks: st.networks, Volumes: st.volumes}
	st.mu.Unlock()
	if len(state.Containers)+len(state.Networks)+len(state.Volumes) == 0 {
		return nil
	}
	o.emit(Event{Status: StatusInfo, Message: "rolling back what this up created"})
	pl := plan.Down(state, plan.DownOptions{Volumes: true})
	// A fresh context: the caller's is usually the one that was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return o.runDown(ctx, p, pl, st, nil, killCtx)
}

func rmiRefs(project string, st *engine.State, mode string) []string {
	if mode == "" {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	// The services' images the engine has, as docker compose removes them
	// from the model too: a down after the containers went (a down that
	// was killed, rm) still removes them.
	for ref := range st.ImageIDs {
		seen[ref] = true
		out = append(out, ref)
	}
	for _, c := range st.Containers {
		ref := c.Image
		if ref == "" || seen[ref] {
			continue
		}
		if mode == "local" && ref != project+"-"+c.Service {
			continue
		}
		seen[ref] = true
		out = append(out, ref)
	}
	sort.Strings(out)
	return out
}

// serviceImages are the images of p's services that down --rmi mode
// removes: with local, those built for the project under its default
// name; with all, every service's image.
func serviceImages(project string, p *types.Project, mode string) []string {
	if p == nil || mode == "" {
		return nil
	}
	var out []string
	for _, s := range p.Services {
		switch {
		case s.Image == "" && s.Build != nil:
			out = append(out, project+"-"+s.Name)
		case mode == "all" && s.Image != "":
			out = append(out, s.Image)
		}
	}
	sort.Strings(out)
	return out
}

// Stop stops running containers (of services, or all) in reverse dependency
// order; once killCtx ends the stops become kills.
func (o *Orchestrator) Stop(ctx context.Context, name string, p *types.Project, services []string, timeout *time.Duration, killCtx context.Context) error {
	observed, err := o.Backend.Observe(ctx, name, nil)
	if err != nil {
		return fmt.Errorf("observe project %q: %w", name, err)
	}
	var filter map[string]bool
	if len(services) > 0 {
		filter = map[string]bool{}
		for _, s := range services {
			filter[s] = true
		}
	}
	pl := plan.Down(observed, plan.DownOptions{Services: filter, StopOnly: true})
	return o.runDown(ctx, p, pl, newRunState(observed), timeout, killCtx)
}

// RmOptions are rm's flags.
type RmOptions struct {
	Stop    bool           // -s: stop the running ones first
	Volumes bool           // -v: remove their anonymous volumes
	Timeout *time.Duration // the stop timeout; nil: the service's own
	KillCtx context.Context
}

// Removable lists what Remove would remove: the stopped containers of
// services (or all), one-off ones included, and with Stop the running ones
// too.
func (o *Orchestrator) Removable(ctx context.Context, name string, services []string, stop bool) ([]engine.Container, error) {
	cs, err := o.Containers(ctx, name, services, true)
	if err != nil {
		return nil, err
	}
	var out []engine.Container
	for _, c := range cs {
		if stop || !c.Active() {
			out = append(out, c)
		}
	}
	return out, nil
}

// Remove removes the containers Removable lists, stopping them first with
// Stop (in dependency order), as docker compose rm does. Removals run
// in parallel, as many at once as the engine takes.
func (o *Orchestrator) Remove(ctx context.Context, name string, p *types.Project, services []string, opts RmOptions) error {
	if opts.Stop {
		if err := o.Stop(ctx, name, p, services, opts.Timeout, opts.KillCtx); err != nil {
			return err
		}
	}
	cs, err := o.Removable(ctx, name, services, false)
	if err != nil {
		return err
	}
	var tasks []dag.Task
	for _, c := range cs {
		tasks = append(tasks, dag.Task{ID: c.Name, Run: func(ctx context.Context) error {
			o.emit(Event{Op: string(plan.Remove), Target: c.Name, Status: "started"})
			err := o.Backend.RemoveContainer(ctx, c.ID, engine.RemoveOptions{Volumes: opts.Volumes})
			if errors.Is(err, engine.ErrNotFound) {
				err = nil
			}
			if err != nil {
				return fmt.Errorf("remove %s: %w", c.Name, err)
			}
			o.emit(Event{Op: string(plan.Remove), Target: c.Name, Status: "done"})
			return nil
		}})
	}
	return dag.Run(ctx, tasks, dag.Options{Parallel: o.removalParallel()})
}

// Start starts the project's stopped containers (of services, or all) in
// dependency order: the reverse of the stop order.
func (o *Orchestrator) Start(ctx context.Context, name string, services []string) error {
	cs, err := o.Containers(ctx, name, services, false)
	if err != nil {
		return err
	}
	// Dependencies first: a container waits for those its labels name.
	byService := map[string][]engine.Container{}
	for _, c := range cs {
		byService[c.Service] = append(byService[c.Service], c)
	}
	var tasks []dag.Task
	for _, c := range cs {
		if c.State == engine.StateRunning {
			continue
		}
		c := c
		var deps []string
		for _, entry := range strings.Split(c.Labels[engine.LabelDependsOn], ",") {
			dep, _, _ := strings.Cut(entry, ":")
			for _, d := range byService[dep] {
				if d.State != engine.StateRunning {
					deps = append(deps, d.Name)
				}
			}
		}
		tasks = append(tasks, dag.Task{ID: c.Name, Deps: deps, Run: func(ctx context.Context) error {
			o.emit(Event{Op: string(plan.Start), Target: c.Name, Status: "started"})
			err := o.Backend.StartContainer(ctx, c.ID)
			if err == nil {
				o.emit(Event{Op: string(plan.Start), Target: c.Name, Status: "done"})
			}
			return err
		}})
	}
	return dag.Run(ctx, tasks, dag.Options{Parallel: o.parallel()})
}

// Kill sends signal to the running containers of services (or all).
func (o *Orchestrator) Kill(ctx context.Context, name string, services []string, signal string) error {
	k, ok := o.Backend.(engine.Killer)
	if !ok {
		return fmt.Errorf("the %s engine cannot send signals: %w", o.Backend.Name(), engine.ErrNotImplemented)
	}
	cs, err := o.Containers(ctx, name, services, false)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if c.State == engine.StateRunning {
			if err := k.Kill(ctx, c.ID, signal); err != nil {
				errs = append(errs, fmt.Errorf("kill %s: %w", c.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
