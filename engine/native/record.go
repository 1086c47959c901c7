package native

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/logopts"
	"github.com/hoist-dev/hoist/internal/userns"
	"github.com/hoist-dev/hoist/netplan"
	"github.com/hoist-dev/hoist/runspec"
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
func (b *Backend) newRecord(ctx context.Context, spec engine.ContainerSpec) (*store.Record, *image.Image, error) {
	if err := store.CheckName("container", spec.Name); err != nil {
		return nil, nil, err
	}
	if spec.Project == "" || store.CheckName("project", spec.Project) != nil {
		return nil, nil, fmt.Errorf("create container %q: invalid project name %q", spec.Name, spec.Project)
	}
	ref := spec.Config.Image
	img, err := b.store.Resolve(ctx, ref)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil, fmt.Errorf("create container %q: image %s not found in the native store: hoist pull %s or hoist image load: %w", spec.Name, ref, ref, engine.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	id := store.NewID()
	r := &store.Record{
		ID: id, Name: spec.Name, Project: spec.Project, Service: spec.Service,
		Number: spec.Number, OneOff: spec.OneOff, Image: ref, ImageID: img.ID, Layers: img.Layers,
		Created: time.Now().UTC(),
	}
	r.Labels = maps.Clone(spec.Config.Labels)
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	r.Labels[engine.LabelEngine] = "native"
	if err := buildSpec(r, spec, img); err != nil {
		return nil, nil, fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	if err := b.nets.Check(r); err != nil {
		return nil, nil, fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	return r, img, nil
}

// createRecord writes the container of r: its name, writable layer (with
// spec's files), volumes and config.json; on failure it undoes all.
func (b *Backend) createRecord(ctx context.Context, r *store.Record, spec engine.ContainerSpec) error {
	id := r.ID
	if err := b.layout.ReserveName(spec.Name, spec.Project, id); err != nil {
		return err
	}
	fail := func(err error) error {
		b.vols.RemoveAnonymous(r)
		_ = b.layout.RemoveRecord(spec.Project, id, spec.Name)
		return fmt.Errorf("create container %q: %w", spec.Name, err)
	}
	if err := b.layout.CreateLayer(id); err != nil {
		return fail(err)
	}
	if err := b.layout.WriteFiles(id, r.Layers, spec.Config.Files); err != nil {
		return fail(err)
	}
	if err := b.prepareVolumes(ctx, r, spec); err != nil {
		return fail(err)
	}
	if err := b.layout.WriteRecord(r); err != nil {
		return fail(err)
	}
	if b.onCreate != nil {
		b.onCreate(id)
	}
	return nil
}

// prepareVolumes turns the service's mounts, and the image's VOLUMEs they
// do not cover, into r's mounts (volume.Store.Prepare).
func (b *Backend) prepareVolumes(ctx context.Context, r *store.Record, spec engine.ContainerSpec) error {
	var imageVolumes []string
	if img, err := b.store.Resolve(ctx, r.ImageID); err == nil {
		for t := range img.Config.Config.Volumes {
			imageVolumes = append(imageVolumes, t)
		}
	}
	return b.vols.Prepare(r, spec.Config.Mounts, imageVolumes, spec.ProjectDir)
}

// buildSpec merges the image's configuration into the container's
// (runspec.MergeImage, the Docker daemon's rules) and maps the result to
// r.Spec and r's other run settings. Volumes are added by prepareVolumes.
func buildSpec(r *store.Record, spec engine.ContainerSpec, img *image.Image) error {
	c := spec.Config
	pr := c.Process
	hostname := pr.Hostname
	if hostname == "" {
		hostname = r.ID[:12]
		if c.Network.Mode == runspec.NetworkHost {
			// As in Docker, a host-network container has the host's name.
			if h, err := os.Hostname(); err == nil {
				hostname = h
			}
		}
	}
	m, err := runspec.MergeImage(c, imageConfig(img), hostname)
	if err != nil {
		return err
	}
	// The image's labels under the container's, as the Docker daemon
	// labels a container.
	for k, v := range m.Labels {
		if _, ok := r.Labels[k]; !ok {
			r.Labels[k] = v
		}
	}
	if l := c.Logging; logopts.FileDriver(l.Driver) {
		opts, err := logopts.Parse(l.Driver, l.Options)
		if err != nil {
			return err
		}
		r.Log = opts
	}

	s := runtime.Spec{ID: r.ID, Args: m.Args, Env: m.Env, Hostname: hostname}
	s.Cwd, s.User = m.WorkingDir, m.User
	if c.Namespaces.UserNS == "keep-id" {
		u, err := keepIDUser(spec.Service)
		if err != nil {
			return err
		}
		// As podman's keep-id does: the process runs as the user's ids
		// unless the service names a user.
		if pr.User == "" {
			s.User = u
		}
	}
	s.GroupAdd = slices.Clone(pr.GroupAdd)
	s.Init = pr.Init != nil && *pr.Init
	if pr.TTY {
		// Docker's default size for a container's terminal.
		s.TTY, s.Size = true, runtime.WinSize{Rows: 24, Cols: 80}
	}
	r.StdinOpen = pr.StdinOpen

	sec := c.Security
	s.Security = runtime.Security{Privileged: sec.Privileged, CapAdd: sec.CapAdd, CapDrop: sec.CapDrop,
		NoNewPrivileges: sec.NoNewPrivileges, SeccompUnconfined: sec.Seccomp == "unconfined"}
	s.ReadonlyRootfs = sec.ReadonlyRootfs
	if sec.UnmaskPaths {
		s.MaskedPaths, s.ReadonlyPaths = []string{}, []string{}
	}
	if len(sec.Sysctls) > 0 {
		s.Sysctls = maps.Clone(sec.Sysctls)
	}
	res := c.Resources
	for _, u := range res.Ulimits {
		s.Ulimits = append(s.Ulimits, runtime.Ulimit{Name: u.Name, Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
	}
	s.ShmSize = res.ShmSize
	s.Resources = runtime.Resources{MemoryBytes: res.MemoryLimit, MemorySwapBytes: res.MemorySwap, NanoCPUs: res.NanoCPUs}
	if res.MemoryLimit > 0 && res.MemorySwap == 0 {
		// The Docker daemon's default: as much swap as memory.
		s.Resources.MemorySwapBytes = 2 * res.MemoryLimit
	}
	if res.PidsLimit != nil {
		s.Resources.PidsLimit = *res.PidsLimit
	}
	for _, d := range c.Devices {
		s.Devices = append(s.Devices, runtime.Device{HostPath: d.HostPath, Path: d.Path, Access: d.Permissions})
	}
	s.DeviceRules = slices.Clone(c.DeviceRules)
	for _, mt := range c.Mounts {
		if mt.Type == runspec.MountTmpfs && mt.Tmpfs != nil && mt.Tmpfs.FromKey {
			s.Mounts = append(s.Mounts, runtime.Mount{Type: runtime.MountTmpfs, Target: mt.Target, ReadOnly: mt.ReadOnly,
				TmpfsSize: mt.Tmpfs.SizeBytes, TmpfsMode: mt.Tmpfs.Mode, TmpfsUID: mt.Tmpfs.UID, TmpfsGID: mt.Tmpfs.GID, TmpfsExec: mt.Tmpfs.Exec})
		}
	}
	r.Spec = s

	r.StopSignal = m.StopSignal
	if g := c.Stop.GracePeriod; g != nil {
		d := *g
		r.StopTimeout = &d
	}
	r.Healthcheck = healthConfigRecord(m.Health)
	r.Restart = restartPolicy(c.Restart)

	switch mode := c.Network.Mode; {
	case mode == runspec.NetworkBridge:
		// No default bridge here: a namespace with only loopback, as
		// before (Unsupported warns).
	case mode == runspec.NetworkAttach:
		for _, a := range c.Network.Attachments {
			r.Networks = append(r.Networks, store.NetAttachment{Name: a.Network, Aliases: a.Aliases, IPv4: a.IPv4, IPv6: a.IPv6})
		}
		slices.SortFunc(r.Networks, func(a, b store.NetAttachment) int { return strings.Compare(a.Name, b.Name) })
	case mode == runspec.NetworkNone || mode == runspec.NetworkHost || strings.HasPrefix(string(mode), "container:"):
		r.NetworkMode = string(mode)
	default:
		return fmt.Errorf("network_mode %q: %w by the native engine (it has no default bridge: use a compose network)", mode, engine.ErrNotImplemented)
	}
	for _, e := range c.Network.ExtraHosts {
		name, ip, _ := strings.Cut(e, ":")
		r.ExtraHosts = append(r.ExtraHosts, name+"="+ip)
	}
	r.DNS = etcfiles.DNS{Nameservers: c.Network.DNS, Search: c.Network.DNSSearch, Options: c.Network.DNSOptions}
	if len(c.Network.Ports) > 0 && r.Bridged() {
		ports, err := containerPorts(c.Network.Ports)
		if err != nil {
			return err
		}
		r.Ports = ports
	}
	return nil
}

// imageConfig is what a container inherits from img.
func imageConfig(img *image.Image) runspec.Image {
	cfg := img.Config.Config
	out := runspec.Image{
		Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir,
		StopSignal: cfg.StopSignal, Labels: cfg.Labels,
	}
	for v := range cfg.Volumes {
		out.Volumes = append(out.Volumes, v)
	}
	slices.Sort(out.Volumes)
	if h := cfg.Healthcheck; h != nil {
		out.Healthcheck = &runspec.ImageHealth{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return out
}

// healthConfigRecord is the merged healthcheck as the record keeps it.
func healthConfigRecord(h *runspec.Healthcheck) *store.Healthcheck {
	if h == nil {
		return nil
	}
	return &store.Healthcheck{Test: slices.Clone(h.Test), Interval: store.Duration(h.Interval), Timeout: store.Duration(h.Timeout),
		StartPeriod: store.Duration(h.StartPeriod), StartInterval: store.Duration(h.StartInterval), Retries: uint64(h.Retries)}
}

// restartPolicy is r as a supervisor.ParseRestartPolicy string.
func restartPolicy(r runspec.Restart) string {
	if r.Mode == runspec.RestartOnFailure && r.MaxAttempts > 0 {
		return "on-failure:" + strconv.Itoa(r.MaxAttempts)
	}
	if r.Mode == runspec.RestartNo {
		return ""
	}
	return string(r.Mode)
}

// containerPorts are the published ports of one container, checked and
// sorted by netplan; a host port range stays a range, resolved at start.
// Ports of a container not on a compose network (host, none,
// container:<x>) are not published, as Docker ignores them.
func containerPorts(ports []runspec.Port) ([]store.Port, error) {
	bs, err := netplan.ContainerPorts(ports)
	if err != nil {
		return nil, err
	}
	out := make([]store.Port, len(bs))
	for i, b := range bs {
		if b.Protocol != "tcp" && b.Protocol != "udp" {
			return nil, fmt.Errorf("port %s: protocol %s: %w by the native engine (tcp, udp)", b, b.Protocol, engine.ErrNotImplemented)
		}
		out[i] = store.Port{Service: b.Service, HostPort: b.HostPort, HostPortEnd: b.HostPortEnd, ContainerPort: b.ContainerPort, Protocol: b.Protocol}
		if b.HostIP.IsValid() {
			out[i].HostIP = b.HostIP.String()
		}
	}
	return out, nil
}

// keepIDUser is "uid:gid" of the user whose ids the project's user
// namespace keeps (userns_mode keep-id), or a located error where no
// such namespace is: as root (there are no other ids to keep) or in a
// rootless project whose anchor was started without keep-id.
func keepIDUser(service string) (string, error) {
	if !userns.Inside() {
		return "", fmt.Errorf("services.%s.userns_mode: keep-id maps your own ids into a rootless project's user namespace; as root the native engine has none (run hoist as a user, or remove userns_mode)", service)
	}
	uid, gid, ok := userns.KeepID()
	if !ok {
		return "", fmt.Errorf("services.%s.userns_mode: keep-id, but the project's user namespace does not keep your ids (it was made before the service asked for it): run hoist down first", service)
	}
	return fmt.Sprintf("%d:%d", uid, gid), nil
}
