package compose

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"

	"github.com/hoist-dev/hoist/internal/devicerule"
	"github.com/hoist-dev/hoist/runspec"
)

// Resolve applies compose's rules to service s of p, once, giving the
// container configuration every engine maps (package runspec). It reads
// only the project: no engine, no image. A one-off container (run) never
// restarts. The labels are the service's; the orchestrator adds compose's
// own over them.
//
// An error is a *KeyError that names the service key at fault, so that
// Validate can give its file and line before anything is created.
func Resolve(p *types.Project, s types.ServiceConfig, oneOff bool) (runspec.Container, error) {
	return ResolveWith(p, s, ResolveOptions{OneOff: oneOff})
}

// ResolveOptions say what the configuration is for.
type ResolveOptions struct {
	// OneOff: a one-off container (run), which never restarts.
	OneOff bool
	// Swarm: the service runs on a swarm, which gives secrets and configs
	// to containers as objects of its own (Deploy carries them): they are
	// no host files or written files then, external ones are fine, and a
	// read-only service can have a content one.
	Swarm bool
}

// ResolveWith is Resolve for o.
func ResolveWith(p *types.Project, s types.ServiceConfig, o ResolveOptions) (runspec.Container, error) {
	oneOff := o.OneOff
	r := resolver{p: p, s: s, swarm: o.Swarm}
	c := runspec.Container{Image: ImageRef(p, s), Platform: s.Platform}
	if len(s.Labels) > 0 {
		c.Labels = maps.Clone(map[string]string(s.Labels))
	}
	c.Process = r.process()
	if !oneOff {
		c.Restart = r.restart()
	} else {
		c.Restart = runspec.Restart{Mode: runspec.RestartNo}
	}
	c.Stop = r.stop()
	c.Health = r.health()
	c.Resources = r.resources()
	c.Deploy = r.deploy(c.Resources)
	c.Security = r.security()
	c.Namespaces = runspec.Namespaces{IPC: r.serviceRef("ipc", s.Ipc), PID: r.serviceRef("pid", s.Pid), UTS: s.Uts, Cgroup: s.Cgroup, UserNS: s.UserNSMode}
	c.Mounts, c.Files = r.mounts()
	c.Devices, c.DeviceRules = r.devices()
	c.Network = r.network()
	c.Logging = r.logging()
	c.Runtime, c.VolumeDriver = s.Runtime, s.VolumeDriver
	if len(s.StorageOpt) > 0 {
		c.StorageOpt = maps.Clone(s.StorageOpt)
	}
	for i, v := range s.VolumesFrom {
		c.VolumesFrom = append(c.VolumesFrom, r.volumesFrom(i, v))
	}
	if r.err != nil {
		return runspec.Container{}, r.err
	}
	return c, nil
}

// KeyError is a problem with one key of a service.
type KeyError struct {
	Service string
	// Path is the key's path below the service, as "deploy",
	// "restart_policy", "condition".
	Path []string
	Msg  string
	Hint string
}

func (e *KeyError) Error() string {
	msg := fmt.Sprintf("service %q: %s", e.Service, e.Msg)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// resolver keeps the first error, so that each part reads straight.
type resolver struct {
	p     *types.Project
	s     types.ServiceConfig
	swarm bool
	err   error
}

func (r *resolver) fail(path []string, hint, format string, args ...any) {
	if r.err == nil {
		r.err = &KeyError{Service: r.s.Name, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint}
	}
}

// ContainerName is the name docker compose gives replica n of a service.
func ContainerName(project string, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", project, s.Name, n)
}

func (r *resolver) process() runspec.Process {
	s := r.s
	pr := runspec.Process{
		User: s.User, GroupAdd: slices.Clone(s.GroupAdd), WorkingDir: s.WorkingDir,
		Hostname: s.Hostname, Domainname: s.DomainName, TTY: s.Tty, StdinOpen: s.StdinOpen,
	}
	if s.Entrypoint != nil {
		pr.Entrypoint = append([]string{}, s.Entrypoint...)
	}
	if s.Command != nil {
		pr.Command = append([]string{}, s.Command...)
	}
	if s.Init != nil {
		v := *s.Init
		pr.Init = &v
	}
	for _, name := range slices.Sorted(maps.Keys(s.Environment)) {
		v := s.Environment[name]
		if v == nil {
			pr.Env = append(pr.Env, runspec.EnvVar{Name: name, Unset: true})
			continue
		}
		pr.Env = append(pr.Env, runspec.EnvVar{Name: name, Value: *v})
	}
	return pr
}

// restart: deploy.restart_policy, when present, replaces restart:, as
// docker compose sends it; the Engine's rules on what it accepts are
// checked here, before anything is created.
func (r *resolver) restart() runspec.Restart {
	s := r.s
	var out runspec.Restart
	if s.Restart != "" {
		name, n, hasN := strings.Cut(s.Restart, ":")
		mode, ok := restartMode(name)
		if !ok || name == "" {
			r.fail([]string{"restart"}, `use "no", "always", "on-failure[:N]" or "unless-stopped"`, "restart %q is not a restart policy", s.Restart)
			return out
		}
		out.Mode = mode
		if hasN {
			max, err := strconv.Atoi(n)
			if err != nil || max < 0 || mode != runspec.RestartOnFailure {
				r.fail([]string{"restart"}, `only on-failure takes a count, as "on-failure:3"`, "restart %q is not a restart policy", s.Restart)
				return out
			}
			out.MaxAttempts = max
		}
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		mode, ok := restartMode(rp.Condition)
		if !ok {
			r.fail([]string{"deploy", "restart_policy", "condition"}, "use none, on-failure or any", "deploy.restart_policy.condition %q is not a condition", rp.Condition)
			return out
		}
		out = runspec.Restart{Mode: mode}
		if rp.MaxAttempts != nil {
			if mode != runspec.RestartOnFailure {
				r.fail([]string{"deploy", "restart_policy", "max_attempts"}, "use condition: on-failure, or remove max_attempts", "deploy.restart_policy.max_attempts applies only to condition on-failure (the Engine refuses it with %q)", rp.Condition)
				return out
			}
			out.MaxAttempts = int(min(*rp.MaxAttempts, math.MaxInt32))
		}
	}
	if out.Mode == "" {
		out.Mode = runspec.RestartNo
	}
	return out
}

// restartMode maps restart: names and deploy conditions as docker compose
// does; an empty condition is no restart (docker compose sends it empty,
// which the Engine takes as no).
func restartMode(s string) (runspec.RestartMode, bool) {
	switch s {
	case "", "no", "none":
		return runspec.RestartNo, true
	case "always", "any":
		return runspec.RestartAlways, true
	case "on-failure":
		return runspec.RestartOnFailure, true
	case "unless-stopped":
		return runspec.RestartUnlessStopped, true
	}
	return "", false
}

// stop: the grace period in whole seconds, truncated, as docker compose
// gives it to the Engine (which takes seconds), so that every engine
// waits the same.
func (r *resolver) stop() runspec.Stop {
	st := runspec.Stop{Signal: r.s.StopSignal}
	if g := r.s.StopGracePeriod; g != nil {
		d := time.Duration(*g).Truncate(time.Second)
		st.GracePeriod = &d
	}
	return st
}

func (r *resolver) health() runspec.Health {
	hc := r.s.HealthCheck
	if hc == nil {
		return runspec.Health{Mode: runspec.HealthInherit}
	}
	if hc.Disable || (len(hc.Test) > 0 && hc.Test[0] == "NONE") {
		return runspec.Health{Mode: runspec.HealthDisable}
	}
	h := runspec.Health{Mode: runspec.HealthSet}
	if len(hc.Test) > 0 {
		switch hc.Test[0] {
		case "CMD", "CMD-SHELL":
			h.Test = slices.Clone([]string(hc.Test))
		default:
			r.fail([]string{"healthcheck", "test"}, `start it with "CMD" or "CMD-SHELL", or give a string`, "healthcheck test starts with %q", hc.Test[0])
		}
	}
	dur := func(d *types.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	h.Interval, h.Timeout, h.StartPeriod, h.StartInterval = dur(hc.Interval), dur(hc.Timeout), dur(hc.StartPeriod), dur(hc.StartInterval)
	if hc.Retries != nil {
		h.Retries = int(min(*hc.Retries, math.MaxInt32))
	}
	if hc.StartInterval != nil && hc.StartPeriod == nil {
		r.fail([]string{"healthcheck", "start_interval"}, "set start_period too (start_interval applies during it)", "healthcheck start_interval has no start_period")
	}
	return h
}

// resources: deploy.resources wins over the service-level keys, as docker
// compose applies them (compose-go refuses two different values anyway).
func (r *resolver) resources() runspec.Resources {
	s := r.s
	res := runspec.Resources{
		MemoryLimit: int64(s.MemLimit), MemoryReservation: int64(s.MemReservation), MemorySwap: int64(s.MemSwapLimit),
		OomKillDisable: s.OomKillDisable, OomScoreAdj: int(s.OomScoreAdj),
		NanoCPUs: nanoCPUs(s.CPUS), CPUShares: s.CPUShares, CPUQuota: s.CPUQuota, CPUPeriod: s.CPUPeriod, CPUSet: s.CPUSet,
		CPURealtimePeriod: s.CPURTPeriod, CPURealtimeRuntime: s.CPURTRuntime,
		ShmSize: int64(s.ShmSize), CgroupParent: s.CgroupParent,
	}
	if s.MemSwappiness != 0 {
		v := int64(s.MemSwappiness)
		res.MemorySwappiness = &v
	}
	if s.PidsLimit != 0 {
		v := s.PidsLimit
		res.PidsLimit = &v
	}
	if s.BlkioConfig != nil {
		res.BlkioWeight = s.BlkioConfig.Weight
	}
	if d := s.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			if l.MemoryBytes != 0 {
				res.MemoryLimit = int64(l.MemoryBytes)
			}
			if l.NanoCPUs != 0 {
				res.NanoCPUs = nanoCPUs(float32(l.NanoCPUs))
			}
			if l.Pids > 0 {
				v := l.Pids
				res.PidsLimit = &v
			}
		}
		if rv := d.Resources.Reservations; rv != nil && rv.MemoryBytes != 0 {
			res.MemoryReservation = int64(rv.MemoryBytes)
		}
	}
	if res.NanoCPUs > 0 && (res.CPUQuota > 0 || res.CPUPeriod > 0) {
		// The Engine refuses the pair ("Conflicting options"); an engine
		// that applied one of them would run another limit.
		key := "cpu_quota"
		if res.CPUQuota == 0 {
			key = "cpu_period"
		}
		r.fail([]string{key}, "use either cpus or cpu_quota/cpu_period", "cpus and %s cannot both be set: cpus is a CFS quota of its own", key)
	}
	for _, name := range slices.Sorted(maps.Keys(s.Ulimits)) {
		u := s.Ulimits[name]
		if u == nil {
			continue
		}
		soft, hard := u.Single, u.Single
		if u.Soft != 0 {
			soft = u.Soft
		}
		if u.Hard != 0 {
			hard = u.Hard
		}
		res.Ulimits = append(res.Ulimits, runspec.Ulimit{Name: name, Soft: int64(soft), Hard: int64(hard)})
	}
	return res
}

// nanoCPUs is docker compose's conversion: cpus is a float32, and the
// product is a float32 truncated (0.1 gives 100000000, 12.7 gives
// 12700000256). One formula for every engine.
func nanoCPUs(cpus float32) int64 {
	return int64(cpus * 1e9)
}

func (r *resolver) security() runspec.Security {
	s := r.s
	sec := runspec.Security{
		Privileged: s.Privileged, CapAdd: slices.Clone(s.CapAdd), CapDrop: slices.Clone(s.CapDrop),
		ReadonlyRootfs: s.ReadOnly,
	}
	if len(s.Sysctls) > 0 {
		sec.Sysctls = maps.Clone(map[string]string(s.Sysctls))
	}
	for i, opt := range s.SecurityOpt {
		k, v, hasV := strings.Cut(opt, "=")
		if !hasV {
			k, v, hasV = strings.Cut(opt, ":")
		}
		switch {
		case k == "no-new-privileges" && (!hasV || v == "true"):
			sec.NoNewPrivileges = true
		case k == "no-new-privileges" && v == "false":
		case k == "no-new-privileges":
			r.fail([]string{"security_opt", strconv.Itoa(i)}, "use no-new-privileges or no-new-privileges=true", "security_opt %q", opt)
		case k == "seccomp" && (v == "unconfined" || v == "builtin" || v == ""):
			if v == "unconfined" {
				sec.Seccomp = "unconfined"
			}
		case k == "seccomp":
			sec.Seccomp = r.seccompProfile(i, v)
		case k == "systempaths" && v == "unconfined":
			sec.UnmaskPaths = true
		case !hasV:
			r.fail([]string{"security_opt", strconv.Itoa(i)}, "write KEY=VALUE, as apparmor=unconfined", "security_opt %q has no value", opt)
		default:
			sec.Options = append(sec.Options, opt)
		}
	}
	return sec
}

// seccompProfile reads a seccomp profile file (relative to the project
// directory), as docker compose sends its content to the Engine.
func (r *resolver) seccompProfile(i int, file string) string {
	if !filepath.IsAbs(file) {
		file = filepath.Join(r.p.WorkingDir, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		r.fail([]string{"security_opt", strconv.Itoa(i)}, "fix the path (it is relative to the project directory)", "seccomp profile: %v", err)
		return ""
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		r.fail([]string{"security_opt", strconv.Itoa(i)}, "give a seccomp profile in JSON", "seccomp profile %s: %v", file, err)
		return ""
	}
	compact, _ := json.Marshal(v)
	return string(compact)
}

// serviceRef turns "service:x" (ipc, pid) into "container:<x's first
// container>", as docker compose does.
func (r *resolver) serviceRef(key, mode string) string {
	dep, ok := strings.CutPrefix(mode, "service:")
	if !ok {
		return mode
	}
	svc, ok := r.p.Services[dep]
	if !ok {
		r.fail([]string{key}, "define it or change "+key, "%s names service %q, which does not exist", key, dep)
		return mode
	}
	return "container:" + ContainerName(r.p.Name, svc, 1)
}

// volumesFrom turns "service[:mode]" into "<its first container>[:mode]",
// as docker compose does; "container:name[:mode]" names a container.
func (r *resolver) volumesFrom(i int, v string) string {
	if name, ok := strings.CutPrefix(v, "container:"); ok {
		return name
	}
	src, mode, hasMode := strings.Cut(v, ":")
	svc, ok := r.p.Services[src]
	if !ok {
		r.fail([]string{"volumes_from", strconv.Itoa(i)}, "name a service of this project, or container:NAME", "volumes_from names service %q, which does not exist", src)
		return v
	}
	out := ContainerName(r.p.Name, svc, 1)
	if hasMode {
		out += ":" + mode
	}
	return out
}

// mounts: the service's volumes (volume keys become engine-level names),
// its tmpfs: entries, then its secrets and configs, as docker compose
// gives them without swarm: a read-only bind of a file, or a file written
// into the container (content, or the value of an environment variable).
// Secrets go under /run/secrets unless their target is absolute; configs
// under /.
func (r *resolver) mounts() ([]runspec.Mount, []runspec.File) {
	s, p := r.s, r.p
	var mounts []runspec.Mount
	for i, v := range s.Volumes {
		m := runspec.Mount{Target: path.Clean(v.Target), ReadOnly: v.ReadOnly, Source: v.Source}
		where := []string{"volumes", strconv.Itoa(i)}
		switch v.Type {
		case types.VolumeTypeBind:
			m.Type = runspec.MountBind
			m.CreateHostPath = true
			if v.Bind != nil {
				m.CreateHostPath, m.Propagation, m.SELinux, m.Recursive = bool(v.Bind.CreateHostPath), v.Bind.Propagation, v.Bind.SELinux, v.Bind.Recursive
			}
		case types.VolumeTypeVolume:
			m.Type = runspec.MountVolume
			if v.Source != "" {
				vol, ok := p.Volumes[v.Source]
				if !ok {
					r.fail(where, "declare it under top-level volumes:", "uses undeclared volume %q", v.Source)
					continue
				}
				m.Source = vol.Name
			}
			if v.Volume != nil {
				m.NoCopy, m.Subpath = v.Volume.NoCopy, v.Volume.Subpath
				if len(v.Volume.Labels) > 0 {
					m.VolumeLabels = maps.Clone(map[string]string(v.Volume.Labels))
				}
			}
		case types.VolumeTypeTmpfs:
			m.Type, m.Source = runspec.MountTmpfs, ""
			m.Tmpfs = &runspec.Tmpfs{}
			if v.Tmpfs != nil {
				m.Tmpfs.SizeBytes, m.Tmpfs.Mode = int64(v.Tmpfs.Size), v.Tmpfs.Mode
			}
		default:
			r.fail(where, "use a bind, volume or tmpfs mount", "volume type %q is not supported", v.Type)
			continue
		}
		mounts = append(mounts, m)
	}
	for i, t := range s.Tmpfs {
		m, err := parseTmpfs(t)
		if err != nil {
			r.fail([]string{"tmpfs", strconv.Itoa(i)}, "use PATH[:size=N,mode=OCTAL,uid=N,gid=N,exec,ro]", "tmpfs %q: %v", t, err)
			continue
		}
		mounts = append(mounts, m)
	}
	var files []runspec.File
	add := func(kind, dir string, i int, ref types.FileReferenceConfig, obj types.FileObjectConfig) {
		where := []string{kind + "s", strconv.Itoa(i)}
		value, hasValue := ObjectValue(p, obj)
		target := ref.Target
		switch {
		case target == "":
			target = path.Join(dir, ref.Source)
		case !path.IsAbs(target):
			target = path.Join(dir, target)
		}
		target = path.Clean(target)
		switch {
		case bool(obj.External):
			r.fail(where, "hoist runs without swarm: give it a file, environment or content", "%s %q is external (swarm)", kind, ref.Source)
		case obj.File != "":
			m := runspec.Mount{Type: runspec.MountBind, Source: obj.File, Target: target, ReadOnly: true}
			if kind == "secret" {
				m.Secret = ref.Source
			} else {
				m.Config = ref.Source
			}
			mounts = append(mounts, m)
		case hasValue && value != "" && s.ReadOnly:
			// docker compose copies the file in before the start and
			// refuses to for a read-only container; so must every engine.
			r.fail([]string{"read_only"}, "give it a file: (bound read-only), or remove read_only", "%s %q cannot be written into a read-only service (read_only: true)", kind, ref.Source)
		case hasValue:
			f := runspec.File{Path: target, Content: []byte(value), Mode: 0o444}
			if ref.Mode != nil {
				f.Mode = os.FileMode(*ref.Mode) & os.ModePerm
			}
			var err error
			if f.UID, err = numericID(ref.UID); err != nil {
				r.fail(where, "give a number", "%s %q: uid: %v", kind, ref.Source, err)
			}
			if f.GID, err = numericID(ref.GID); err != nil {
				r.fail(where, "give a number", "%s %q: gid: %v", kind, ref.Source, err)
			}
			files = append(files, f)
		default:
			r.fail(where, "set it in the environment or in .env", "%s %q has no value: its environment variable %q is not set", kind, ref.Source, obj.Environment)
		}
	}
	if r.swarm {
		return mounts, files
	}
	for i, ref := range s.Secrets {
		obj, ok := p.Secrets[ref.Source]
		if !ok {
			r.fail([]string{"secrets", strconv.Itoa(i)}, "declare it under top-level secrets:", "secret %q is not declared", ref.Source)
			continue
		}
		add("secret", "/run/secrets", i, types.FileReferenceConfig(ref), types.FileObjectConfig(obj))
	}
	for i, ref := range s.Configs {
		obj, ok := p.Configs[ref.Source]
		if !ok {
			r.fail([]string{"configs", strconv.Itoa(i)}, "declare it under top-level configs:", "config %q is not declared", ref.Source)
			continue
		}
		add("config", "/", i, types.FileReferenceConfig(ref), types.FileObjectConfig(obj))
	}
	return mounts, files
}

// parseTmpfs reads a tmpfs: entry, PATH[:OPTIONS]. Options are those of
// the kernel's tmpfs that Docker passes on, and the mount flags; nosuid
// and nodev always apply, noexec unless exec is given.
func parseTmpfs(s string) (runspec.Mount, error) {
	target, opts, _ := strings.Cut(s, ":")
	if !path.IsAbs(target) {
		return runspec.Mount{}, fmt.Errorf("path %q is not absolute", target)
	}
	m := runspec.Mount{Type: runspec.MountTmpfs, Target: path.Clean(target), Tmpfs: &runspec.Tmpfs{FromKey: true, Options: opts}}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "":
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return m, fmt.Errorf("size: %w", err)
			}
			m.Tmpfs.SizeBytes = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return m, fmt.Errorf("mode %q is not octal", v)
			}
			m.Tmpfs.Mode = uint32(n)
		case "uid", "gid":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return m, fmt.Errorf("%s %q is not a number", k, v)
			}
			if k == "uid" {
				m.Tmpfs.UID = n
			} else {
				m.Tmpfs.GID = n
			}
		case "ro":
			m.ReadOnly = true
		case "rw":
			m.ReadOnly = false
		case "exec":
			m.Tmpfs.Exec = true
		case "noexec":
			m.Tmpfs.Exec = false
		case "nosuid", "suid", "nodev", "dev":
		default:
			return m, fmt.Errorf("option %q is not supported", k)
		}
	}
	return m, nil
}

// numericID reads a uid or gid ("" is 0); names would need the image's
// /etc/passwd, which only the container has.
func numericID(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

func (r *resolver) devices() ([]runspec.Device, []devicerule.Rule) {
	var devs []runspec.Device
	for i, d := range r.s.Devices {
		where := []string{"devices", strconv.Itoa(i)}
		switch {
		case !filepath.IsAbs(d.Source):
			r.fail(where, "name the host device, as /dev/fuse", "device %q is not an absolute path", d.Source)
		case d.Target != "" && !path.IsAbs(d.Target):
			r.fail(where, "use HOST:CONTAINER with an absolute CONTAINER path", "device %s: container path %q is not absolute", d.Source, d.Target)
		case d.Permissions != "" && !devicerule.ValidAccess(d.Permissions):
			r.fail(where, "use letters of rwm, as /dev/fuse:/dev/fuse:rw", "device %s: permissions %q", d.Source, d.Permissions)
		}
		devs = append(devs, runspec.Device{HostPath: d.Source, Path: d.Target, Permissions: d.Permissions})
	}
	var rules []devicerule.Rule
	for i, text := range r.s.DeviceCgroupRules {
		rule, err := devicerule.Parse(text)
		if err != nil {
			msg, hint, _ := strings.Cut(err.Error(), " (")
			r.fail([]string{"device_cgroup_rules", strconv.Itoa(i)}, "write "+strings.TrimPrefix(strings.TrimSuffix(hint, ")"), "want "), "%s", msg)
			continue
		}
		rules = append(rules, rule)
	}
	return devs, rules
}

func (r *resolver) network() runspec.Network {
	s := r.s
	n := runspec.Network{
		DNS: slices.Clone([]string(s.DNS)), DNSSearch: slices.Clone([]string(s.DNSSearch)), DNSOptions: slices.Clone(s.DNSOpts),
		ExtraHosts: s.ExtraHosts.AsList(":"),
		Expose:     slices.Clone([]string(s.Expose)),
	}
	sort.Strings(n.ExtraHosts)
	for _, port := range s.Ports {
		proto := port.Protocol
		if proto == "" {
			proto = "tcp"
		}
		n.Ports = append(n.Ports, runspec.Port{ContainerPort: port.Target, Protocol: proto, HostIP: port.HostIP, HostPort: port.Published, Mode: port.Mode})
	}
	switch mode := s.NetworkMode; {
	case mode == "":
		n.Attachments = r.attachments()
	case mode == "bridge", mode == "default":
		n.Mode = runspec.NetworkBridge
	case mode == "none", mode == "host", strings.HasPrefix(mode, "container:"):
		n.Mode = runspec.NetworkMode(mode)
	case strings.HasPrefix(mode, "service:"):
		n.Mode = runspec.NetworkMode(r.serviceRef("network_mode", mode))
	default:
		r.fail([]string{"network_mode"}, "use none, host, bridge, container:NAME or service:NAME, or networks:", "network_mode %q is not supported", mode)
	}
	return n
}

// attachments lists the compose networks by descending priority, then
// name, so the engine attaches the most important one first (the Engine
// connects one network at create time).
func (r *resolver) attachments() []runspec.Attachment {
	s, p := r.s, r.p
	keys := slices.Sorted(maps.Keys(s.Networks))
	prio := func(k string) int {
		if c := s.Networks[k]; c != nil {
			return c.Priority
		}
		return 0
	}
	sort.SliceStable(keys, func(i, j int) bool { return prio(keys[i]) > prio(keys[j]) })
	var out []runspec.Attachment
	for _, k := range keys {
		net, ok := p.Networks[k]
		if !ok {
			continue
		}
		a := runspec.Attachment{Network: net.Name}
		c := s.Networks[k]
		if c == nil || c.UseServiceNameAlias == nil || *c.UseServiceNameAlias {
			a.Aliases = append(a.Aliases, s.Name)
		}
		if c != nil {
			a.Aliases = append(a.Aliases, c.Aliases...)
			a.IPv4, a.IPv6, a.MacAddress = c.Ipv4Address, c.Ipv6Address, c.MacAddress
		}
		if s.Hostname != "" && !slices.Contains(a.Aliases, s.Hostname) {
			a.Aliases = append(a.Aliases, s.Hostname)
		}
		out = append(out, a)
	}
	if len(out) > 0 && out[0].MacAddress == "" {
		out[0].MacAddress = s.MacAddress
	}
	return out
}

func (r *resolver) logging() runspec.Logging {
	l := r.s.Logging
	if l == nil {
		return runspec.Logging{}
	}
	out := runspec.Logging{Driver: l.Driver}
	if len(l.Options) > 0 {
		out.Options = maps.Clone(l.Options)
	}
	return out
}

// Unmapped lists the keys set on s that Resolve does not carry into the
// container configuration, so that no engine applies them: the caller
// warns once, naming them. Keys the orchestrator handles itself (build,
// depends_on, scale, profiles, develop) are not listed.
func Unmapped(s types.ServiceConfig) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(len(s.Gpus) > 0, "gpus")
	add(s.Deploy != nil && s.Deploy.Resources.Reservations != nil && len(s.Deploy.Resources.Reservations.Devices) > 0,
		"deploy.resources.reservations.devices")
	add(s.BlkioConfig != nil && (len(s.BlkioConfig.WeightDevice) > 0 || len(s.BlkioConfig.DeviceReadBps) > 0 ||
		len(s.BlkioConfig.DeviceReadIOps) > 0 || len(s.BlkioConfig.DeviceWriteBps) > 0 || len(s.BlkioConfig.DeviceWriteIOps) > 0),
		"blkio_config devices")
	add(s.CPUCount != 0, "cpu_count")
	add(s.CPUPercent != 0, "cpu_percent")
	add(len(s.Links) > 0, "links")
	add(len(s.ExternalLinks) > 0, "external_links")
	add(s.Isolation != "", "isolation")
	add(len(s.Annotations) > 0, "annotations")
	add(s.CredentialSpec != nil, "credential_spec")
	add(s.Umask != nil, "umask")
	add(s.UseAPISocket, "use_api_socket")
	add(len(s.PreStart) > 0, "pre_start")
	add(len(s.PostStart) > 0, "post_start")
	add(len(s.PreStop) > 0, "pre_stop")
	add(len(s.Models) > 0, "models")
	add(s.Provider != nil, "provider")
	add(s.LogDriver != "" || len(s.LogOpt) > 0, "log_driver/log_opt (use logging:, as docker compose does)")
	for _, n := range s.Networks {
		if n != nil && (len(n.LinkLocalIPs) > 0 || len(n.DriverOpts) > 0 || n.InterfaceName != "" || n.GatewayPriority != 0) {
			add(true, "networks link_local_ips/driver_opts/interface_name/gw_priority")
			break
		}
	}
	return out
}
