package native

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/devicerule"
	"github.com/hoist-dev/hoist/internal/logopts"
	"github.com/hoist-dev/hoist/netplan"
)

// CreateContainer resolves the image, merges its config with the service
// and records the container. Nothing is mounted or started; named volumes
// that do not exist yet are created (as Docker does), anonymous ones are
// created for the container.
func (b *Backend) CreateContainer(ctx context.Context, spec engine.ContainerSpec) (string, error) {
	r, _, err := b.newRecord(ctx, spec)
	if err != nil {
		return "", err
	}
	if err := b.createRecord(ctx, r, spec); err != nil {
		return "", err
	}
	return r.ID, nil
}

// newRecord checks spec and makes its container's record, with a new ID,
// from the service and its image, which it returns too. Nothing is written.
func (b *Backend) newRecord(ctx context.Context, spec engine.ContainerSpec) (*record, *image.Image, error) {
	if err := checkName("container", spec.Name); err != nil {
		return nil, nil, err
	}
	if spec.Project == "" || checkName("project", spec.Project) != nil {
		return nil, nil, fmt.Errorf("create container %q: invalid project name %q", spec.Name, spec.Project)
	}
	ref := spec.Image
	if ref == "" {
		ref = spec.Service.Image
	}
	img, err := b.store.Resolve(ctx, ref)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil, fmt.Errorf("create container %q: image %s not found in the native store: hoist pull %s or hoist image load: %w", spec.Name, ref, ref, engine.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	id := newID()
	r := &record{
		ID: id, Name: spec.Name, Project: spec.Project, Service: spec.Service.Name,
		Number: spec.Number, OneOff: spec.OneOff, Image: ref, ImageID: img.ID, Layers: img.Layers,
		Created: time.Now().UTC(),
	}
	r.Labels = maps.Clone(spec.Service.Labels)
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	maps.Copy(r.Labels, spec.Labels)
	r.Labels[engine.LabelEngine] = "native"
	if err := buildSpec(r, spec, img); err != nil {
		return nil, nil, fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	if err := b.net.check(r); err != nil {
		return nil, nil, fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	return r, img, nil
}

// createRecord writes the container of r: its name, writable layer (with
// spec's files), volumes and config.json; on failure it undoes all.
func (b *Backend) createRecord(ctx context.Context, r *record, spec engine.ContainerSpec) error {
	id := r.ID
	if err := b.reserveName(spec.Name, spec.Project, id); err != nil {
		return err
	}
	fail := func(err error) error {
		b.removeAnonymous(r)
		_ = b.layout().RemoveRecord(spec.Project, id, spec.Name)
		return fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	if err := b.layout().CreateLayer(id); err != nil {
		return fail(err)
	}
	if err := writeFiles(filepath.Join(b.layerDir(id), "upper"), r.Layers, spec.Files); err != nil {
		return fail(err)
	}
	if err := b.prepareVolumes(ctx, r, spec); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(b.stateDir(spec.Project, id), 0o700); err != nil {
		return fail(err)
	}
	if err := writeJSON(filepath.Join(b.stateDir(spec.Project, id), configFile), r); err != nil {
		return fail(err)
	}
	if b.onCreate != nil {
		b.onCreate(id)
	}
	return nil
}

// buildSpec merges the image config with the service into r.Spec and the
// other run settings of r. Volumes are added by prepareVolumes.
func buildSpec(r *record, spec engine.ContainerSpec, img *image.Image) error {
	svc := spec.Service
	cfg := img.Config.Config

	entrypoint := cfg.Entrypoint
	cmd := cfg.Cmd
	if svc.Entrypoint != nil {
		// As in Docker, a new entrypoint drops the image's command.
		entrypoint, cmd = svc.Entrypoint, nil
	}
	switch {
	case spec.Cmd != nil:
		cmd = spec.Cmd
	case svc.Command != nil:
		cmd = svc.Command
	}
	args := append(slices.Clone(entrypoint), cmd...)
	if len(args) == 0 {
		return errors.New("no command: the image has no entrypoint or cmd and the service sets none")
	}

	if l := svc.Logging; l != nil && logopts.FileDriver(l.Driver) {
		opts, err := logopts.Parse(l.Driver, l.Options)
		if err != nil {
			return err
		}
		r.Log = opts
	}

	s := runtime.Spec{ID: r.ID, Args: args}
	s.Hostname = svc.Hostname
	if s.Hostname == "" {
		s.Hostname = r.ID[:12]
	}
	s.Env = mergeEnv(cfg.Env, svc.Environment, s.Hostname)
	s.Cwd = firstNonEmpty(svc.WorkingDir, cfg.WorkingDir)
	s.User = firstNonEmpty(svc.User, cfg.User)
	s.GroupAdd = slices.Clone(svc.GroupAdd)
	s.Init = svc.Init != nil && *svc.Init
	if svc.Tty {
		// Docker's default size for a container's terminal.
		s.TTY, s.Size = true, runtime.WinSize{Rows: 24, Cols: 80}
	}
	r.StdinOpen = svc.StdinOpen

	s.Security = runtime.Security{Privileged: svc.Privileged, CapAdd: svc.CapAdd, CapDrop: svc.CapDrop}
	for _, opt := range svc.SecurityOpt {
		k, v, _ := strings.Cut(strings.ReplaceAll(opt, "=", ":"), ":")
		switch {
		case k == "no-new-privileges" && (v == "" || v == "true"):
			s.Security.NoNewPrivileges = true
		case k == "seccomp" && v == "unconfined":
			s.Security.SeccompUnconfined = true
		}
	}
	s.ReadonlyRootfs = svc.ReadOnly
	if len(svc.Sysctls) > 0 {
		s.Sysctls = maps.Clone(map[string]string(svc.Sysctls))
	}
	for _, name := range slices.Sorted(maps.Keys(svc.Ulimits)) {
		u := svc.Ulimits[name]
		if u == nil {
			continue
		}
		soft, hard := u.Soft, u.Hard
		if u.Single != 0 {
			soft, hard = u.Single, u.Single
		}
		s.Ulimits = append(s.Ulimits, runtime.Ulimit{Name: name, Soft: uint64(soft), Hard: uint64(hard)})
	}
	s.ShmSize = int64(svc.ShmSize)
	s.Resources = runtime.Resources{
		MemoryBytes: int64(svc.MemLimit),
		NanoCPUs:    int64(float64(svc.CPUS) * 1e9),
		PidsLimit:   svc.PidsLimit,
	}
	if svc.Deploy != nil && svc.Deploy.Resources.Limits != nil {
		l := svc.Deploy.Resources.Limits
		if l.MemoryBytes != 0 {
			s.Resources.MemoryBytes = int64(l.MemoryBytes)
		}
		if l.NanoCPUs != 0 {
			s.Resources.NanoCPUs = int64(float64(l.NanoCPUs) * 1e9)
		}
		if l.Pids != 0 {
			s.Resources.PidsLimit = l.Pids
		}
	}
	for _, d := range svc.Devices {
		s.Devices = append(s.Devices, runtime.Device{HostPath: d.Source, Path: d.Target, Access: d.Permissions})
	}
	for _, text := range svc.DeviceCgroupRules {
		rule, err := devicerule.Parse(text)
		if err != nil {
			return fmt.Errorf("device_cgroup_rules: %w", err)
		}
		s.DeviceRules = append(s.DeviceRules, rule)
	}
	for _, t := range svc.Tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			return err
		}
		s.Mounts = append(s.Mounts, m)
	}
	r.Spec = s

	r.StopSignal = firstNonEmpty(svc.StopSignal, img.Config.Config.StopSignal)
	if svc.StopGracePeriod != nil {
		d := time.Duration(*svc.StopGracePeriod)
		r.StopTimeout = &d
	}
	r.Healthcheck = mergeHealthcheck(svc.HealthCheck, cfg.Healthcheck)
	if spec.OneOff {
		// As docker compose run, a one-off container is never restarted.
		r.Restart = ""
	} else {
		pol, err := restartPolicy(svc)
		if err != nil {
			return err
		}
		r.Restart = pol
	}

	switch mode := svc.NetworkMode; {
	case mode == "" || mode == "bridge" || mode == "default":
		for _, n := range spec.Networks {
			r.Networks = append(r.Networks, n)
		}
		slices.SortFunc(r.Networks, func(a, b engine.NetworkAttachment) int { return strings.Compare(a.Name, b.Name) })
	case mode == "none" || mode == "host" || strings.HasPrefix(mode, "container:"):
		r.NetworkMode = mode
		if mode == "host" && svc.Hostname == "" {
			// As in Docker, a host-network container has the host's name.
			if h, err := os.Hostname(); err == nil {
				r.Spec.Hostname = h
			}
		}
	default:
		return fmt.Errorf("network_mode %q: %w by the native engine", mode, engine.ErrNotImplemented)
	}
	r.ExtraHosts = svc.ExtraHosts.AsList("=")
	slices.Sort(r.ExtraHosts)
	r.DNS = etcfiles.DNS{Nameservers: svc.DNS, Search: svc.DNSSearch, Options: svc.DNSOpts}
	if len(svc.Ports) > 0 && bridged(r) {
		ports, err := containerPorts(svc)
		if err != nil {
			return err
		}
		r.Ports = ports
	}
	return nil
}

// containerPorts are the published ports of one container of svc, checked
// and sorted by netplan; a host port range stays a range, resolved at
// start. Ports of a container not on a compose network (host, none,
// container:<x>) are not published, as Docker ignores them.
func containerPorts(svc types.ServiceConfig) ([]netplan.Binding, error) {
	one := svc
	n := 1
	one.Scale, one.Deploy = &n, nil
	bs, err := netplan.Ports(&types.Project{Services: types.Services{svc.Name: one}})
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		if b.Protocol != "tcp" && b.Protocol != "udp" {
			return nil, fmt.Errorf("port %s: protocol %s: %w by the native engine (tcp, udp)", b, b.Protocol, engine.ErrNotImplemented)
		}
	}
	return bs, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// mergeEnv returns the image's environment overridden by the service's
// (entries without a value are unset variables and left out), with PATH
// and HOSTNAME as Docker sets them.
func mergeEnv(imageEnv []string, svcEnv types.MappingWithEquals, hostname string) []string {
	var keys []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	set("HOSTNAME", hostname)
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, k := range slices.Sorted(maps.Keys(svcEnv)) {
		if v := svcEnv[k]; v != nil {
			set(k, *v)
		}
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+vals[k])
	}
	return out
}

// mergeHealthcheck returns the service's healthcheck completed by the
// image's, or nil when there is none or it is disabled.
func mergeHealthcheck(svc *types.HealthCheckConfig, img *v1.HealthConfig) *types.HealthCheckConfig {
	var out types.HealthCheckConfig
	if img != nil {
		out.Test = slices.Clone(img.Test)
		dur := func(d time.Duration) *types.Duration {
			if d == 0 {
				return nil
			}
			v := types.Duration(d)
			return &v
		}
		out.Interval, out.Timeout, out.StartPeriod = dur(img.Interval), dur(img.Timeout), dur(img.StartPeriod)
		if img.Retries != 0 {
			n := uint64(img.Retries)
			out.Retries = &n
		}
	}
	if svc != nil {
		if svc.Disable {
			return nil
		}
		if len(svc.Test) > 0 {
			out.Test = svc.Test
		}
		if svc.Interval != nil {
			out.Interval = svc.Interval
		}
		if svc.Timeout != nil {
			out.Timeout = svc.Timeout
		}
		if svc.StartPeriod != nil {
			out.StartPeriod = svc.StartPeriod
		}
		if svc.StartInterval != nil {
			out.StartInterval = svc.StartInterval
		}
		if svc.Retries != nil {
			out.Retries = svc.Retries
		}
	}
	if len(out.Test) == 0 || out.Test[0] == "NONE" {
		return nil
	}
	return &out
}

// parseTmpfs parses a service tmpfs entry: "/path" or
// "/path:size=64m,mode=1770".
func parseTmpfs(s string) (runtime.Mount, error) {
	target, opts, _ := strings.Cut(s, ":")
	m := runtime.Mount{Type: runtime.MountTmpfs, Target: target}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "":
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return m, fmt.Errorf("tmpfs %q: size: %w", s, err)
			}
			m.TmpfsSize = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return m, fmt.Errorf("tmpfs %q: mode: %w", s, err)
			}
			m.TmpfsMode = uint32(n)
		case "ro":
			m.ReadOnly = true
		case "exec":
			m.TmpfsExec = true
		case "noexec":
			m.TmpfsExec = false
		case "rw", "nosuid", "suid", "nodev", "dev":
			// nosuid and nodev are always applied.
		default:
			return m, fmt.Errorf("tmpfs %q: option %q: %w by the native engine", s, k, engine.ErrNotImplemented)
		}
	}
	return m, nil
}
