package compose

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// This file holds what hoist must know of docker compose v5's own view of a
// service to agree with it byte for byte: docker compose v5.5.0 is built
// with compose-go v2.14, whose service type lists its fields in another
// order than the compose-go hoist loads with (v2.16 groups them into
// ContainerSpec and WorkloadSpec), and whose pre_start hooks are the short
// form (a command with an image, user and environment) instead of a whole
// container specification inheriting the service's. Both the config hash
// (a sha256 of the service's JSON) and `config`'s output depend on that
// order and shape.

// dockerComposeServiceKeys are the keys of a service, in the order docker
// compose v5 writes them (compose-go v2.14's ServiceConfig). Keys that
// only hoist's compose-go knows (pull_refresh_after, umask) sit next to
// their neighbours: docker compose v5 refuses a file that sets them.
var dockerComposeServiceKeys = []string{
	"name", "profiles", "annotations", "attach", "build", "develop", "blkio_config",
	"cap_add", "cap_drop", "cgroup_parent", "cgroup", "cpu_count", "cpu_percent",
	"cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpus", "cpuset",
	"cpu_shares", "command", "configs", "container_name", "credential_spec",
	"depends_on", "deploy", "device_cgroup_rules", "devices", "dns", "dns_opt",
	"dns_search", "dockerfile", "domainname", "entrypoint", "provider", "environment",
	"env_file", "expose", "extends", "external_links", "extra_hosts", "group_add",
	"gpus", "hostname", "healthcheck", "image", "init", "ipc", "isolation", "labels",
	"label_file", "links", "logging", "log_driver", "log_opt", "mem_limit",
	"mem_reservation", "memswap_limit", "mem_swappiness", "mac_address", "models",
	"net", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid",
	"pids_limit", "platform", "ports", "privileged", "pull_policy",
	"pull_refresh_after", "read_only", "restart", "runtime", "scale", "secrets",
	"security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
	"storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "umask", "use_api_socket",
	"user", "userns_mode", "uts", "volume_driver", "volumes", "volumes_from",
	"working_dir", "pre_start", "post_start", "pre_stop",
}

var dockerComposeKeyRank = func() map[string]int {
	m := make(map[string]int, len(dockerComposeServiceKeys))
	for i, k := range dockerComposeServiceKeys {
		m[k] = i
	}
	return m
}()

// orderServiceKeys sorts keys into docker compose's order; keys it does
// not know (x-* extensions) keep their order, after the known ones.
func orderServiceKeys(keys []string) []string {
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b string) int {
		ra, oka := dockerComposeKeyRank[a]
		rb, okb := dockerComposeKeyRank[b]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	return out
}

// shortPreStartHook is a pre_start hook as docker compose v5 models it.
type shortPreStartHook struct {
	Command     types.ShellCommand      `yaml:"command,omitempty" json:"command"`
	Image       string                  `yaml:"image,omitempty" json:"image,omitempty"`
	User        string                  `yaml:"user,omitempty" json:"user,omitempty"`
	Privileged  bool                    `yaml:"privileged,omitempty" json:"privileged,omitempty"`
	WorkingDir  string                  `yaml:"working_dir,omitempty" json:"working_dir,omitempty"`
	Environment types.MappingWithEquals `yaml:"environment,omitempty" json:"environment,omitempty"`
	PerReplica  bool                    `yaml:"per_replica,omitempty" json:"per_replica,omitempty"`
}

// shortPreStart turns s's pre_start hooks back into docker compose v5's
// form. hoist's compose-go completes each hook with the service's own
// settings (user, working_dir, environment ...) where docker compose's
// inherits only the image, so a value equal to the service's is taken as
// inherited and left out: a hook that repeats its service's user is the
// one case this cannot tell apart.
func shortPreStart(s types.ServiceConfig) []shortPreStartHook {
	if len(s.PreStart) == 0 {
		return nil
	}
	out := make([]shortPreStartHook, 0, len(s.PreStart))
	for _, h := range s.PreStart {
		sh := shortPreStartHook{Command: h.Command, Image: h.Image, PerReplica: h.PerReplica}
		if h.User != s.User {
			sh.User = h.User
		}
		if h.Privileged != s.Privileged {
			sh.Privileged = h.Privileged
		}
		if h.WorkingDir != s.WorkingDir {
			sh.WorkingDir = h.WorkingDir
		}
		for k, v := range h.Environment {
			if sv, ok := s.Environment[k]; ok && equalValue(sv, v) {
				continue
			}
			if sh.Environment == nil {
				sh.Environment = types.MappingWithEquals{}
			}
			sh.Environment[k] = v
		}
		out = append(out, sh)
	}
	return out
}

func equalValue(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// dockerComposeServiceJSON is s encoded as docker compose v5 encodes its
// service (compact JSON, its key order, its pre_start form).
func dockerComposeServiceJSON(s types.ServiceConfig) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	if _, ok := fields["pre_start"]; ok {
		if fields["pre_start"], err = json.Marshal(shortPreStart(s)); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for i, k := range orderServiceKeys(slices.Sorted(maps.Keys(fields))) {
		if i > 0 {
			out.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		out.Write(key)
		out.WriteByte(':')
		out.Write(fields[k])
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// ContainerOf names the container a "service:NAME" reference of a service
// resolves to (NAME's first container by name); ok is false when NAME has
// none.
type ContainerOf func(service string) (id string, ok bool)

// A Hasher computes the config hash an engine's containers carry, which
// decides whether a container is recreated.
type Hasher func(s types.ServiceConfig, containerOf ContainerOf) (string, error)

// HoistHasher is hoist's versioned hash (ServiceHash), for engines docker
// compose does not manage (native).
func HoistHasher(s types.ServiceConfig, _ ContainerOf) (string, error) { return ServiceHash(s) }

// DockerComposeHash is the config hash docker compose v5 gives a
// service's containers, so that on the Docker Engine each tool finds the
// other's containers up to date. Like docker compose, it leaves out the
// fields that never need a recreate (build, pull_policy, scale,
// deploy.replicas, depends_on, profiles) and hashes the service with its
// references to other services (network_mode, ipc, pid: service:NAME, and
// volumes_from) replaced by the IDs of their containers, which
// containerOf gives; where one has no container the references from there
// on stay as written, as docker compose leaves them.
func DockerComposeHash(s types.ServiceConfig, containerOf ContainerOf) (string, error) {
	s = withContainerRefs(s, containerOf)
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	b, err := dockerComposeServiceJSON(s)
	if err != nil {
		return "", fmt.Errorf("hash service %q: %w", s.Name, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// withContainerRefs resolves s's references to other services' containers
// in docker compose's order (volumes_from first, then network_mode, ipc
// and pid), stopping at the first that has no container.
func withContainerRefs(s types.ServiceConfig, containerOf ContainerOf) types.ServiceConfig {
	if containerOf == nil {
		containerOf = func(string) (string, bool) { return "", false }
	}
	if len(s.VolumesFrom) > 0 {
		vf := slices.Clone(s.VolumesFrom)
		s.VolumesFrom = vf
		for i, v := range vf {
			parts := strings.Split(v, ":")
			if parts[0] == "container" {
				if len(parts) > 1 {
					vf[i] = parts[1]
				}
				continue
			}
			id, ok := containerOf(parts[0])
			if !ok {
				return s
			}
			vf[i] = id
		}
	}
	for _, mode := range []*string{&s.NetworkMode, &s.Ipc, &s.Pid} {
		name, ok := strings.CutPrefix(*mode, types.ServicePrefix)
		if !ok {
			continue
		}
		id, ok := containerOf(name)
		if !ok {
			return s
		}
		*mode = types.ContainerPrefix + id
	}
	return s
}
