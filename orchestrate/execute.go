package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/dag"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/plan"
)

// defaultStopTimeout is Docker's.
const defaultStopTimeout = 10 * time.Second

// execute runs a plan through the DAG executor, reporting each transition.
func (o *Orchestrator) execute(ctx context.Context, p *types.Project, pl *plan.Plan, st *runState, parallel int) error {
	return o.executeWith(ctx, p, pl, st, parallel, nil)
}

// override handles an op itself when it returns true.
type override func(ctx context.Context, op *plan.Op) (bool, error)

func (o *Orchestrator) executeWith(ctx context.Context, p *types.Project, pl *plan.Plan, st *runState, parallel int, ov override) error {
	ops := pl.Ops()
	byID := map[string]*plan.Op{}
	tasks := make([]dag.Task, 0, len(ops))
	for _, op := range ops {
		op := op
		byID[op.ID()] = op
		tasks = append(tasks, dag.Task{ID: op.ID(), Deps: op.Deps, Run: func(ctx context.Context) error {
			handled, err := false, error(nil)
			if ov != nil {
				handled, err = ov(ctx, op)
			}
			if !handled {
				err = o.runOp(ctx, p, op, st)
			}
			if err == nil && o.AfterOp != nil {
				o.AfterOp()
			}
			return err
		}})
	}
	return dag.Run(ctx, tasks, dag.Options{
		Parallel: parallel,
		Now:      o.Now,
		Notify: func(e dag.Event) {
			op := byID[e.ID]
			ev := Event{Op: string(op.Kind), Target: op.Target, Status: e.Status.String(), Elapsed: e.Elapsed}
			if e.Err != nil {
				ev.Message = e.Err.Error()
			}
			o.emit(ev)
		},
	})
}

func (o *Orchestrator) runOp(ctx context.Context, p *types.Project, op *plan.Op, st *runState) error {
	b := o.Backend
	switch op.Kind {
	case plan.Pull:
		err := b.Pull(ctx, op.Target, o.progress(op))
		if err != nil && op.Reason == "missing" {
			return fmt.Errorf("service %q: image %s is not on the %s engine and pulling it failed: %w; load it (hoist image load or import) or point the service at an image you have", op.Service, op.Target, b.Name(), err)
		}
		return err
	case plan.Build:
		return o.build(ctx, p, op)
	case plan.CreateNetwork:
		spec, err := networkSpec(p, op.Target)
		if err != nil {
			return err
		}
		if err := b.CreateNetwork(ctx, spec); err != nil && !errors.Is(err, engine.ErrConflict) {
			return err
		}
		st.mu.Lock()
		st.networks = append(st.networks, engine.Network{Name: op.Target})
		st.mu.Unlock()
		return nil
	case plan.CreateVolume:
		spec, err := volumeSpec(p, op.Target)
		if err != nil {
			return err
		}
		if err := b.CreateVolume(ctx, spec); err != nil && !errors.Is(err, engine.ErrConflict) {
			return err
		}
		st.mu.Lock()
		st.volumes = append(st.volumes, engine.Volume{Name: op.Target})
		st.mu.Unlock()
		return nil
	case plan.Create:
		s := p.Services[op.Service]
		spec, err := containerSpec(p, s, op.Number, op.Target, false)
		if err != nil {
			return err
		}
		if err := o.labelForRecreate(ctx, p, s, &spec, st); err != nil {
			return err
		}
		id, err := b.CreateContainer(ctx, spec)
		if err != nil {
			return err
		}
		c := engine.Container{ID: id, Name: op.Target, Service: op.Service, Number: op.Number, State: engine.StateRunning, Labels: spec.Config.Labels}
		st.mu.Lock()
		st.ids[op.Target] = id
		st.created = append(st.created, c)
		st.byService[op.Service] = append(st.byService[op.Service], c)
		st.mu.Unlock()
		return nil
	case plan.Start:
		return b.StartContainer(ctx, st.id(op.Target))
	case plan.Stop:
		return b.StopContainer(ctx, st.id(op.Target), stopTimeout(p, op.Service))
	case plan.Remove:
		id := st.id(op.Target)
		err := b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true, Volumes: op.RemoveVolumes})
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return err
		}
		st.forget(op.Service, id)
		return nil
	case plan.WaitRunning, plan.WaitHealthy, plan.WaitCompleted:
		return o.wait(ctx, op, st)
	}
	return fmt.Errorf("%s: %w", op.Kind, engine.ErrNotImplemented)
}

func (o *Orchestrator) wait(ctx context.Context, op *plan.Op, st *runState) error {
	if st.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, st.waitTimeout)
		defer cancel()
	}
	cond := map[plan.Kind]engine.WaitCondition{plan.WaitRunning: engine.WaitRunning, plan.WaitHealthy: engine.WaitHealthy, plan.WaitCompleted: engine.WaitExited}[op.Kind]
	c, err := o.Backend.Wait(ctx, st.id(op.Target), cond)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("service %q: container %s did not become %s within %s", op.Service, op.Target, cond, st.waitTimeout)
		}
		return fmt.Errorf("service %q: %w", op.Service, err)
	}
	if op.Kind == plan.WaitCompleted && c.ExitCode != 0 {
		return fmt.Errorf("service %q: container %s exited with code %d; services that depend on it with condition service_completed_successfully were not started", op.Service, op.Target, c.ExitCode)
	}
	return nil
}

func (o *Orchestrator) progress(op *plan.Op) func(string) {
	return func(msg string) {
		o.emit(Event{Op: string(op.Kind), Target: op.Target, Status: StatusInfo, Message: msg})
	}
}

func (o *Orchestrator) build(ctx context.Context, p *types.Project, op *plan.Op) error {
	builder, ok := o.Backend.(engine.Builder)
	if !ok {
		return fmt.Errorf("service %q: the %s engine cannot build images: %w", op.Service, o.Backend.Name(), engine.ErrNotImplemented)
	}
	s := p.Services[op.Service]
	spec := engine.BuildSpec{
		Tag:          op.Target,
		Service:      op.Service,
		Context:      s.Build.Context,
		Dockerfile:   s.Build.Dockerfile,
		Inline:       s.Build.DockerfileInline,
		Args:         map[string]*string(s.Build.Args),
		Target:       s.Build.Target,
		Labels:       map[string]string(s.Build.Labels),
		NoCache:      s.Build.NoCache,
		Pull:         s.Build.Pull,
		Network:      s.Build.Network,
		Entitlements: s.Build.Entitlements,
	}
	_, err := builder.Build(ctx, spec, o.progress(op))
	if err != nil {
		return fmt.Errorf("build service %q: %w", op.Service, err)
	}
	return nil
}

func stopTimeout(p *types.Project, service string) time.Duration {
	if p != nil {
		if s, ok := p.Services[service]; ok && s.StopGracePeriod != nil {
			return time.Duration(*s.StopGracePeriod)
		}
	}
	return defaultStopTimeout
}

func networkSpec(p *types.Project, name string) (engine.NetworkSpec, error) {
	for key, n := range p.Networks {
		if n.Name != name {
			continue
		}
		spec := engine.NetworkSpec{Name: name, Project: p.Name, Key: key, Driver: n.Driver, Internal: n.Internal, Options: n.DriverOpts, Labels: map[string]string{}}
		for k, v := range n.Labels {
			spec.Labels[k] = v
		}
		spec.Labels[engine.LabelProject] = p.Name
		spec.Labels[engine.LabelNetwork] = key
		spec.Labels[engine.LabelVersion] = composeVersion
		for _, c := range n.Ipam.Config {
			if c != nil && c.Subnet != "" {
				spec.Subnets = append(spec.Subnets, c.Subnet)
			}
		}
		return spec, nil
	}
	return engine.NetworkSpec{}, fmt.Errorf("network %q is not in the project: %w", name, engine.ErrNotFound)
}

func volumeSpec(p *types.Project, name string) (engine.VolumeSpec, error) {
	for key, v := range p.Volumes {
		if v.Name != name {
			continue
		}
		spec := engine.VolumeSpec{Name: name, Project: p.Name, Key: key, Driver: v.Driver, Options: v.DriverOpts, Labels: map[string]string{}}
		for k, val := range v.Labels {
			spec.Labels[k] = val
		}
		spec.Labels[engine.LabelProject] = p.Name
		spec.Labels[engine.LabelVolume] = key
		spec.Labels[engine.LabelVersion] = composeVersion
		return spec, nil
	}
	return engine.VolumeSpec{}, fmt.Errorf("volume %q is not in the project: %w", name, engine.ErrNotFound)
}

// composeVersion is written into com.docker.compose.version so docker
// compose accepts hoist's objects as its own.
const composeVersion = "2.40.0"

// dependsOnLabel encodes depends_on as docker compose does, so `down` can
// order stops without the compose file.
func dependsOnLabel(s types.ServiceConfig) string {
	var parts []string
	for _, name := range sortedKeys(s.DependsOn) {
		d := s.DependsOn[name]
		parts = append(parts, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	return strings.Join(parts, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}
