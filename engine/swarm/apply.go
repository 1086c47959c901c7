package swarm

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/engine"
)

// Change is what Apply did to a service.
type Change string

// Changes.
const (
	Created   Change = "created"
	Updated   Change = "updated"
	Unchanged Change = "unchanged"
)

// Applied is the outcome of Apply.
type Applied struct {
	ID     string
	Name   string
	Change Change
	// Warnings are the daemon's (an image it could not resolve, ...).
	Warnings []string
}

// Apply makes the swarm run s: it creates its configs and secrets that
// are missing, then creates the service, or updates it when its spec's
// hash differs from the one it carries. A service whose spec did not
// change gets no request at all, so its version stays and no task is
// touched. It returns once Swarm accepted the change; Wait follows it.
func (e *Engine) Apply(ctx context.Context, s Service) (Applied, error) {
	objects, err := e.EnsureObjects(ctx, s)
	if err != nil {
		return Applied{}, err
	}
	spec, err := toServiceSpec(s, objects, e.apiVersion)
	if err != nil {
		return Applied{}, fmt.Errorf("service %s: %w", s.Name, err)
	}
	// The credentials travel with every create and update (the nodes
	// pull with what the manager stored); an unchanged service needs
	// none, and a credential helper is not run for it.
	auth := func() (string, error) {
		_, a, err := e.registryAuth(ctx, spec.TaskTemplate.ContainerSpec.Image)
		if err != nil {
			return "", fmt.Errorf("service %s: %w", s.Name, err)
		}
		return a, nil
	}
	out := Applied{Name: spec.Name}
	for attempt := 0; ; attempt++ {
		cur, found, err := e.inspectService(ctx, spec.Name)
		if err != nil {
			return Applied{}, err
		}
		if !found {
			a, err := auth()
			if err != nil {
				return Applied{}, err
			}
			r, err := e.api.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{EncodedRegistryAuth: a})
			if err != nil {
				return Applied{}, fmt.Errorf("create service %s: %w", spec.Name, err)
			}
			out.ID, out.Change, out.Warnings = r.ID, Created, r.Warnings
			return out, nil
		}
		out.ID = cur.ID
		if ns := cur.Spec.Labels[LabelNamespace]; ns != s.Project {
			return Applied{}, fmt.Errorf("service %s belongs to stack %q, not %q: %w", spec.Name, ns, s.Project, engine.ErrConflict)
		}
		if cur.Spec.Labels[LabelSpecHash] == spec.Labels[LabelSpecHash] {
			out.Change = Unchanged
			return out, nil
		}
		// A restart (force update) is not a change of the compose file:
		// keep its counter, as docker stack does.
		spec.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate
		a, err := auth()
		if err != nil {
			return Applied{}, err
		}
		r, err := e.api.ServiceUpdate(ctx, cur.ID, cur.Version, spec, swarm.ServiceUpdateOptions{EncodedRegistryAuth: a})
		if err != nil {
			// "update out of sequence": someone changed it meanwhile;
			// read it again once.
			if attempt == 0 && isOutOfSequence(err) {
				continue
			}
			return Applied{}, fmt.Errorf("update service %s: %w", spec.Name, err)
		}
		out.Change, out.Warnings = Updated, r.Warnings
		return out, nil
	}
}

func isOutOfSequence(err error) bool {
	return err != nil && strings.Contains(err.Error(), "out of sequence")
}

// inspectService finds a service by exact name.
func (e *Engine) inspectService(ctx context.Context, name string) (swarm.Service, bool, error) {
	svcs, err := e.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return swarm.Service{}, false, fmt.Errorf("list services: %w", err)
	}
	for _, s := range svcs {
		if s.Spec.Name == name {
			return s, true, nil
		}
	}
	return swarm.Service{}, false, nil
}

// projectServices lists the services of a stack, with their task counts.
func (e *Engine) projectServices(ctx context.Context, project string) ([]swarm.Service, error) {
	svcs, err := e.api.ServiceList(ctx, swarm.ServiceListOptions{
		Filters: filters.NewArgs(filters.Arg("label", LabelNamespace+"="+project)), Status: true,
	})
	if err != nil {
		return nil, fmt.Errorf("list services of %s: %w", project, err)
	}
	return svcs, nil
}

// Scale sets the replicas of a replicated service (or the completions of
// a replicated job). Its spec hash is left as it was: the next deploy of
// an unchanged compose file does not undo the scale.
func (e *Engine) Scale(ctx context.Context, project, service string, replicas uint64) error {
	return e.updateSpec(ctx, Scope(project, service), func(spec *swarm.ServiceSpec) error {
		switch m := &spec.Mode; {
		case m.Replicated != nil:
			m.Replicated.Replicas = &replicas
		case m.ReplicatedJob != nil:
			m.ReplicatedJob.TotalCompletions = &replicas
			m.ReplicatedJob.MaxConcurrent = &replicas
		default:
			return fmt.Errorf("service %s is global: it runs one task per node", service)
		}
		return nil
	})
}

// Restart replaces every task of a service (a forced update), as
// `docker service update --force` does. The task hash moves with it:
// Wait tells the new tasks from the old by that label, and without the
// change it would count the old tasks, still running before the update
// starts, as converged. The service's spec hash stays, so a redeploy of
// the same file remains a no-op.
func (e *Engine) Restart(ctx context.Context, project, service string) error {
	return e.updateSpec(ctx, Scope(project, service), func(spec *swarm.ServiceSpec) error {
		spec.TaskTemplate.ForceUpdate++
		if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
			labels := maps.Clone(cs.Labels)
			if labels == nil {
				labels = map[string]string{}
			}
			labels[LabelTaskHash] = hashJSON(spec.TaskTemplate)
			cs.Labels = labels
		}
		return nil
	})
}

func (e *Engine) updateSpec(ctx context.Context, name string, change func(*swarm.ServiceSpec) error) error {
	cur, found, err := e.inspectService(ctx, name)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("service %s: %w", name, engine.ErrNotFound)
	}
	spec := cur.Spec
	if err := change(&spec); err != nil {
		return err
	}
	// A restart pulls again: with the credentials the config holds now
	// (none keeps those the service has).
	var auth string
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
		if _, auth, err = e.registryAuth(ctx, cs.Image); err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
	}
	if _, err := e.api.ServiceUpdate(ctx, cur.ID, cur.Version, spec, swarm.ServiceUpdateOptions{EncodedRegistryAuth: auth}); err != nil {
		return fmt.Errorf("update service %s: %w", name, err)
	}
	return nil
}
