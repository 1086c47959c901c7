package swarm

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/engine"
)

// Task is one task of a project's service, as `hoist ps` shows it.
type Task = engine.ServiceTask

// Tasks lists the tasks of a project's services across every node,
// sorted by service, slot and newest first; tasks that ended are kept
// for their errors, as `docker stack ps` shows them.
func (e *Engine) Tasks(ctx context.Context, project string) ([]Task, error) {
	svcs, err := e.projectServices(ctx, project)
	if err != nil {
		return nil, err
	}
	short := map[string]string{}
	for _, s := range svcs {
		short[s.ID] = strings.TrimPrefix(s.Spec.Name, project+"_")
	}
	if len(svcs) == 0 {
		return nil, nil
	}
	raw, err := e.api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNamespace+"="+project))})
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", project, err)
	}
	nodes, err := e.nodeNames(ctx)
	if err != nil {
		return nil, err
	}
	var out []Task
	for _, t := range raw {
		name, ok := short[t.ServiceID]
		if !ok {
			continue
		}
		out = append(out, toTask(t, name, nodes))
	}
	sortTasks(out)
	return out, nil
}

func toTask(t swarm.Task, service string, nodes map[string]string) Task {
	out := Task{
		ID: t.ID, Service: service, Slot: t.Slot, NodeID: t.NodeID, Node: nodes[t.NodeID],
		State: string(t.Status.State), DesiredState: string(t.DesiredState), Error: t.Status.Err,
		Created: t.Meta.CreatedAt, Updated: t.Status.Timestamp,
	}
	if cs := t.Spec.ContainerSpec; cs != nil {
		out.Image = cs.Image
	}
	if c := t.Status.ContainerStatus; c != nil {
		out.ExitCode, out.ContainerID = c.ExitCode, c.ContainerID
	}
	// Engine 20.10 reports each host-mode port twice (once per address
	// family it bound); a port is listed once.
	for _, p := range t.Status.PortStatus.Ports {
		b := engine.PortBinding{HostPort: uint16(p.PublishedPort), ContainerPort: uint16(p.TargetPort), Protocol: string(p.Protocol)}
		if !slices.Contains(out.Ports, b) {
			out.Ports = append(out.Ports, b)
		}
	}
	return out
}

func sortTasks(ts []Task) {
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.NodeID != b.NodeID && a.Slot == 0 {
			return a.NodeID < b.NodeID
		}
		return a.Updated.After(b.Updated)
	})
}

// nodeNames maps node IDs to hostnames.
func (e *Engine) nodeNames(ctx context.Context) (map[string]string, error) {
	nodes, err := e.api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := make(map[string]string, len(nodes))
	for _, n := range nodes {
		out[n.ID] = n.Description.Hostname
	}
	return out, nil
}
