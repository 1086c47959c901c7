package docker

import (
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/api/types/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
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
	Connect []runspec.Attachment
}

// toCreateConfig maps a container configuration to the Engine API for a
// daemon speaking apiVersion. It adds none of compose's rules (compose
// .Resolve applied them), and leaves the image to the daemon, which
// merges it as docker compose relies on. It is pure, so that the whole
// mapping is table-tested.
func toCreateConfig(spec engine.ContainerSpec, apiVersion string) (*createConfig, error) {
	c := spec.Config
	pr := c.Process
	if c.Namespaces.UserNS == "keep-id" {
		// podman's mode, which the Docker Engine has no equivalent of
		// (its user namespaces are the daemon's one remapping): refused
		// here, by name, rather than by the daemon's "invalid USER mode".
		return nil, fmt.Errorf("services.%s.userns_mode: keep-id is the rootless native engine's (run hoist as a user with --engine native); the Docker Engine takes only host", spec.Service)
	}
	cfg := &container.Config{
		Image:       c.Image,
		Hostname:    pr.Hostname,
		Domainname:  pr.Domainname,
		User:        pr.User,
		WorkingDir:  pr.WorkingDir,
		Env:         envList(pr.Env),
		Labels:      c.Labels,
		Tty:         pr.TTY,
		OpenStdin:   pr.StdinOpen,
		AttachStdin: pr.StdinOpen,
		StopSignal:  c.Stop.Signal,
	}
	if pr.Command != nil {
		cfg.Cmd = strslice.StrSlice(pr.Command)
	}
	if pr.Entrypoint != nil {
		// A non-nil empty entrypoint clears the image's, as in compose.
		cfg.Entrypoint = make(strslice.StrSlice, len(pr.Entrypoint))
		copy(cfg.Entrypoint, pr.Entrypoint)
	}
	if g := c.Stop.GracePeriod; g != nil {
		secs := int(*g / time.Second)
		cfg.StopTimeout = &secs
	}
	cfg.Healthcheck = healthConfig(c.Health, apiVersion)

	sec := c.Security
	host := &container.HostConfig{
		CapAdd:         sec.CapAdd,
		CapDrop:        sec.CapDrop,
		Privileged:     sec.Privileged,
		Init:           pr.Init,
		ReadonlyRootfs: sec.ReadonlyRootfs,
		SecurityOpt:    securityOpt(sec),
		GroupAdd:       pr.GroupAdd,
		IpcMode:        container.IpcMode(c.Namespaces.IPC),
		PidMode:        container.PidMode(c.Namespaces.PID),
		UTSMode:        container.UTSMode(c.Namespaces.UTS),
		UsernsMode:     container.UsernsMode(c.Namespaces.UserNS),
		CgroupnsMode:   container.CgroupnsMode(c.Namespaces.Cgroup),
		DNS:            c.Network.DNS,
		DNSSearch:      c.Network.DNSSearch,
		DNSOptions:     c.Network.DNSOptions,
		ExtraHosts:     c.Network.ExtraHosts,
		Sysctls:        sec.Sysctls,
		ShmSize:        c.Resources.ShmSize,
		OomScoreAdj:    c.Resources.OomScoreAdj,
		Runtime:        c.Runtime,
		StorageOpt:     c.StorageOpt,
		Tmpfs:          tmpfsMap(c.Mounts),
		VolumeDriver:   c.VolumeDriver,
		VolumesFrom:    c.VolumesFrom,
		LogConfig:      container.LogConfig{Type: c.Logging.Driver, Config: c.Logging.Options},
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyMode(c.Restart.Mode), MaximumRetryCount: c.Restart.MaxAttempts},
	}
	if sec.UnmaskPaths {
		host.MaskedPaths, host.ReadonlyPaths = []string{}, []string{}
	}
	host.Resources = resources(c)
	var err error
	if cfg.ExposedPorts, host.PortBindings, err = ports(c.Network.Ports, c.Network.Expose); err != nil {
		return nil, err
	}
	if host.Mounts, host.Binds, err = mounts(c.Mounts, apiVersion); err != nil {
		return nil, err
	}
	plat, err := parsePlatform(c.Platform)
	if err != nil {
		return nil, err
	}
	out := &createConfig{Config: cfg, Host: host, Platform: plat}
	networking(c.Network, out)
	return out, nil
}

// envList renders the environment in the configuration's order (sorted);
// an unset variable is a bare name, which the daemon takes as "remove",
// as docker compose sends it.
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

// securityOpt renders the security options the daemon parses: a seccomp
// profile goes as its JSON, as docker compose sends it.
func securityOpt(sec runspec.Security) []string {
	var out []string
	if sec.NoNewPrivileges {
		out = append(out, "no-new-privileges:true")
	}
	if sec.Seccomp != "" {
		out = append(out, "seccomp="+sec.Seccomp)
	}
	return append(out, sec.Options...)
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
		// Older daemons do not know start_interval and the client refuses
		// to send it; the check then simply uses interval throughout.
		hc.StartInterval = h.StartInterval
	}
	return hc
}

func resources(c runspec.Container) container.Resources {
	res := c.Resources
	r := container.Resources{
		Memory:             res.MemoryLimit,
		MemoryReservation:  res.MemoryReservation,
		MemorySwap:         res.MemorySwap,
		MemorySwappiness:   res.MemorySwappiness,
		NanoCPUs:           res.NanoCPUs,
		CPUShares:          res.CPUShares,
		CPUQuota:           res.CPUQuota,
		CPUPeriod:          res.CPUPeriod,
		CpusetCpus:         res.CPUSet,
		CPURealtimePeriod:  res.CPURealtimePeriod,
		CPURealtimeRuntime: res.CPURealtimeRuntime,
		CgroupParent:       res.CgroupParent,
		BlkioWeight:        res.BlkioWeight,
		PidsLimit:          res.PidsLimit,
	}
	if res.OomKillDisable {
		t := true
		r.OomKillDisable = &t
	}
	for _, u := range res.Ulimits {
		r.Ulimits = append(r.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, d := range c.Devices {
		target, perms := d.Path, d.Permissions
		if target == "" {
			target = d.HostPath
		}
		if perms == "" {
			perms = "rwm"
		}
		r.Devices = append(r.Devices, container.DeviceMapping{PathOnHost: d.HostPath, PathInContainer: target, CgroupPermissions: perms})
	}
	for _, rule := range c.DeviceRules {
		r.DeviceCgroupRules = append(r.DeviceCgroupRules, rule.String())
	}
	return r
}

// tmpfsMap is the HostConfig map of the tmpfs: entries (the ones with
// options text; tmpfs volumes go through the Mounts API).
func tmpfsMap(ms []runspec.Mount) map[string]string {
	var out map[string]string
	for _, m := range ms {
		if m.Type != runspec.MountTmpfs || m.Tmpfs == nil || !m.Tmpfs.FromKey {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[m.Target] = m.Tmpfs.Options
	}
	return out
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
func networking(n runspec.Network, out *createConfig) {
	if n.Mode != runspec.NetworkAttach || len(n.Attachments) == 0 {
		// host, none, container:<name> or the engine default: the daemon
		// refuses endpoints for these.
		out.Host.NetworkMode = container.NetworkMode(n.Mode)
		return
	}
	first := n.Attachments[0]
	out.Host.NetworkMode = container.NetworkMode(first.Network)
	out.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		first.Network: endpoint(first),
	}}
	out.Connect = n.Attachments[1:]
}

func endpoint(a runspec.Attachment) *network.EndpointSettings {
	ep := &network.EndpointSettings{Aliases: a.Aliases, MacAddress: a.MacAddress}
	if a.IPv4 != "" || a.IPv6 != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.IPv4, IPv6Address: a.IPv6}
	}
	return ep
}
