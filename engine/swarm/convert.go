package swarm

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/versions"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// Service is one compose service as the swarm engine deploys it: its
// configuration resolved once (compose.ResolveWith, Deploy included),
// which this package maps and adds none of compose's rules to.
type Service = engine.ServiceSpec

// ObjectIDs finds the Swarm ID and name of a config or secret (kind
// "config" or "secret") for a service's reference to it.
type ObjectIDs func(kind string, ref runspec.ObjectRef) (name, id string, ok bool)

// toServiceSpec maps s to a Swarm service spec for a daemon speaking
// apiVersion, named and labelled as docker stack does, with the spec's
// own hash in LabelSpecHash. It is pure, so the whole mapping is
// table-tested; what Swarm cannot honour is Unsupported's to say.
func toServiceSpec(s Service, objects ObjectIDs, apiVersion string) (swarm.ServiceSpec, error) {
	c := s.Config
	d := c.Deploy
	image := s.Image
	if image == "" {
		image = c.Image
	}
	compose := map[string]string{labelProject: s.Project, labelService: s.Name}

	cs := &swarm.ContainerSpec{
		Image:     image,
		Labels:    stackLabels(s.Project, merge(c.Labels, compose)),
		Hostname:  c.Process.Hostname,
		Env:       envList(c.Process.Env),
		Dir:       c.Process.WorkingDir,
		User:      c.Process.User,
		Groups:    c.Process.GroupAdd,
		TTY:       c.Process.TTY,
		OpenStdin: c.Process.StdinOpen,
		ReadOnly:  c.Security.ReadonlyRootfs,
		Init:      c.Process.Init,
		// The stop signal and grace period: Swarm stops a task as the
		// daemon stops a container.
		StopSignal:      c.Stop.Signal,
		StopGracePeriod: c.Stop.GracePeriod,
		Sysctls:         c.Security.Sysctls,
		CapabilityAdd:   c.Security.CapAdd,
		CapabilityDrop:  c.Security.CapDrop,
		Healthcheck:     healthConfig(c.Health, apiVersion),
		Hosts:           hosts(c.Network.ExtraHosts),
		DNSConfig:       dnsConfig(c.Network),
	}
	if len(c.Process.Entrypoint) > 0 {
		cs.Command = slices.Clone(c.Process.Entrypoint)
	}
	if len(c.Process.Command) > 0 {
		cs.Args = slices.Clone(c.Process.Command)
	}
	for _, u := range c.Resources.Ulimits {
		cs.Ulimits = append(cs.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	cs.Privileges = privileges(c.Security, apiVersion)
	if !versions.LessThan(apiVersion, "1.46") {
		cs.OomScoreAdj = int64(c.Resources.OomScoreAdj)
	}
	var err error
	if cs.Mounts, err = mounts(s, apiVersion); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if cs.Secrets, cs.Configs, err = objectRefs(d, objects); err != nil {
		return swarm.ServiceSpec{}, err
	}

	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name:   Scope(s.Project, s.Name),
			Labels: stackLabels(s.Project, merge(d.Labels, compose)),
		},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Resources:     resources(d.Resources),
			RestartPolicy: restartPolicy(d.Restart, emulateJob(d.Mode, apiVersion)),
			Placement:     placement(c.Platform, d.Placement),
			Networks:      attachments(c.Network),
		},
		Mode:           mode(d, apiVersion),
		UpdateConfig:   updateConfig(d.Update),
		RollbackConfig: updateConfig(d.Rollback),
	}
	spec.Labels[LabelImage] = c.Image
	spec.Labels[LabelMode] = string(d.Mode)
	if emulateJob(d.Mode, apiVersion) {
		// Every task at once, and a task that ends is no failure.
		spec.UpdateConfig = &swarm.UpdateConfig{FailureAction: swarm.UpdateFailureActionContinue, Monitor: time.Millisecond}
	}
	spec.Labels[labelEngine] = "hoist"
	if c.Logging.Driver != "" {
		spec.TaskTemplate.LogDriver = &swarm.Driver{Name: c.Logging.Driver, Options: c.Logging.Options}
	}
	if spec.EndpointSpec, err = endpointSpec(d.EndpointMode, c.Network.Ports); err != nil {
		return swarm.ServiceSpec{}, err
	}
	// The task template's hash goes on the containers, the whole spec's
	// (which covers the former) on the service.
	cs.Labels[LabelTaskHash] = hashJSON(spec.TaskTemplate)
	spec.Labels[LabelSpecHash] = hashJSON(spec)
	return spec, nil
}

// privileges are no-new-privileges and the seccomp profile, which Swarm
// takes from API 1.44 (an older daemon drops them: Unsupported says so).
func privileges(sec runspec.Security, apiVersion string) *swarm.Privileges {
	if versions.LessThan(apiVersion, "1.44") || (!sec.NoNewPrivileges && sec.Seccomp == "") {
		return nil
	}
	p := &swarm.Privileges{NoNewPrivileges: sec.NoNewPrivileges}
	switch sec.Seccomp {
	case "":
	case "unconfined":
		p.Seccomp = &swarm.SeccompOpts{Mode: swarm.SeccompModeUnconfined}
	default:
		p.Seccomp = &swarm.SeccompOpts{Mode: swarm.SeccompModeCustom, Profile: []byte(sec.Seccomp)}
	}
	return p
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// envList renders the environment in order; an unset variable is a bare
// name, as docker stack and docker compose send it.
func envList(env []runspec.EnvVar) []string {
	var out []string
	for _, v := range env {
		if v.Unset {
			out = append(out, v.Name)
			continue
		}
		out = append(out, v.Name+"="+v.Value)
	}
	return out
}

func healthConfig(h runspec.Health, apiVersion string) *container.HealthConfig {
	switch h.Mode {
	case runspec.HealthInherit:
		return nil
	case runspec.HealthDisable:
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	hc := &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	if !versions.LessThan(apiVersion, "1.44") {
		hc.StartInterval = h.StartInterval
	}
	return hc
}

// hosts turns "name:address" lines into Swarm's "address name".
func hosts(extra []string) []string {
	var out []string
	for _, h := range extra {
		name, addr, ok := strings.Cut(h, ":")
		if ok {
			out = append(out, addr+" "+name)
		}
	}
	return out
}

func dnsConfig(n runspec.Network) *swarm.DNSConfig {
	if len(n.DNS)+len(n.DNSSearch)+len(n.DNSOptions) == 0 {
		return nil
	}
	cfg := &swarm.DNSConfig{Search: n.DNSSearch, Options: n.DNSOptions}
	for _, s := range n.DNS {
		if a, err := netip.ParseAddr(s); err == nil {
			cfg.Nameservers = append(cfg.Nameservers, a.String())
		}
	}
	return cfg
}

// mounts maps volumes, binds and tmpfs. File mounts of secrets and
// configs are not here: they are Swarm objects (objectRefs).
func mounts(s Service, apiVersion string) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, m := range s.Config.Mounts {
		if m.Secret != "" || m.Config != "" {
			continue
		}
		mt := mount.Mount{Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case runspec.MountBind:
			mt.Type, mt.Source = mount.TypeBind, m.Source
			if m.Propagation != "" {
				mt.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(m.Propagation)}
			}
		case runspec.MountVolume:
			mt.Type, mt.Source = mount.TypeVolume, m.Source
			vo := &mount.VolumeOptions{NoCopy: m.NoCopy, Labels: m.VolumeLabels}
			if m.Subpath != "" && !versions.LessThan(apiVersion, "1.45") {
				vo.Subpath = m.Subpath
			}
			if v, ok := s.Volumes[m.Source]; ok && m.Source != "" {
				// Swarm creates the volume on each node it runs a task
				// on: the project's volume's driver and labels go along.
				vo.Labels = stackLabels(s.Project, merge(v.Labels, m.VolumeLabels))
				if v.Driver != "" || len(v.Options) > 0 {
					vo.DriverConfig = &mount.Driver{Name: v.Driver, Options: v.Options}
				}
			}
			if !vo.NoCopy && len(vo.Labels) == 0 && vo.DriverConfig == nil && vo.Subpath == "" {
				vo = nil
			}
			mt.VolumeOptions = vo
		case runspec.MountTmpfs:
			mt.Type = mount.TypeTmpfs
			if t := m.Tmpfs; t != nil && (t.SizeBytes != 0 || t.Mode != 0) {
				mt.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: t.SizeBytes}
				if t.Mode != 0 {
					mt.TmpfsOptions.Mode = os.FileMode(t.Mode)
				}
			}
		default:
			return nil, fmt.Errorf("mount %s: type %q", m.Target, m.Type)
		}
		out = append(out, mt)
	}
	return out, nil
}

// objectRefs references the service's secrets and configs by the IDs
// objects gives, with their targets and owners, sorted by name as docker
// stack sorts them (a spec that does not change order is not an update).
func objectRefs(d runspec.Deploy, objects ObjectIDs) ([]*swarm.SecretReference, []*swarm.ConfigReference, error) {
	var secrets []*swarm.SecretReference
	var configs []*swarm.ConfigReference
	owner := func(s string) string {
		if s == "" {
			return "0"
		}
		return s
	}
	for _, r := range d.Secrets {
		name, id, ok := objects("secret", r)
		if !ok {
			return nil, nil, fmt.Errorf("secret %q has no swarm object", r.Key)
		}
		secrets = append(secrets, &swarm.SecretReference{SecretName: name, SecretID: id, File: &swarm.SecretReferenceFileTarget{
			Name: r.Target, UID: owner(r.UID), GID: owner(r.GID), Mode: r.Mode}})
	}
	for _, r := range d.Configs {
		name, id, ok := objects("config", r)
		if !ok {
			return nil, nil, fmt.Errorf("config %q has no swarm object", r.Key)
		}
		configs = append(configs, &swarm.ConfigReference{ConfigName: name, ConfigID: id, File: &swarm.ConfigReferenceFileTarget{
			Name: r.Target, UID: owner(r.UID), GID: owner(r.GID), Mode: r.Mode}})
	}
	slices.SortStableFunc(secrets, func(a, b *swarm.SecretReference) int {
		return strings.Compare(a.SecretName+a.File.Name, b.SecretName+b.File.Name)
	})
	slices.SortStableFunc(configs, func(a, b *swarm.ConfigReference) int {
		return strings.Compare(a.ConfigName+a.File.Name, b.ConfigName+b.File.Name)
	})
	return secrets, configs, nil
}

func resources(r runspec.DeployResources) *swarm.ResourceRequirements {
	out := &swarm.ResourceRequirements{}
	if l := r.Limits; l != (runspec.ResourceAmounts{}) {
		out.Limits = &swarm.Limit{NanoCPUs: l.NanoCPUs, MemoryBytes: l.MemoryBytes, Pids: l.Pids}
	}
	if rv := r.Reservations; rv != (runspec.ResourceAmounts{}) || len(r.Generic) > 0 {
		out.Reservations = &swarm.Resources{NanoCPUs: rv.NanoCPUs, MemoryBytes: rv.MemoryBytes}
		for _, g := range r.Generic {
			out.Reservations.GenericResources = append(out.Reservations.GenericResources, swarm.GenericResource{
				DiscreteResourceSpec: &swarm.DiscreteGenericResource{Kind: g.Kind, Value: g.Value}})
		}
	}
	if out.Limits == nil && out.Reservations == nil {
		return nil
	}
	return out
}

// restartPolicy: a job run as a service (emulateJob) restarts a failed
// task at most, as Swarm's jobs do; never one that completed.
func restartPolicy(r *runspec.DeployRestart, job bool) *swarm.RestartPolicy {
	if job && (r == nil || r.Condition == runspec.RestartConditionAny) {
		out := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure}
		if r != nil {
			out.Delay, out.MaxAttempts, out.Window = r.Delay, r.MaxAttempts, r.Window
		}
		return out
	}
	if r == nil {
		return nil
	}
	return &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(r.Condition), Delay: r.Delay, MaxAttempts: r.MaxAttempts, Window: r.Window}
}

func placement(platform string, p runspec.Placement) *swarm.Placement {
	out := &swarm.Placement{Constraints: p.Constraints, MaxReplicas: p.MaxReplicasPerNode}
	for _, s := range p.Preferences {
		out.Preferences = append(out.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: s}})
	}
	if platform != "" {
		parts := strings.SplitN(platform, "/", 3)
		pl := swarm.Platform{OS: parts[0]}
		if len(parts) > 1 {
			pl.Architecture = parts[1]
		}
		out.Platforms = []swarm.Platform{pl}
	}
	if len(out.Constraints)+len(out.Preferences)+len(out.Platforms) == 0 && out.MaxReplicas == 0 {
		return nil
	}
	return out
}

// attachments are the compose networks with the service's aliases on
// each (its name among them), as docker stack gives them.
func attachments(n runspec.Network) []swarm.NetworkAttachmentConfig {
	var out []swarm.NetworkAttachmentConfig
	for _, a := range n.Attachments {
		out = append(out, swarm.NetworkAttachmentConfig{Target: a.Network, Aliases: a.Aliases})
	}
	return out
}

// jobsAPI is the first Engine API whose swarm removes a job's tasks with
// the job (Engine 24; moby/moby#44312, moby/swarmkit#3112). Before it,
// a removed job's tasks and containers stay on their nodes for good.
const jobsAPI = "1.43"

// emulateJob reports whether a job mode runs as a service instead: a
// replicated (or global) service whose tasks are never restarted once
// they completed (restartPolicy), which Swarm removes with the service.
// Wait counts its completed tasks as a job's.
func emulateJob(m runspec.DeployMode, apiVersion string) bool {
	return m.Job() && versions.LessThan(apiVersion, jobsAPI)
}

func mode(d runspec.Deploy, apiVersion string) swarm.ServiceMode {
	n := uint64(max(d.Replicas, 0))
	switch {
	case d.Mode == runspec.ModeGlobal, d.Mode == runspec.ModeGlobalJob && emulateJob(d.Mode, apiVersion):
		return swarm.ServiceMode{Global: &swarm.GlobalService{}}
	case d.Mode == runspec.ModeGlobalJob:
		return swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
	case d.Mode == runspec.ModeReplicatedJob && !emulateJob(d.Mode, apiVersion):
		total, conc := n, n
		return swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &conc, TotalCompletions: &total}}
	}
	return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
}

func updateConfig(u *runspec.UpdatePolicy) *swarm.UpdateConfig {
	if u == nil {
		return nil
	}
	return &swarm.UpdateConfig{Parallelism: u.Parallelism, Delay: u.Delay, FailureAction: u.FailureAction,
		Monitor: u.Monitor, MaxFailureRatio: u.MaxFailureRatio, Order: u.Order}
}

// endpointSpec publishes the ports: in the routing mesh (ingress) or on
// the node of each task (host). A host port range cannot be expressed.
func endpointSpec(endpointMode string, ports []runspec.Port) (*swarm.EndpointSpec, error) {
	es := &swarm.EndpointSpec{Mode: swarm.ResolutionMode(endpointMode)}
	for _, p := range ports {
		pc := swarm.PortConfig{TargetPort: p.ContainerPort, Protocol: swarm.PortConfigProtocol(p.Protocol), PublishMode: swarm.PortConfigPublishModeIngress}
		if p.Mode == "host" {
			pc.PublishMode = swarm.PortConfigPublishModeHost
		}
		if p.HostPort != "" {
			n, err := strconv.ParseUint(p.HostPort, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("port %s:%d: a published port is one number in Swarm", p.HostPort, p.ContainerPort)
			}
			pc.PublishedPort = uint32(n)
		}
		es.Ports = append(es.Ports, pc)
	}
	slices.SortFunc(es.Ports, func(a, b swarm.PortConfig) int {
		return strings.Compare(portKey(a), portKey(b))
	})
	if es.Mode == "" && len(es.Ports) == 0 {
		return nil, nil
	}
	return es, nil
}

func portKey(p swarm.PortConfig) string {
	return fmt.Sprintf("%010d/%s/%010d/%s", p.TargetPort, p.Protocol, p.PublishedPort, p.PublishMode)
}
