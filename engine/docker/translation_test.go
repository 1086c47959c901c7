package docker

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"
	units "github.com/docker/go-units"

	"github.com/hoist-dev/hoist/engine/enginetest/effective"
	"github.com/hoist-dev/hoist/runspec"
)

// inspector reads a container's settings from the Engine's inspect, with
// the daemon's own rules for what it leaves unset (the process's
// environment, the healthcheck's defaults, the tmpfs options), so that
// they read as what runs.
type inspector struct{ b *Backend }

func (i inspector) Inspect(ctx context.Context, id string) (effective.View, error) {
	c, err := i.b.api.ContainerInspect(ctx, id)
	if err != nil {
		return effective.View{}, err
	}
	v := effective.View{ID: c.ID, Blind: map[string]string{}}
	if versions.LessThan(i.b.api.ClientVersion(), "1.44") {
		v.Blind["Health.StartInterval"] = fmt.Sprintf("the Engine's API %s has no start_interval: the daemon does not apply it", i.b.api.ClientVersion())
	}
	cfg, host := c.Config, c.HostConfig
	var s effective.Settings
	s.Args = append([]string{c.Path}, c.Args...)
	s.Env = processEnv(cfg)
	s.User, s.Cwd, s.Hostname = cfg.User, cfg.WorkingDir, cfg.Hostname
	if s.Cwd == "" {
		s.Cwd = "/"
	}
	s.Restart = string(host.RestartPolicy.Name)
	if s.Restart == "" {
		s.Restart = "no"
	}
	if n := host.RestartPolicy.MaximumRetryCount; n > 0 {
		s.Restart += ":" + strconv.Itoa(n)
	}
	s.Memory, s.NanoCPUs = host.Memory, host.NanoCPUs
	if p := host.PidsLimit; p != nil && *p > 0 {
		s.PidsLimit = *p
	}
	for _, u := range host.Ulimits {
		s.Ulimits = append(s.Ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	slices.Sort(s.Ulimits)
	s.ShmSize = host.ShmSize
	if s.ShmSize == 0 {
		s.ShmSize = 64 << 20
	}
	s.Caps = effective.EffectiveCaps(host.CapAdd, host.CapDrop, host.Privileged)
	s.Seccomp = !host.Privileged
	for _, o := range host.SecurityOpt {
		switch strings.ReplaceAll(o, "=", ":") {
		case "no-new-privileges", "no-new-privileges:true":
			s.NoNewPrivs = true
		case "seccomp:unconfined":
			s.Seccomp = false
		}
	}
	s.MaskedPaths = len(host.MaskedPaths) > 0
	s.ReadonlyRootfs = host.ReadonlyRootfs
	if s.Mounts, err = inspectMounts(c); err != nil {
		return v, err
	}
	for k, val := range host.Sysctls {
		s.Sysctls = append(s.Sysctls, k+"="+val)
	}
	slices.Sort(s.Sysctls)
	if hc := cfg.Healthcheck; hc != nil {
		s.Health = effective.HealthWithDefaults(&effective.Health{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, StartInterval: hc.StartInterval, Retries: hc.Retries})
	}
	s.StopSignal = cfg.StopSignal
	if s.StopSignal == "" {
		s.StopSignal = "SIGTERM"
	}
	s.StopTimeout = runspec.DefaultGracePeriod
	if t := cfg.StopTimeout; t != nil {
		s.StopTimeout = time.Duration(*t) * time.Second
	}
	s.Init = host.Init != nil && *host.Init
	s.TTY, s.StdinOpen = cfg.Tty, cfg.OpenStdin
	s.Labels = map[string]string{}
	for k, val := range cfg.Labels {
		if !strings.HasPrefix(k, "com.docker.compose.") && !strings.HasPrefix(k, "dev.hoist.") {
			s.Labels[k] = val
		}
	}
	for port, bs := range host.PortBindings {
		for _, b := range bs {
			hp := b.HostPort
			if hp == "" {
				hp = "0"
			}
			s.Ports = append(s.Ports, fmt.Sprintf("%s:%s->%s", b.HostIP, hp, port))
		}
	}
	slices.Sort(s.Ports)
	if c.NetworkSettings != nil {
		for _, name := range slices.Sorted(maps.Keys(c.NetworkSettings.Networks)) {
			for _, a := range c.NetworkSettings.Networks[name].Aliases {
				s.Aliases = append(s.Aliases, name+":"+a)
			}
		}
	}
	if s.Log, err = logOptions(host.LogConfig.Config); err != nil {
		return v, err
	}
	v.Settings = s
	return v, nil
}

// processEnv is the environment the daemon gives the container's process:
// PATH, HOSTNAME and (with a terminal) TERM, replaced by the configured
// variables, a bare name removing one.
func processEnv(cfg *container.Config) []string {
	env := map[string]string{"PATH": runspec.DefaultPath}
	if cfg.Tty {
		env["TERM"] = "xterm"
	}
	for _, kv := range cfg.Env {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			delete(env, k)
			continue
		}
		env[k] = val
	}
	var out []string
	for k, val := range env {
		if k != "HOSTNAME" && k != "HOME" {
			out = append(out, k+"="+val)
		}
	}
	slices.Sort(out)
	return out
}

// inspectMounts are the container's mounts: its tmpfs (with the options the
// daemon mounts them with) and the directories bound in (binds and
// volumes, the image's anonymous ones included).
func inspectMounts(c container.InspectResponse) ([]effective.Mount, error) {
	byTarget := map[string]effective.Mount{}
	for _, m := range c.Mounts {
		if m.Type == "tmpfs" {
			continue
		}
		byTarget[m.Destination] = effective.Mount{Target: m.Destination, Kind: "dir", ReadOnly: !m.RW}
	}
	for target, opts := range c.HostConfig.Tmpfs {
		m, err := tmpfsOptions(target, opts)
		if err != nil {
			return nil, err
		}
		byTarget[target] = m
	}
	for _, m := range c.HostConfig.Mounts {
		if m.Type != "tmpfs" {
			continue
		}
		var size int64
		var mode uint32
		if o := m.TmpfsOptions; o != nil {
			// compose sends the mode's bits as a number (0o1770), which
			// the daemon renders with %o.
			size, mode = o.SizeBytes, uint32(o.Mode&0o7777)
			if o.Mode&os.ModeSticky != 0 {
				mode |= 0o1000
			}
		}
		byTarget[filepath.Clean(m.Target)] = effective.TmpfsMount(filepath.Clean(m.Target), m.ReadOnly, false, size, mode)
	}
	var out []effective.Mount
	for _, t := range slices.Sorted(maps.Keys(byTarget)) {
		out = append(out, byTarget[t])
	}
	return out, nil
}

// tmpfsOptions reads a HostConfig.Tmpfs entry as the daemon mounts it:
// noexec, nosuid and nodev, then the options given.
func tmpfsOptions(target, opts string) (effective.Mount, error) {
	var ro, exec bool
	var size int64
	var mode uint32
	var uid, gid int
	for _, o := range strings.Split(opts, ",") {
		k, val, _ := strings.Cut(o, "=")
		switch k {
		case "ro":
			ro = true
		case "rw":
			ro = false
		case "exec":
			exec = true
		case "noexec":
			exec = false
		case "size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return effective.Mount{}, fmt.Errorf("tmpfs %s size %q: %w", target, val, err)
			}
			size = n
		case "mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return effective.Mount{}, fmt.Errorf("tmpfs %s mode %q: %w", target, val, err)
			}
			mode = uint32(n)
		case "uid":
			uid, _ = strconv.Atoi(val)
		case "gid":
			gid, _ = strconv.Atoi(val)
		}
	}
	m := effective.TmpfsMount(target, ro, exec, size, mode)
	m.UID, m.GID = uid, gid
	return m, nil
}

func logOptions(opts map[string]string) (effective.Log, error) {
	var l effective.Log
	if v, ok := opts["max-size"]; ok {
		n, err := units.RAMInBytes(v)
		if err != nil {
			return l, fmt.Errorf("log max-size %q: %w", v, err)
		}
		l.MaxSize = n
	}
	if v, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return l, fmt.Errorf("log max-file %q: %w", v, err)
		}
		l.MaxFiles = n
	}
	l.NonBlocking = opts["mode"] == "non-blocking"
	return l, nil
}
