package docker

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/api/types/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hoist-dev/hoist/engine"
)

// createConfig is everything ContainerCreate takes, plus the networks that
// must be connected after creation: API versions before 1.44 accept only
// one network in the create request.
type createConfig struct {
	Config     *container.Config
	Host       *container.HostConfig
	Networking *network.NetworkingConfig
	Platform   *ocispec.Platform
	// Connect lists the networks to attach after create, in order.
	Connect []engine.NetworkAttachment
}

// toCreateConfig converts a resolved ContainerSpec for a daemon speaking
// apiVersion. It is pure so that the whole mapping is table-tested.
func toCreateConfig(spec engine.ContainerSpec, apiVersion string) (*createConfig, error) {
	svc := spec.Service
	img := spec.Image
	if img == "" {
		img = svc.Image
	}
	cfg := &container.Config{
		Image:        img,
		Hostname:     svc.Hostname,
		Domainname:   svc.DomainName,
		User:         svc.User,
		WorkingDir:   svc.WorkingDir,
		Env:          envList(svc.Environment),
		Labels:       mergeLabels(svc.Labels, spec.Labels),
		Tty:          svc.Tty,
		OpenStdin:    svc.StdinOpen,
		AttachStdin:  svc.StdinOpen,
		StopSignal:   svc.StopSignal,
		ExposedPorts: nil,
	}
	switch {
	case spec.Cmd != nil:
		cfg.Cmd = strslice.StrSlice(spec.Cmd)
	case svc.Command != nil:
		cfg.Cmd = strslice.StrSlice(svc.Command)
	}
	if svc.Entrypoint != nil {
		// A non-nil empty entrypoint clears the image's, as in compose.
		cfg.Entrypoint = make(strslice.StrSlice, len(svc.Entrypoint))
		copy(cfg.Entrypoint, svc.Entrypoint)
	}
	if svc.StopGracePeriod != nil {
		secs := int(time.Duration(*svc.StopGracePeriod).Round(time.Second) / time.Second)
		cfg.StopTimeout = &secs
	}
	hc, err := healthConfig(svc.HealthCheck, apiVersion)
	if err != nil {
		return nil, err
	}
	cfg.Healthcheck = hc

	host := &container.HostConfig{
		CapAdd:         svc.CapAdd,
		CapDrop:        svc.CapDrop,
		Privileged:     svc.Privileged,
		Init:           svc.Init,
		ReadonlyRootfs: svc.ReadOnly,
		SecurityOpt:    svc.SecurityOpt,
		GroupAdd:       svc.GroupAdd,
		IpcMode:        container.IpcMode(svc.Ipc),
		PidMode:        container.PidMode(svc.Pid),
		UTSMode:        container.UTSMode(svc.Uts),
		UsernsMode:     container.UsernsMode(svc.UserNSMode),
		CgroupnsMode:   container.CgroupnsMode(svc.Cgroup),
		DNS:            svc.DNS,
		DNSSearch:      svc.DNSSearch,
		DNSOptions:     svc.DNSOpts,
		ExtraHosts:     extraHosts(svc.ExtraHosts),
		Sysctls:        svc.Sysctls,
		ShmSize:        int64(svc.ShmSize),
		OomScoreAdj:    int(svc.OomScoreAdj),
		Runtime:        svc.Runtime,
		StorageOpt:     svc.StorageOpt,
		Tmpfs:          tmpfsMap(svc.Tmpfs),
		VolumeDriver:   svc.VolumeDriver,
		VolumesFrom:    svc.VolumesFrom,
		LogConfig:      logConfig(svc),
	}
	host.Resources = resources(svc)
	if host.RestartPolicy, err = restartPolicy(svc); err != nil {
		return nil, err
	}
	if cfg.ExposedPorts, host.PortBindings, err = ports(svc.Ports, svc.Expose); err != nil {
		return nil, err
	}
	if host.Mounts, host.Binds, err = mounts(svc.Volumes, apiVersion); err != nil {
		return nil, err
	}
	plat, err := parsePlatform(svc.Platform)
	if err != nil {
		return nil, err
	}
	out := &createConfig{Config: cfg, Host: host, Platform: plat}
	if err := networking(spec, out); err != nil {
		return nil, err
	}
	return out, nil
}

// envList renders the environment sorted, so that the same service always
// produces the same request. Unset (nil) variables are left out: compose
// resolved them from the shell already, and nil means "not set there".
func envList(env types.MappingWithEquals) []string {
	var out []string
	for k, v := range env {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

// mergeLabels returns the service labels overlaid with the spec's (which
// carry the compose labels and therefore win).
func mergeLabels(svc types.Labels, spec map[string]string) map[string]string {
	out := make(map[string]string, len(svc)+len(spec))
	maps.Copy(out, svc)
	maps.Copy(out, spec)
	return out
}

func healthConfig(h *types.HealthCheckConfig, apiVersion string) (*container.HealthConfig, error) {
	if h == nil {
		return nil, nil
	}
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	hc := &container.HealthConfig{Test: h.Test}
	if h.Interval != nil {
		hc.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		hc.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		hc.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil && !versions.LessThan(apiVersion, "1.44") {
		// Older daemons do not know start_interval and the client refuses
		// to send it; the check then simply uses interval throughout.
		hc.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	return hc, nil
}

// restartPolicy follows compose: deploy.restart_policy, when present,
// overrides restart.
func restartPolicy(svc types.ServiceConfig) (container.RestartPolicy, error) {
	if svc.Deploy != nil && svc.Deploy.RestartPolicy != nil {
		rp := svc.Deploy.RestartPolicy
		p := container.RestartPolicy{}
		switch rp.Condition {
		case "", "any":
			p.Name = container.RestartPolicyAlways
		case "none":
			p.Name = container.RestartPolicyDisabled
		case "on-failure":
			p.Name = container.RestartPolicyOnFailure
		default:
			return p, fmt.Errorf("service %q: unknown deploy.restart_policy.condition %q", svc.Name, rp.Condition)
		}
		if rp.MaxAttempts != nil && p.Name == container.RestartPolicyOnFailure {
			p.MaximumRetryCount = int(*rp.MaxAttempts)
		}
		return p, nil
	}
	name, count, _ := strings.Cut(svc.Restart, ":")
	p := container.RestartPolicy{}
	switch name {
	case "", "no":
		p.Name = container.RestartPolicyDisabled
	case "always":
		p.Name = container.RestartPolicyAlways
	case "unless-stopped":
		p.Name = container.RestartPolicyUnlessStopped
	case "on-failure":
		p.Name = container.RestartPolicyOnFailure
		if count != "" {
			n, err := strconv.Atoi(count)
			if err != nil {
				return p, fmt.Errorf("service %q: invalid restart %q: %w", svc.Name, svc.Restart, err)
			}
			p.MaximumRetryCount = n
		}
	default:
		return p, fmt.Errorf("service %q: unknown restart policy %q", svc.Name, svc.Restart)
	}
	return p, nil
}

// resources takes mem_limit, cpus and pids_limit, overridden by
// deploy.resources.limits where set, as compose does.
func resources(svc types.ServiceConfig) container.Resources {
	r := container.Resources{
		Memory:             int64(svc.MemLimit),
		MemoryReservation:  int64(svc.MemReservation),
		MemorySwap:         int64(svc.MemSwapLimit),
		NanoCPUs:           nanoCPUs(svc.CPUS),
		CPUShares:          svc.CPUShares,
		CPUQuota:           svc.CPUQuota,
		CPUPeriod:          svc.CPUPeriod,
		CpusetCpus:         svc.CPUSet,
		CgroupParent:       svc.CgroupParent,
		Devices:            devices(svc.Devices),
		Ulimits:            ulimits(svc.Ulimits),
		DeviceCgroupRules:  svc.DeviceCgroupRules,
		CPURealtimePeriod:  svc.CPURTPeriod,
		CPURealtimeRuntime: svc.CPURTRuntime,
	}
	if svc.BlkioConfig != nil {
		r.BlkioWeight = svc.BlkioConfig.Weight
	}
	if svc.OomKillDisable {
		r.OomKillDisable = &svc.OomKillDisable
	}
	if svc.MemSwappiness != 0 {
		n := int64(svc.MemSwappiness)
		r.MemorySwappiness = &n
	}
	if svc.PidsLimit != 0 {
		n := svc.PidsLimit
		r.PidsLimit = &n
	}
	if svc.Deploy != nil {
		if l := svc.Deploy.Resources.Limits; l != nil {
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.NanoCPUs != 0 {
				r.NanoCPUs = nanoCPUs(float32(l.NanoCPUs))
			}
			if l.Pids != 0 {
				n := l.Pids
				r.PidsLimit = &n
			}
		}
		if res := svc.Deploy.Resources.Reservations; res != nil && res.MemoryBytes != 0 {
			r.MemoryReservation = int64(res.MemoryBytes)
		}
	}
	return r
}

// nanoCPUs converts a CPU count going through its shortest decimal form, so
// that float32 0.1 becomes exactly 100000000 and not 100000001.
func nanoCPUs(cpus float32) int64 {
	if cpus == 0 {
		return 0
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(cpus), 'f', -1, 32), 64)
	return int64(f*1e9 + 0.5)
}

func devices(in []types.DeviceMapping) []container.DeviceMapping {
	var out []container.DeviceMapping
	for _, d := range in {
		target, perms := d.Target, d.Permissions
		if target == "" {
			target = d.Source
		}
		if perms == "" {
			perms = "rwm"
		}
		out = append(out, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: target, CgroupPermissions: perms})
	}
	return out
}

func ulimits(in map[string]*types.UlimitsConfig) []*container.Ulimit {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*container.Ulimit
	for _, n := range names {
		u := in[n]
		if u == nil {
			continue
		}
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		out = append(out, &container.Ulimit{Name: n, Soft: soft, Hard: hard})
	}
	return out
}

// extraHosts renders "host:ip" entries, sorted. "host-gateway" passes
// through: the daemon substitutes its gateway address.
func extraHosts(h types.HostsList) []string {
	var out []string
	for host, ips := range h {
		for _, ip := range ips {
			out = append(out, host+":"+ip)
		}
	}
	sort.Strings(out)
	return out
}

// tmpfsMap turns "path[:options]" entries into the HostConfig map.
func tmpfsMap(list types.StringList) map[string]string {
	if len(list) == 0 {
		return nil
	}
	out := make(map[string]string, len(list))
	for _, e := range list {
		path, opts, _ := strings.Cut(e, ":")
		out[path] = opts
	}
	return out
}

func logConfig(svc types.ServiceConfig) container.LogConfig {
	if svc.Logging != nil {
		return container.LogConfig{Type: svc.Logging.Driver, Config: svc.Logging.Options}
	}
	return container.LogConfig{Type: svc.LogDriver, Config: svc.LogOpt}
}

func parsePlatform(p string) (*ocispec.Platform, error) {
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("invalid platform %q: want os/arch[/variant]", p)
	}
	plat := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		plat.Variant = parts[2]
	}
	return plat, nil
}

// networking sets the network mode and the single endpoint of the create
// request; further networks go to out.Connect.
func networking(spec engine.ContainerSpec, out *createConfig) error {
	mode := spec.Service.NetworkMode
	if strings.HasPrefix(mode, "service:") {
		return fmt.Errorf("container %q: network_mode %q must be resolved to container:<name> before create", spec.Name, mode)
	}
	if mode != "" || len(spec.Networks) == 0 {
		// host, none, container:<name> or the engine default: the daemon
		// refuses endpoints for these, so the attachments are ignored.
		out.Host.NetworkMode = container.NetworkMode(mode)
		return nil
	}
	first := spec.Networks[0]
	out.Host.NetworkMode = container.NetworkMode(first.Name)
	out.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		first.Name: endpoint(first),
	}}
	out.Connect = spec.Networks[1:]
	return nil
}

func endpoint(a engine.NetworkAttachment) *network.EndpointSettings {
	ep := &network.EndpointSettings{Aliases: a.Aliases}
	if a.IPv4 != "" || a.IPv6 != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.IPv4, IPv6Address: a.IPv6}
	}
	return ep
}
