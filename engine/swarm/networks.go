package swarm

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/hoist-dev/hoist/engine"
)

// networkCreate is how a compose network is made in the swarm: an
// overlay network (docker stack's default driver), attachable so that
// one-off containers (`docker run --network`, later hoist run) can join
// it, with the stack's label. Another driver is refused: a local network
// (bridge) cannot carry a service's tasks on several nodes.
func networkCreate(spec engine.NetworkSpec) (network.CreateOptions, error) {
	driver := spec.Driver
	if driver == "" {
		driver = "overlay"
	}
	if driver != "overlay" {
		return network.CreateOptions{}, fmt.Errorf("network %q: driver %q is local to one node; Swarm services need overlay networks (remove driver:, or use driver: overlay)", spec.Key, driver)
	}
	opts := network.CreateOptions{
		Driver:     driver,
		Scope:      "swarm",
		Attachable: true,
		Internal:   spec.Internal,
		Options:    spec.Options,
		Labels: stackLabels(spec.Project, merge(spec.Labels, map[string]string{
			engine.LabelProject: spec.Project, engine.LabelNetwork: spec.Key, labelEngine: "hoist",
		})),
	}
	if len(spec.Subnets) > 0 {
		opts.IPAM = &network.IPAM{}
		for _, s := range spec.Subnets {
			opts.IPAM.Config = append(opts.IPAM.Config, network.IPAMConfig{Subnet: s})
		}
	}
	return opts, nil
}

// EnsureNetwork creates the project network spec describes unless the
// swarm has it; one of that name that is not a swarm network, or that
// belongs to another stack, is an error. It reports whether it created
// the network.
func (e *Engine) EnsureNetwork(ctx context.Context, spec engine.NetworkSpec) (bool, error) {
	opts, err := networkCreate(spec)
	if err != nil {
		return false, err
	}
	n, found, err := e.findNetwork(ctx, spec.Name)
	if err != nil {
		return false, err
	}
	if found {
		if n.Scope != "swarm" {
			return false, fmt.Errorf("network %s exists with scope %q on the manager: %w; remove it, or name another network", spec.Name, n.Scope, engine.ErrConflict)
		}
		if ns := n.Labels[LabelNamespace]; ns != spec.Project {
			return false, fmt.Errorf("network %s belongs to stack %q, not %q: %w", spec.Name, ns, spec.Project, engine.ErrConflict)
		}
		return false, nil
	}
	if _, err := e.api.NetworkCreate(ctx, spec.Name, opts); err != nil {
		if cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err) {
			return false, nil
		}
		return false, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	return true, nil
}

// CheckExternalNetwork checks that an external network exists and is
// swarm-scoped, as docker stack does before it deploys.
func (e *Engine) CheckExternalNetwork(ctx context.Context, name string) error {
	n, found, err := e.findNetwork(ctx, name)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("external network %q does not exist: %w; create it with docker network create -d overlay --attachable %s", name, engine.ErrNotFound, name)
	case n.Scope != "swarm":
		return fmt.Errorf("external network %q has scope %q: services need a swarm-scoped (overlay) network", name, n.Scope)
	}
	return nil
}

// findNetwork finds a network by exact name (the API's name filter
// matches substrings).
func (e *Engine) findNetwork(ctx context.Context, name string) (network.Summary, bool, error) {
	nets, err := e.api.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return network.Summary{}, false, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		if n.Name == name {
			return n, true, nil
		}
	}
	return network.Summary{}, false, nil
}
