package swarm

import (
	"context"
	"errors"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// Removed is what Remove took away.
type Removed struct {
	Services, Networks, Configs, Secrets []string
}

// Remove takes a project (a stack) off the swarm: its services, then,
// once their tasks are gone from every node (Swarm removes them
// asynchronously, and a network in use cannot go), its networks, configs
// and secrets. Volumes stay: each node holds its own, which the manager
// cannot remove. When it returns, an immediate deploy of the same
// project starts clean.
func (e *Engine) Remove(ctx context.Context, project string) (Removed, error) {
	var out Removed
	svcs, err := e.projectServices(ctx, project)
	if err != nil {
		return out, err
	}
	var errs []error
	for _, s := range svcs {
		if err := e.api.ServiceRemove(ctx, s.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
			continue
		}
		out.Services = append(out.Services, s.Spec.Name)
	}
	if err := e.waitTasksGone(ctx, project); err != nil {
		return out, errors.Join(append(errs, err)...)
	}
	f := filters.NewArgs(filters.Arg("label", LabelNamespace+"="+project))
	nets, err := e.api.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return out, errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range nets {
		if err := e.removeNetwork(ctx, n.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		out.Networks = append(out.Networks, n.Name)
	}
	have, err := e.objectIDs(ctx, project)
	if err != nil {
		return out, errors.Join(append(errs, err)...)
	}
	for kn, id := range have {
		kind, name := splitKind(kn)
		if kind == "secret" {
			err = e.api.SecretRemove(ctx, id)
		} else {
			err = e.api.ConfigRemove(ctx, id)
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s %s: %w", kind, name, err))
			continue
		}
		if kind == "secret" {
			out.Secrets = append(out.Secrets, name)
		} else {
			out.Configs = append(out.Configs, name)
		}
	}
	return out, errors.Join(errs...)
}

// waitTasksGone waits until no task of the project is left: the manager
// forgets a task of a removed service once its node reports the
// container gone. (A removed service's ID no longer filters tasks; the
// stack label, which tasks carry, does, as docker stack rm uses it.) A
// task on a node that is down stays until the node is removed or comes
// back; it does not hold the wait.
func (e *Engine) waitTasksGone(ctx context.Context, project string) error {
	f := filters.NewArgs(filters.Arg("label", LabelNamespace+"="+project))
	for {
		tasks, err := e.api.TaskList(ctx, swarm.TaskListOptions{Filters: f})
		if err != nil {
			return fmt.Errorf("list tasks: %w", err)
		}
		down, err := e.downNodes(ctx)
		if err != nil {
			return err
		}
		left := 0
		for _, t := range tasks {
			if !down[t.NodeID] {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d tasks still on their nodes: %w", left, ctx.Err())
		case <-time.After(e.poll()):
		}
	}
}

// downNodes is the set of nodes the manager sees down.
func (e *Engine) downNodes(ctx context.Context) (map[string]bool, error) {
	nodes, err := e.api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := map[string]bool{}
	for _, n := range nodes {
		if n.Status.State != swarm.NodeStateReady {
			out[n.ID] = true
		}
	}
	return out, nil
}

// removeNetwork retries while endpoints linger: a network's last task
// leaves its nodes a little after the manager forgot it.
func (e *Engine) removeNetwork(ctx context.Context, id string) error {
	for i := 0; ; i++ {
		err := e.api.NetworkRemove(ctx, id)
		if err == nil || cerrdefs.IsNotFound(err) {
			return nil
		}
		if i >= 50 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(e.poll()):
		}
	}
}
