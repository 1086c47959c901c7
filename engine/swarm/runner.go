package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// This file is the engine.ServiceRunner the orchestrator drives: each
// method is one of the primitives above under the contract's name.

var _ engine.ServiceRunner = (*Engine)(nil)

// CheckServices is Unsupported for each service, then Preflight.
func (e *Engine) CheckServices(ctx context.Context, project string, services []engine.ServiceSpec) ([]engine.ServiceProblem, error) {
	var out []engine.ServiceProblem
	for _, s := range services {
		out = append(out, Unsupported(s, e.apiVersion)...)
	}
	pre, err := e.Preflight(ctx, project, services)
	if err != nil {
		return out, err
	}
	return append(out, pre...), nil
}

// PrepareNetwork is EnsureNetwork, or CheckExternalNetwork for an
// external network.
func (e *Engine) PrepareNetwork(ctx context.Context, spec engine.NetworkSpec, external bool) error {
	if external {
		return e.CheckExternalNetwork(ctx, spec.Name)
	}
	_, err := e.EnsureNetwork(ctx, spec)
	return err
}

// PinImage builds and pushes a service's image as policy says
// (BuildAndPush) and pins it; without a build it asks the registry for
// the digest of the image already pushed, which a redeploy of an
// unchanged project needs only (one request, no build).
func (e *Engine) PinImage(ctx context.Context, s engine.ServiceSpec, policy engine.BuildPolicy, progress func(string)) (string, error) {
	if s.Build == nil {
		return s.Config.Image, nil
	}
	if policy != engine.BuildAlways {
		pinned, err := e.registryDigest(ctx, s.Config.Image)
		switch {
		case err == nil:
			return pinned, nil
		case policy == engine.BuildNever:
			return "", nil
		}
	}
	return e.BuildAndPush(ctx, s, progress)
}

// registryDigest is ref pinned by the digest its registry holds.
func (e *Engine) registryDigest(ctx context.Context, ref string) (string, error) {
	if why := unpushable(ref); why != "" {
		return "", errors.New(why)
	}
	_, auth, err := e.registryAuth(ctx, ref)
	if err != nil {
		return "", err
	}
	d, err := e.api.DistributionInspect(ctx, ref, auth)
	if err != nil {
		return "", err
	}
	return pin(ref, d.Descriptor.Digest.String())
}

// ApplyService is Apply, or Plan when dry.
func (e *Engine) ApplyService(ctx context.Context, s engine.ServiceSpec, dryRun bool) (engine.ServiceChange, error) {
	var ch Change
	var err error
	if dryRun {
		ch, err = e.Plan(ctx, s)
	} else {
		var a Applied
		a, err = e.Apply(ctx, s)
		ch = a.Change
	}
	return engine.ServiceChange{Service: s.Name, Change: string(ch)}, err
}

// Plan says what Apply would do to s, creating nothing: a config or
// secret whose content changed is a new object, so the spec refers to
// an object that does not exist yet and differs.
func (e *Engine) Plan(ctx context.Context, s Service) (Change, error) {
	have, err := e.objectIDs(ctx, s.Project)
	if err != nil {
		return "", err
	}
	var ferr error
	objects := func(kind string, ref runspec.ObjectRef) (string, string, bool) {
		o, err := objectFor(s.Project, kind, ref)
		if err != nil {
			ferr = err
			return "", "", false
		}
		return o.name, have[kind+"/"+o.name], true
	}
	spec, err := toServiceSpec(s, objects, e.apiVersion)
	if ferr != nil {
		return "", ferr
	}
	if err != nil {
		return "", fmt.Errorf("service %s: %w", s.Name, err)
	}
	cur, found, err := e.inspectService(ctx, spec.Name)
	switch {
	case err != nil:
		return "", err
	case !found:
		return Created, nil
	case cur.Spec.Labels[LabelSpecHash] == spec.Labels[LabelSpecHash]:
		return Unchanged, nil
	}
	return Updated, nil
}

// WaitService is Wait.
func (e *Engine) WaitService(ctx context.Context, project, service string, progress func(engine.ServiceProgress)) error {
	return e.Wait(ctx, project, service, WaitOptions{Progress: progress})
}

// ServiceTasks is Tasks.
func (e *Engine) ServiceTasks(ctx context.Context, project string) ([]engine.ServiceTask, error) {
	return e.Tasks(ctx, project)
}

// ServiceLogs is Logs.
func (e *Engine) ServiceLogs(ctx context.Context, project string, services []string, opts engine.LogOptions, stdout, stderr io.Writer) error {
	return e.Logs(ctx, project, services, opts, stdout, stderr)
}

// UpdateService is Scale, then Restart, as u asks.
func (e *Engine) UpdateService(ctx context.Context, project, service string, u engine.ServiceUpdate) error {
	if u.Replicas != nil {
		if err := e.Scale(ctx, project, service, *u.Replicas); err != nil {
			return err
		}
	}
	if u.Restart {
		return e.Restart(ctx, project, service)
	}
	return nil
}

// RemoveProject is Remove.
func (e *Engine) RemoveProject(ctx context.Context, project string, volumes []string) (engine.ServiceRemoval, error) {
	r, err := e.Remove(ctx, project, volumes)
	return engine.ServiceRemoval(r), err
}

// ServiceProjects lists the stacks on the swarm, hoist's and docker
// stack's alike, with their running and desired task counts.
func (e *Engine) ServiceProjects(ctx context.Context) ([]engine.ProjectSummary, error) {
	svcs, err := e.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNamespace)), Status: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("list services: %w", err)
	}
	by := map[string]*engine.ProjectSummary{}
	for _, s := range svcs {
		ns := s.Spec.Labels[LabelNamespace]
		if ns == "" {
			continue
		}
		p := by[ns]
		if p == nil {
			p = &engine.ProjectSummary{Name: ns}
			by[ns] = p
		}
		if st := s.ServiceStatus; st != nil {
			p.Running += int(st.RunningTasks)
			p.Total += int(st.DesiredTasks)
		}
	}
	out := make([]engine.ProjectSummary, 0, len(by))
	for _, p := range by {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Name, out[j].Name) < 0 })
	return out, nil
}
