package swarm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// Removed is what Remove took away.
type Removed struct {
	Services, Networks, Configs, Secrets []string
	// Volumes were removed from the manager's node.
	Volumes []string
	// VolumesLeft are the volumes other nodes hold, by name, with those
	// nodes' hostnames: the manager's API reaches only its own node's.
	VolumesLeft map[string][]string
}

// Remove takes a project (a stack) off the swarm: its services, then,
// once their tasks are gone from every node (Swarm removes them
// asynchronously, and a network in use cannot go), its networks, configs
// and secrets. Each node holds its own copy of a named volume: of the
// volumes named, the manager's node's copies are removed, and the nodes
// holding the others (those that ran a task mounting one) are named.
// When it returns, an immediate deploy of the same project starts clean.
func (e *Engine) Remove(ctx context.Context, project string, volumes []string) (Removed, error) {
	var out Removed
	svcs, err := e.projectServices(ctx, project)
	if err != nil {
		return out, err
	}
	// Which nodes hold a volume is known from the tasks that mounted
	// it, which go with their services.
	holders, err := e.volumeNodes(ctx, project, volumes)
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
	if len(volumes) > 0 {
		if err := e.removeVolumes(ctx, volumes, holders, &out); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// volumeNodes maps each of volumes to the IDs of the nodes where a task
// of the project mounted it (the manager keeps a few ended tasks per
// slot, which count too).
func (e *Engine) volumeNodes(ctx context.Context, project string, volumes []string) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	if len(volumes) == 0 {
		return out, nil
	}
	tasks, err := e.api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNamespace+"="+project))})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	for _, t := range tasks {
		if t.Spec.ContainerSpec == nil || t.NodeID == "" {
			continue
		}
		for _, m := range t.Spec.ContainerSpec.Mounts {
			if m.Type != mount.TypeVolume || !slices.Contains(volumes, m.Source) {
				continue
			}
			if out[m.Source] == nil {
				out[m.Source] = map[string]bool{}
			}
			out[m.Source][t.NodeID] = true
		}
	}
	return out, nil
}

// removeVolumes removes the volumes from the manager's node and records
// in out.VolumesLeft the other nodes that hold them.
func (e *Engine) removeVolumes(ctx context.Context, volumes []string, holders map[string]map[string]bool, out *Removed) error {
	info, err := e.api.Info(ctx)
	if err != nil {
		return fmt.Errorf("docker info: %w", err)
	}
	names, err := e.nodeNames(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range slices.Sorted(slices.Values(volumes)) {
		switch err := e.removeVolume(ctx, v); {
		case err == nil:
			out.Volumes = append(out.Volumes, v)
		case !cerrdefs.IsNotFound(err):
			errs = append(errs, fmt.Errorf("remove volume %s on %s: %w", v, names[info.Swarm.NodeID], err))
		}
		var left []string
		for id := range holders[v] {
			if id == info.Swarm.NodeID {
				continue
			}
			host := names[id]
			if host == "" {
				host = id // a node removed from the swarm since
			}
			left = append(left, host)
		}
		if len(left) > 0 {
			sort.Strings(left)
			if out.VolumesLeft == nil {
				out.VolumesLeft = map[string][]string{}
			}
			out.VolumesLeft[v] = left
		}
	}
	return errors.Join(errs...)
}

// removeVolume retries while the volume is in use: the node removes a
// task's container a little after the manager forgot the task.
func (e *Engine) removeVolume(ctx context.Context, name string) error {
	for i := 0; ; i++ {
		err := e.api.VolumeRemove(ctx, name, false)
		if err == nil || !cerrdefs.IsConflict(err) || i >= 50 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(e.poll()):
		}
	}
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
