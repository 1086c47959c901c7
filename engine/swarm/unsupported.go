package swarm

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/versions"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// Problem is something of a service that Swarm cannot honour as
// written, or that would fail on this swarm.
type Problem = engine.ServiceProblem

// Unsupported lists what of s Swarm cannot honour on a daemon speaking
// apiVersion: keys with no Swarm meaning (errors), settings Swarm leaves
// to the node (warnings), and fields the daemon's API version would
// drop (warnings naming the version). compose.Unmapped's keys are not
// repeated here.
func Unsupported(s Service, apiVersion string) []Problem {
	var out []Problem
	c := s.Config
	bad := func(path, msg, hint string) {
		out = append(out, Problem{Service: s.Name, Path: strings.Split(path, "."), Msg: msg, Hint: hint})
	}
	warn := func(path, msg, hint string) {
		out = append(out, Problem{Service: s.Name, Path: strings.Split(path, "."), Msg: msg, Hint: hint, Warning: true})
	}
	older := func(path, what, version string) {
		if versions.LessThan(apiVersion, version) {
			warn(path, fmt.Sprintf("%s needs Engine API %s; the manager speaks %s and would drop it", what, version, apiVersion), "upgrade the swarm's engines, or remove it")
		}
	}

	if emulateJob(c.Deploy.Mode, apiVersion) {
		warn("deploy.mode", fmt.Sprintf("%s runs as a %s service whose tasks are not restarted once they completed: before Engine API %s a swarm never removes a job's tasks and containers (moby/moby#44312); the manager speaks %s",
			c.Deploy.Mode, strings.TrimSuffix(string(c.Deploy.Mode), "-job"), jobsAPI, apiVersion), "")
	}
	if s.ContainerName != "" {
		bad("container_name", "Swarm names a service's tasks itself", "remove container_name")
	}
	if s.Build != nil {
		if why := unpushable(c.Image); why != "" {
			bad("image", "the service has build: and "+why+": every node must pull the built image from a registry", "set image: to REGISTRY/NAME[:TAG], as registry.example.com:5000/"+s.Name)
		}
	}
	if c.Network.Mode != runspec.NetworkAttach {
		bad("network_mode", fmt.Sprintf("network_mode %q has no Swarm equivalent", c.Network.Mode), "use networks: (overlay networks)")
	}
	for _, a := range c.Network.Attachments {
		if a.IPv4 != "" || a.IPv6 != "" {
			bad("networks", "a fixed address (ipv4_address, ipv6_address) cannot be given to a service's tasks", "remove it; tasks find each other by name")
		}
		if a.MacAddress != "" {
			warn("mac_address", "a service's tasks cannot have a fixed MAC address; ignored", "")
		}
	}
	for _, p := range c.Network.Ports {
		if p.HostIP != "" {
			warn("ports", fmt.Sprintf("port %d: Swarm publishes on every address of a node, not on %s", p.ContainerPort, p.HostIP), "remove host_ip")
		}
		if strings.Contains(p.HostPort, "-") {
			bad("ports", fmt.Sprintf("port %d: a published range (%s) cannot be expressed in Swarm", p.ContainerPort, p.HostPort), "publish one port")
		}
	}
	if len(c.Process.Entrypoint) == 0 && c.Process.Entrypoint != nil {
		bad("entrypoint", "an empty entrypoint (clearing the image's) cannot be expressed in Swarm: the image's would run", "give the command in entrypoint:")
	}
	if c.Process.Domainname != "" {
		warn("domainname", "Swarm sets no domain name; ignored", "")
	}
	sec := c.Security
	if sec.Privileged {
		bad("privileged", "Swarm services cannot be privileged", "grant only what is needed with cap_add")
	}
	if len(c.Devices) > 0 {
		bad("devices", "Swarm services cannot be given host devices", "")
	}
	if len(c.DeviceRules) > 0 {
		bad("device_cgroup_rules", "Swarm services cannot be given device rules", "")
	}
	ns := c.Namespaces
	for _, n := range []struct{ key, mode string }{{"pid", ns.PID}, {"ipc", ns.IPC}, {"uts", ns.UTS}, {"userns_mode", ns.UserNS}, {"cgroup", ns.Cgroup}} {
		if n.mode != "" {
			bad(n.key, fmt.Sprintf("%s %q cannot be expressed in Swarm (each task has its own)", n.key, n.mode), "remove it")
		}
	}
	if len(c.VolumesFrom) > 0 {
		bad("volumes_from", "Swarm tasks cannot share another container's volumes", "use a named volume in both services")
	}
	if sec.UnmaskPaths {
		warn("security_opt", "systempaths=unconfined cannot be expressed in Swarm; the paths stay masked", "")
	}
	if sec.Seccomp != "" {
		older("security_opt", "a seccomp profile", "1.44")
	}
	if sec.NoNewPrivileges {
		older("security_opt", "no-new-privileges", "1.44")
	}
	for _, o := range sec.Options {
		warn("security_opt", fmt.Sprintf("%q is not applied by Swarm", o), "")
	}
	r := c.Resources
	for _, k := range []struct {
		key string
		set bool
	}{
		{"cpu_shares", r.CPUShares != 0}, {"cpu_quota", r.CPUQuota != 0}, {"cpu_period", r.CPUPeriod != 0},
		{"cpuset", r.CPUSet != ""}, {"cpu_rt_period", r.CPURealtimePeriod != 0}, {"cpu_rt_runtime", r.CPURealtimeRuntime != 0},
		{"memswap_limit", r.MemorySwap != 0}, {"mem_swappiness", r.MemorySwappiness != nil}, {"oom_kill_disable", r.OomKillDisable},
		{"blkio_config", r.BlkioWeight != 0}, {"cgroup_parent", r.CgroupParent != ""}, {"shm_size", r.ShmSize != 0},
	} {
		if k.set {
			warn(k.key, "Swarm leaves it to the node's defaults; ignored", "use deploy.resources for limits and reservations")
		}
	}
	if r.OomScoreAdj != 0 {
		older("oom_score_adj", "oom_score_adj", "1.46")
	}
	if c.Runtime != "" {
		warn("runtime", "Swarm runs tasks with each node's default runtime; ignored", "")
	}
	if len(c.StorageOpt) > 0 {
		warn("storage_opt", "Swarm cannot set storage options; ignored", "")
	}
	if c.VolumeDriver != "" {
		warn("volume_driver", "Swarm cannot set the driver of anonymous volumes; ignored", "name the volume and give its driver under top-level volumes:")
	}
	if c.Health.Mode == runspec.HealthSet && c.Health.StartInterval != 0 {
		older("healthcheck.start_interval", "healthcheck start_interval", "1.44")
	}
	spread := c.Deploy.Mode == runspec.ModeGlobal || c.Deploy.Mode == runspec.ModeGlobalJob || c.Deploy.Replicas > 1 || len(c.Deploy.Placement.Constraints) == 0
	for _, m := range c.Mounts {
		switch {
		case m.Secret != "" || m.Config != "":
		case m.Type == runspec.MountBind && spread:
			warn("volumes", fmt.Sprintf("bind mount %s: each node binds its own %s (which must exist there)", m.Target, m.Source), "pin the service to one node with deploy.placement.constraints, or use a volume")
		case m.Type == runspec.MountVolume && m.Source != "" && spread:
			warn("volumes", fmt.Sprintf("volume %s: each node has its own volume %q, not shared between tasks", m.Target, m.Source), "pin the service to one node with deploy.placement.constraints, or use a volume driver shared by the nodes")
		}
		if m.Type == runspec.MountVolume && m.Subpath != "" {
			older("volumes", "a volume's subpath", "1.45")
		}
		if m.Type == runspec.MountBind && (m.SELinux != "" || m.Recursive != "") {
			warn("volumes", fmt.Sprintf("bind mount %s: selinux and recursive options are not applied by Swarm", m.Target), "")
		}
		if m.Type == runspec.MountTmpfs && m.Tmpfs != nil && (m.Tmpfs.Exec || strings.Contains(m.Tmpfs.Options, "exec")) {
			warn("tmpfs", fmt.Sprintf("tmpfs %s: exec cannot be set on a Swarm tmpfs; it is mounted noexec", m.Target), "")
		}
	}
	return out
}

// unpushable says why ref cannot be pushed for every node to pull, or "".
// A name with no registry host is Docker Hub's library namespace, which
// no one pushes to, and which is also what a service with build: and no
// image: is called (<project>-<service>).
func unpushable(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Sprintf("image %q is not a reference", ref)
	}
	if reference.Domain(named) == "docker.io" && strings.HasPrefix(reference.Path(named), "library/") {
		return fmt.Sprintf("no image: naming a registry (%q would go to Docker Hub's official images)", ref)
	}
	return ""
}
