package native

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine/enginetest/effective"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/runspec"
)

// inspector reads a container's settings from the native engine's
// record: what it decided at create and applies at each start.
type inspector struct{ b *Backend }

func (i inspector) Inspect(ctx context.Context, id string) (effective.View, error) {
	r, err := i.b.layout.LoadRef(id)
	if err != nil {
		return effective.View{}, err
	}
	v := effective.View{ID: r.ID}
	sp := r.Spec
	var s effective.Settings
	s.Args = slices.Clone(sp.Args)
	for _, kv := range sp.Env {
		if k, _, _ := strings.Cut(kv, "="); k != "HOSTNAME" && k != "HOME" {
			s.Env = append(s.Env, kv)
		}
	}
	slices.Sort(s.Env)
	s.User, s.Cwd, s.Hostname = sp.User, sp.Cwd, sp.Hostname
	if s.Cwd == "" {
		s.Cwd = "/"
	}
	s.Restart = r.Restart
	if s.Restart == "" {
		s.Restart = "no"
	}
	s.Memory, s.NanoCPUs, s.PidsLimit = sp.Resources.MemoryBytes, sp.Resources.NanoCPUs, max(sp.Resources.PidsLimit, 0)
	for _, u := range sp.Ulimits {
		s.Ulimits = append(s.Ulimits, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
	}
	slices.Sort(s.Ulimits)
	s.ShmSize = sp.ShmSize
	if s.ShmSize == 0 {
		s.ShmSize = 64 << 20
	}
	sec := sp.Security
	s.Caps = effective.EffectiveCaps(sec.CapAdd, sec.CapDrop, sec.Privileged)
	s.NoNewPrivs, s.Seccomp = sec.NoNewPrivileges, !sec.SeccompUnconfined && !sec.Privileged
	// nil is the runtime's default list.
	s.MaskedPaths = !sec.Privileged && (sp.MaskedPaths == nil || len(sp.MaskedPaths) > 0)
	s.ReadonlyRootfs = sp.ReadonlyRootfs
	for _, m := range sp.Mounts {
		switch m.Type {
		case runtime.MountTmpfs:
			tm := effective.TmpfsMount(m.Target, m.ReadOnly, m.TmpfsExec, m.TmpfsSize, m.TmpfsMode)
			tm.UID, tm.GID = m.TmpfsUID, m.TmpfsGID
			s.Mounts = append(s.Mounts, tm)
		default:
			s.Mounts = append(s.Mounts, effective.Mount{Target: m.Target, Kind: "dir", ReadOnly: m.ReadOnly})
		}
	}
	slices.SortFunc(s.Mounts, func(a, b effective.Mount) int { return strings.Compare(a.Target, b.Target) })
	for k, val := range sp.Sysctls {
		s.Sysctls = append(s.Sysctls, k+"="+val)
	}
	slices.Sort(s.Sysctls)
	if hc := r.Healthcheck; hc != nil {
		h := &effective.Health{Test: hc.Test, Interval: time.Duration(hc.Interval), Timeout: time.Duration(hc.Timeout),
			StartPeriod: time.Duration(hc.StartPeriod), StartInterval: time.Duration(hc.StartInterval), Retries: int(hc.Retries)}
		s.Health = effective.HealthWithDefaults(h)
	}
	s.StopSignal = r.StopSignal
	s.StopTimeout = runspec.DefaultGracePeriod
	if r.StopTimeout != nil {
		s.StopTimeout = *r.StopTimeout
	}
	s.Init, s.TTY, s.StdinOpen = sp.Init, sp.TTY, r.StdinOpen
	s.Labels = map[string]string{}
	for k, val := range r.Labels {
		if !strings.HasPrefix(k, "com.docker.compose.") && !strings.HasPrefix(k, "dev.hoist.") {
			s.Labels[k] = val
		}
	}
	for _, p := range r.Ports {
		s.Ports = append(s.Ports, fmt.Sprintf("%s:%d->%d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Protocol))
	}
	slices.Sort(s.Ports)
	for _, n := range r.Networks {
		for _, a := range n.Aliases {
			s.Aliases = append(s.Aliases, n.Name+":"+a)
		}
	}
	s.Log = effective.Log{MaxSize: r.Log.MaxSize, MaxFiles: r.Log.MaxFiles, NonBlocking: r.Log.NonBlocking}
	v.Settings = s
	return v, nil
}
