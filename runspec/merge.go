package runspec

import (
	"errors"
	"path"
	"slices"
	"strings"
	"time"
)

// Image is what a container inherits from its image's configuration.
type Image struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE
	User       string
	WorkingDir string
	StopSignal string
	Labels     map[string]string
	// Volumes are the image's VOLUME paths.
	Volumes     []string
	Healthcheck *ImageHealth
}

// ImageHealth is an image's HEALTHCHECK; Test ["NONE"] disables it.
type ImageHealth struct {
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Healthcheck is a resolved healthcheck: every field set.
type Healthcheck struct {
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Merged is what runs: the container's configuration with the image's
// merged in, as the Docker daemon merges them.
type Merged struct {
	// Args is the entrypoint followed by the command; never empty.
	Args []string
	// Env is the process's environment: PATH and HOSTNAME, TERM with a
	// terminal, then the service's variables and the image's that the
	// service does not name, an unset one removed.
	Env        []string
	User       string
	WorkingDir string
	StopSignal string
	// GracePeriod is Stop.GracePeriod, or DefaultGracePeriod.
	GracePeriod time.Duration
	// Health is nil when the container has no healthcheck.
	Health *Healthcheck
	// Labels are the image's labels under the container's.
	Labels map[string]string
	// AnonymousVolumes are the image's VOLUME paths no mount covers:
	// each gets an anonymous volume.
	AnonymousVolumes []string
}

// DefaultPath is the PATH of a container whose image sets none, the
// Docker daemon's.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNoCommand is returned when neither the service nor the image gives a
// command.
var ErrNoCommand = errors.New("no command: the image has no entrypoint or cmd and the service sets none")

// MergeImage merges img into c as the Docker daemon does when it creates
// a container, for an engine that runs images itself. hostname is the
// container's (Process.Hostname, or the engine's default).
func MergeImage(c Container, img Image, hostname string) (Merged, error) {
	m := Merged{
		User:       firstNonEmpty(c.Process.User, img.User),
		WorkingDir: firstNonEmpty(c.Process.WorkingDir, img.WorkingDir, "/"),
		StopSignal: firstNonEmpty(c.Stop.Signal, img.StopSignal, "SIGTERM"),
	}
	var err error
	if m.Args, err = mergeArgs(c.Process.Entrypoint, c.Process.Command, img.Entrypoint, img.Cmd); err != nil {
		return Merged{}, err
	}
	m.Env = mergeEnv(c.Process.Env, img.Env, hostname, c.Process.TTY)
	m.GracePeriod = DefaultGracePeriod
	if c.Stop.GracePeriod != nil {
		m.GracePeriod = *c.Stop.GracePeriod
	}
	m.Health = mergeHealth(c.Health, img.Healthcheck)
	if len(img.Labels)+len(c.Labels) > 0 {
		m.Labels = make(map[string]string, len(img.Labels)+len(c.Labels))
		for k, v := range img.Labels {
			m.Labels[k] = v
		}
		for k, v := range c.Labels {
			m.Labels[k] = v
		}
	}
	for _, v := range img.Volumes {
		target := path.Clean("/" + v)
		covered := slices.ContainsFunc(c.Mounts, func(mt Mount) bool { return path.Clean(mt.Target) == target })
		if !covered && !slices.Contains(m.AnonymousVolumes, target) {
			m.AnonymousVolumes = append(m.AnonymousVolumes, target)
		}
	}
	slices.Sort(m.AnonymousVolumes)
	return m, nil
}

// mergeArgs is the daemon's rule: with no service entrypoint (nil or
// empty), an empty command is the image's, and a nil entrypoint the
// image's; a service entrypoint drops the image's command. An entrypoint
// of one empty word is none.
func mergeArgs(entrypoint, command, imgEntrypoint, imgCmd []string) ([]string, error) {
	if len(entrypoint) == 0 {
		if len(command) == 0 {
			command = imgCmd
		}
		if entrypoint == nil {
			entrypoint = imgEntrypoint
		}
	}
	if len(entrypoint) == 1 && entrypoint[0] == "" {
		entrypoint = nil
	}
	args := append(slices.Clone(entrypoint), command...)
	if len(args) == 0 {
		return nil, ErrNoCommand
	}
	return args, nil
}

// mergeEnv: the image's variables that the service does not name follow
// the service's; the process starts from PATH, HOSTNAME and (with a
// terminal) TERM, which those replace in place, and an unset variable is
// removed.
func mergeEnv(svc []EnvVar, img []string, hostname string, tty bool) []string {
	named := map[string]bool{}
	for _, v := range svc {
		named[v.Name] = true
	}
	var conf []EnvVar
	conf = append(conf, svc...)
	for _, kv := range img {
		k, v, _ := strings.Cut(kv, "=")
		if !named[k] {
			named[k] = true
			conf = append(conf, EnvVar{Name: k, Value: v})
		}
	}
	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + hostname}
	if tty {
		env = append(env, "TERM=xterm")
	}
	idx := map[string]int{"PATH": 0, "HOSTNAME": 1}
	if tty {
		idx["TERM"] = 2
	}
	removed := map[int]bool{}
	for _, v := range conf {
		i, ok := idx[v.Name]
		switch {
		case v.Unset && ok:
			removed[i] = true
		case v.Unset:
		case ok:
			env[i] = v.Name + "=" + v.Value
			delete(removed, i)
		default:
			idx[v.Name] = len(env)
			env = append(env, v.Name+"="+v.Value)
		}
	}
	out := env[:0:0]
	for i, kv := range env {
		if !removed[i] {
			out = append(out, kv)
		}
	}
	return out
}

// mergeHealth: with the service's healthcheck set, each field it leaves
// zero is the image's, then Docker's default; inherited, the image's with
// the defaults; a test of NONE (or none at all) is no healthcheck.
func mergeHealth(h Health, img *ImageHealth) *Healthcheck {
	if h.Mode == HealthDisable {
		return nil
	}
	var out Healthcheck
	if img != nil {
		out = Healthcheck(*img)
	}
	if h.Mode == HealthSet {
		if len(h.Test) > 0 {
			out.Test = h.Test
		}
		if h.Interval != 0 {
			out.Interval = h.Interval
		}
		if h.Timeout != 0 {
			out.Timeout = h.Timeout
		}
		if h.StartPeriod != 0 {
			out.StartPeriod = h.StartPeriod
		}
		if h.StartInterval != 0 {
			out.StartInterval = h.StartInterval
		}
		if h.Retries != 0 {
			out.Retries = h.Retries
		}
	}
	if len(out.Test) == 0 || out.Test[0] == "NONE" {
		return nil
	}
	out.Test = slices.Clone(out.Test)
	if out.Interval == 0 {
		out.Interval = DefaultHealthInterval
	}
	if out.Timeout == 0 {
		out.Timeout = DefaultHealthTimeout
	}
	if out.StartInterval == 0 {
		out.StartInterval = DefaultHealthStartInterval
	}
	if out.Retries == 0 {
		out.Retries = DefaultHealthRetries
	}
	return &out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
