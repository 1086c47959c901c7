package swarm

import (
	"context"
	"fmt"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/runspec"
)

// Preflight checks, before anything is created, what would make the
// deploy of services fail or hang on this swarm: the daemon is still a
// manager; each image can be resolved from its registry (a built one
// is pushed, so its registry must answer); some ready node satisfies
// each service's placement and has the resources it reserves; no
// published port is taken by another service, or by a container outside
// the swarm on the manager's own node (the one node whose containers the
// manager's API shows); and, where the kernel lacks IPVS, nothing relies on the
// routing mesh or a virtual IP. Problems are returned with their
// service; an error is a failure to look.
func (e *Engine) Preflight(ctx context.Context, project string, services []Service) ([]Problem, error) {
	info, err := e.checkManager(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := e.api.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	others, err := e.api.ServiceList(ctx, swarm.ServiceListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var out []Problem
	for _, s := range services {
		out = append(out, e.imageProblems(ctx, s)...)
		out = append(out, placementProblems(s, nodes)...)
	}
	held, err := e.heldPorts(ctx, project, services, others, info.Name)
	if err != nil {
		return nil, err
	}
	out = append(out, portConflicts(project, services, others, held)...)
	if e.localKernelLacksIPVS() {
		for _, s := range services {
			for _, p := range ipvsProblems(s) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// imageProblems asks the manager to resolve the service's image from its
// registry, as every node will have to pull it, with the credentials the
// docker config holds for that registry (those the nodes will get). A
// registry that refuses them is an error here, before anything is made:
// every task would fail to pull.
func (e *Engine) imageProblems(ctx context.Context, s Service) []Problem {
	ref := s.Config.Image
	creds, auth, err := e.registryAuth(ctx, ref)
	if err != nil {
		return []Problem{{Service: s.Name, Path: []string{"image"}, Msg: fmt.Sprintf("the credentials for %s cannot be read from the docker config: %v", ref, err),
			Hint: "check the docker config's credsStore and credHelpers (docker login " + creds.Registry + " works when they do)"}}
	}
	_, err = e.api.DistributionInspect(ctx, ref, auth)
	switch {
	case err == nil:
		return nil
	case isUnauthorized(err) && creds.Anonymous():
		return []Problem{{Service: s.Name, Path: []string{"image"}, Msg: fmt.Sprintf("the registry %s refuses %s without a login (%v)", creds.Registry, ref, firstLine(err.Error())),
			Hint: fmt.Sprintf("run docker login %s: hoist gives the manager the docker config's credentials, for the nodes to pull with", creds.Registry)}}
	case isUnauthorized(err):
		return []Problem{{Service: s.Name, Path: []string{"image"}, Msg: fmt.Sprintf("the registry %s refuses the docker config's credentials for %s (%v)", creds.Registry, ref, firstLine(err.Error())),
			Hint: fmt.Sprintf("run docker login %s again, as a user that may pull %s", creds.Registry, ref)}}
	case s.Build != nil && (cerrdefs.IsNotFound(err) || strings.Contains(err.Error(), "manifest unknown") || strings.Contains(err.Error(), "not found")):
		// Not pushed yet: the registry answers, which is what a build
		// needs.
		return nil
	case s.Build != nil:
		return []Problem{{Service: s.Name, Path: []string{"image"}, Msg: fmt.Sprintf("the registry of %s does not answer the manager: %v", ref, firstLine(err.Error())),
			Hint: "the built image is pushed there for every node to pull: check the registry (and --insecure-registry on the nodes for plain HTTP)"}}
	}
	return []Problem{{Service: s.Name, Path: []string{"image"}, Warning: true,
		Msg:  fmt.Sprintf("the manager cannot resolve %s from a registry (%v): every node that runs a task must already have it", ref, firstLine(err.Error())),
		Hint: "push it to a registry the nodes reach, or load it on every node"}}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimPrefix(s, "Error response from daemon: ")
}

// placementProblems says when no ready node may run the service's tasks,
// too few for its replicas under max_replicas_per_node, or none has what
// the service reserves.
func placementProblems(s Service, nodes []swarm.Node) []Problem {
	d := s.Config.Deploy
	eligible, roomy := 0, 0
	var most swarm.Resources
	var unknown []string
	for _, n := range nodes {
		if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
			continue
		}
		ok := true
		for _, c := range d.Placement.Constraints {
			match, known := constraintMatches(c, n)
			if !known {
				unknown = append(unknown, c)
				continue
			}
			ok = ok && match
		}
		if !ok {
			continue
		}
		eligible++
		// A reservation no eligible node has in all is one no task
		// can ever get: Swarm would keep it pending.
		r := n.Description.Resources
		most.MemoryBytes, most.NanoCPUs = max(most.MemoryBytes, r.MemoryBytes), max(most.NanoCPUs, r.NanoCPUs)
		if d.Resources.Reservations.MemoryBytes <= r.MemoryBytes && d.Resources.Reservations.NanoCPUs <= r.NanoCPUs {
			roomy++
		}
	}
	placement := func(msg string) []Problem {
		return []Problem{{Service: s.Name, Path: []string{"deploy", "placement", "constraints"}, Msg: msg,
			Hint: "check the constraints against docker node ls and the nodes' labels"}}
	}
	switch {
	case eligible == 0 && len(d.Placement.Constraints) > 0:
		return placement(fmt.Sprintf("no ready node satisfies %s", strings.Join(d.Placement.Constraints, " and ")))
	case eligible == 0:
		return placement("no node is ready and active")
	case d.Placement.MaxReplicasPerNode > 0 && (d.Mode == runspec.ModeReplicated || d.Mode == runspec.ModeReplicatedJob) &&
		uint64(eligible)*d.Placement.MaxReplicasPerNode < uint64(max(d.Replicas, 0)):
		return placement(fmt.Sprintf("%d replicas cannot fit: %d eligible nodes × max_replicas_per_node %d", d.Replicas, eligible, d.Placement.MaxReplicasPerNode))
	case roomy == 0:
		path := []string{"deploy", "resources", "reservations", "memory"}
		if d.Resources.Reservations.MemoryBytes <= most.MemoryBytes {
			path[3] = "cpus"
		}
		return []Problem{{Service: s.Name, Path: path, Msg: fmt.Sprintf("no eligible node has %s to reserve: the largest has %s",
			amounts(d.Resources.Reservations.MemoryBytes, d.Resources.Reservations.NanoCPUs), amounts(most.MemoryBytes, most.NanoCPUs)),
			Hint: "reserve less: docker node inspect shows each node's resources"}}
	}
	return nil
}

// amounts says memory and CPUs as a user reads them, leaving out what
// is zero.
func amounts(mem, nanoCPUs int64) string {
	var parts []string
	if mem > 0 {
		parts = append(parts, fmt.Sprintf("%.1f GiB of memory", float64(mem)/(1<<30)))
	}
	if nanoCPUs > 0 {
		parts = append(parts, fmt.Sprintf("%g CPUs", float64(nanoCPUs)/1e9))
	}
	return strings.Join(parts, " and ")
}

// constraintMatches evaluates one placement constraint ("key==value" or
// "key!=value") on a node as Swarm does; known is false for a key this
// check does not know.
func constraintMatches(c string, n swarm.Node) (match, known bool) {
	op, i := "==", strings.Index(c, "==")
	if j := strings.Index(c, "!="); j >= 0 && (i < 0 || j < i) {
		op, i = "!=", j
	}
	if i < 0 {
		return false, false
	}
	key, want := strings.TrimSpace(c[:i]), strings.TrimSpace(c[i+2:])
	var have string
	var ok bool
	switch {
	case key == "node.id":
		have, ok = n.ID, true
	case key == "node.hostname":
		have, ok = n.Description.Hostname, true
	case key == "node.role":
		have, ok = string(n.Spec.Role), true
	case key == "node.platform.os":
		have, ok = n.Description.Platform.OS, true
	case key == "node.platform.arch":
		have, ok = n.Description.Platform.Architecture, true
	case strings.HasPrefix(key, "node.labels."):
		have = n.Spec.Labels[strings.TrimPrefix(key, "node.labels.")]
		ok = true
	case strings.HasPrefix(key, "engine.labels."):
		have = n.Description.Engine.Labels[strings.TrimPrefix(key, "engine.labels.")]
		ok = true
	}
	if !ok {
		return false, false
	}
	eq := strings.EqualFold(have, want)
	if key == "node.labels" || strings.HasPrefix(key, "node.labels.") || strings.HasPrefix(key, "engine.labels.") {
		eq = have == want
	}
	if op == "==" {
		return eq, true
	}
	return !eq, true
}

// portID is a published port: its number and protocol.
type portID struct {
	port  uint32
	proto string
}

// hostPort is the port a compose port publishes, or false for none (or
// a range, which the mapping refuses).
func hostPort(p runspec.Port) (portID, bool) {
	if p.HostPort == "" || strings.Contains(p.HostPort, "-") {
		return portID{}, false
	}
	var n uint32
	if _, err := fmt.Sscanf(p.HostPort, "%d", &n); err != nil {
		return portID{}, false
	}
	return portID{n, p.Protocol}, true
}

// heldPorts finds the ports that containers outside the swarm publish
// on the manager's node (node is its name). Swarm knows no such
// container, on any node: it would schedule a task there and the task
// would fail to bind. Only the ports the project does not publish yet
// are looked up, so a redeploy that adds no port costs no request.
func (e *Engine) heldPorts(ctx context.Context, project string, services []Service, existing []swarm.Service, node string) (map[portID]string, error) {
	has := map[string]map[portID]bool{}
	for _, o := range existing {
		if o.Spec.Labels[LabelNamespace] != project {
			continue
		}
		ps := map[portID]bool{}
		for _, p := range publishedPorts(o) {
			ps[portID{p.PublishedPort, string(p.Protocol)}] = true
		}
		has[o.Spec.Name] = ps
	}
	wanted := map[portID]bool{}
	for _, s := range services {
		for _, p := range s.Config.Network.Ports {
			if k, ok := hostPort(p); ok && !has[Scope(project, s.Name)][k] {
				wanted[k] = true
			}
		}
	}
	if len(wanted) == 0 {
		return nil, nil
	}
	cs, err := e.api.ContainerList(ctx, container.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the containers of node %s: %w", node, err)
	}
	held := map[portID]string{}
	for _, c := range cs {
		if c.Labels["com.docker.swarm.service.id"] != "" {
			continue // a task: its service's ports are known already
		}
		for _, p := range c.Ports {
			k := portID{uint32(p.PublicPort), p.Type}
			if p.PublicPort != 0 && wanted[k] {
				held[k] = fmt.Sprintf("container %s on node %s, outside the swarm,", containerName(c), node)
			}
		}
	}
	return held, nil
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:min(len(c.ID), 12)]
}

// portConflicts finds published ports that are taken: by another
// service (ingress ports are the whole swarm's, host-mode ports each
// node's, and two services with one host port can share no node), by
// another service of the project itself, or by what held names (a
// container outside the swarm, from heldPorts).
func portConflicts(project string, services []Service, existing []swarm.Service, held map[portID]string) []Problem {
	owner := map[portID]string{}
	for k, who := range held {
		owner[k] = who
	}
	for _, o := range existing {
		if strings.HasPrefix(o.Spec.Name, project+"_") && o.Spec.Labels[LabelNamespace] == project {
			continue // this project's services are being redeployed
		}
		for _, p := range publishedPorts(o) {
			owner[portID{p.PublishedPort, string(p.Protocol)}] = "service " + o.Spec.Name
		}
	}
	var out []Problem
	for _, s := range services {
		for _, p := range s.Config.Network.Ports {
			k, ok := hostPort(p)
			if !ok {
				continue
			}
			mine := "service " + Scope(project, s.Name)
			if o, ok := owner[k]; ok && o != mine {
				out = append(out, Problem{Service: s.Name, Path: []string{"ports"},
					Msg:  fmt.Sprintf("port %d/%s is published by %s already", k.port, k.proto, o),
					Hint: "publish another port, or remove that " + strings.Fields(o)[0]})
				continue
			}
			owner[k] = mine
		}
	}
	return out
}

func publishedPorts(s swarm.Service) []swarm.PortConfig {
	if len(s.Endpoint.Ports) > 0 {
		return s.Endpoint.Ports
	}
	if s.Spec.EndpointSpec != nil {
		return s.Spec.EndpointSpec.Ports
	}
	return nil
}

// localKernelLacksIPVS: when the manager is on this machine (a unix
// socket), its kernel is this one, and IPVS shows in /proc once loaded
// or built in. A remote swarm's kernel is not ours to judge.
func (e *Engine) localKernelLacksIPVS() bool {
	if !strings.HasPrefix(e.api.DaemonHost(), "unix://") {
		return false
	}
	_, err := os.Stat("/proc/net/ip_vs")
	return err != nil
}

// ipvsProblems: without IPVS, the routing mesh (ingress ports) and a
// service's virtual IP (endpoint_mode vip, the default) do not carry
// traffic.
func ipvsProblems(s Service) []Problem {
	var out []Problem
	for _, p := range s.Config.Network.Ports {
		if p.Mode != "host" {
			out = append(out, Problem{Service: s.Name, Path: []string{"ports"},
				Msg:  fmt.Sprintf("port %d is published on the routing mesh, which needs IPVS, and this kernel has none", p.ContainerPort),
				Hint: "publish it with mode: host (and deploy.endpoint_mode: dnsrr)"})
		}
	}
	if s.Config.Deploy.EndpointMode != "dnsrr" && len(s.Config.Network.Attachments) > 0 {
		out = append(out, Problem{Service: s.Name, Path: []string{"deploy", "endpoint_mode"}, Warning: true,
			Msg:  "the service's virtual IP (endpoint_mode vip) needs IPVS, which this kernel lacks: its name would not carry traffic",
			Hint: "set deploy.endpoint_mode: dnsrr"})
	}
	return out
}
