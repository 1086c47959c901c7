package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/runspec"
)

// defaultPath is the PATH a stage gets when its image sets none, as a
// container does (runspec.DefaultPath).
const defaultPath = "PATH=" + runspec.DefaultPath

// job is one Build call.
type job struct {
	b        *Builder
	spec     engine.BuildSpec
	progress func(string)
	ctxDir   *srcTree
	stages   []instructions.Stage
	escape   rune
	multi    bool

	meta     map[string]string // global (pre-FROM) args with a value
	done     map[int]*state
	active   map[int]bool
	rootfses map[string]string // image ID -> read-only mount, for COPY --from
	cleanups []func()
	net      buildNet // the RUN steps' network, made on first use
}

// state is a stage being built.
type state struct {
	name   string
	key    string       // cache key of everything so far
	image  string       // the last committed image; "" for scratch
	layers []string     // its unpacked layers, lowest first; nil until needed
	cfg    v1.Config    // the config so far
	hist   []v1.History // empty-layer history since image
	// args are the build args declared in the stage so far, with a value.
	args   map[string]string
	cmdSet bool // CMD was set in this stage (ENTRYPOINT resets an inherited one)
}

func (s *state) clone() *state {
	c := *s
	c.cfg = *s.cfg.DeepCopy()
	c.hist = append([]v1.History(nil), s.hist...)
	c.args = copyMap(s.args)
	c.layers = append([]string(nil), s.layers...)
	return &c
}

func (j *job) cleanup() {
	for i := len(j.cleanups) - 1; i >= 0; i-- {
		j.cleanups[i]()
	}
}

func predefinedArgs() map[string]string {
	p := "linux/" + runtime.GOARCH
	return map[string]string{
		"BUILDPLATFORM": p, "BUILDOS": "linux", "BUILDARCH": runtime.GOARCH, "BUILDVARIANT": "",
		"TARGETPLATFORM": p, "TARGETOS": "linux", "TARGETARCH": runtime.GOARCH, "TARGETVARIANT": "",
	}
}

// argValue is a --build-arg value, if one was given.
func (j *job) argValue(name string) (string, bool) {
	v, ok := j.spec.Args[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func (j *job) metaArgs(args []instructions.ArgCommand) error {
	j.meta = predefinedArgs()
	lex := shell.NewLex(j.escape)
	for _, a := range args {
		for _, kv := range a.Args {
			if v, ok := j.argValue(kv.Key); ok {
				j.meta[kv.Key] = v
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _, err := lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(envList(j.meta)))
			if err != nil {
				return stepError(&a, err)
			}
			j.meta[kv.Key] = v
		}
	}
	return nil
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// stageByName finds a stage referenced by name or index, before stage cur.
func (j *job) stageByName(name string, cur int) (int, bool) {
	if i, ok := instructions.HasStage(j.stages[:cur], name); ok {
		return i, true
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < cur {
		return n, true
	}
	return -1, false
}

func (j *job) prefix(i int, s *instructions.Stage) string {
	name := s.Name
	if name == "" {
		name = fmt.Sprintf("stage-%d", i)
	}
	switch {
	case j.spec.Service != "" && j.multi:
		return j.spec.Service + " " + name
	case j.spec.Service != "":
		return j.spec.Service
	}
	return name
}

// stage builds stage i (and the stages it needs) and returns its state.
func (j *job) stage(ctx context.Context, i int) (*state, error) {
	if st, ok := j.done[i]; ok {
		return st.clone(), nil
	}
	if j.active[i] {
		return nil, fmt.Errorf("build: stage %d depends on itself", i)
	}
	j.active[i] = true
	defer delete(j.active, i)
	s := &j.stages[i]
	pfx := j.prefix(i, s)
	total := len(s.Commands) + 1
	step := func(n int) string { return fmt.Sprintf("[%s %d/%d]", pfx, n, total) }

	st, err := j.from(ctx, i, s, step(1))
	if err != nil {
		return nil, err
	}
	for n, cmd := range s.Commands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := j.dispatch(ctx, i, st, cmd, step(n+2)); err != nil {
			var se *stepErr
			if errors.As(err, &se) {
				return nil, err
			}
			return nil, &stepErr{stepError(cmd, err)}
		}
	}
	j.done[i] = st
	return st.clone(), nil
}

// stepErr marks an error that already names its instruction.
type stepErr struct{ error }

func (e *stepErr) Unwrap() error { return e.error }

func (j *job) from(ctx context.Context, i int, s *instructions.Stage, pfx string) (*state, error) {
	lex := shell.NewLex(j.escape)
	metaEnv := shell.EnvsFromSlice(envList(j.meta))
	base, _, err := lex.ProcessWord(s.BaseName, metaEnv)
	if err != nil {
		return nil, fmt.Errorf("build: FROM %s: %w", s.BaseName, err)
	}
	j.progress(fmt.Sprintf("%s FROM %s", pfx, base))
	if s.Platform != "" {
		plat, _, err := lex.ProcessWord(s.Platform, metaEnv)
		if err == nil && plat != "linux/"+runtime.GOARCH {
			j.progress(fmt.Sprintf("%s WARNING: --platform=%s is not the host's (linux/%s); using the host's", pfx, plat, runtime.GOARCH))
		}
	}
	st := &state{name: s.Name, args: map[string]string{}}
	if dep, ok := j.stageByName(strings.ToLower(base), i); ok {
		parent, err := j.stage(ctx, dep)
		if err != nil {
			return nil, err
		}
		parent.name, parent.args, parent.cmdSet = s.Name, map[string]string{}, false
		parent.key = chainKey(parent.key, "FROM stage")
		return parent, nil
	}
	if base == "scratch" {
		st.key = chainKey("", "FROM scratch")
		st.cfg.Env = []string{defaultPath}
		return st, nil
	}
	img, err := j.baseImage(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("build: FROM %s: %w", base, err)
	}
	if img.Config.Architecture != "" && img.Config.Architecture != runtime.GOARCH {
		j.progress(fmt.Sprintf("%s WARNING: %s is for %s, not linux/%s", pfx, base, img.Config.Architecture, runtime.GOARCH))
	}
	if len(img.Config.Config.OnBuild) > 0 {
		j.progress(fmt.Sprintf("%s WARNING: the ONBUILD triggers of %s are not run", pfx, base))
	}
	st.image, st.layers = img.ID, img.Layers
	st.cfg = *img.Config.Config.DeepCopy()
	st.cfg.OnBuild = nil
	if !hasEnv(st.cfg.Env, "PATH") {
		st.cfg.Env = append(st.cfg.Env, defaultPath)
	}
	st.key = chainKey("", "FROM", img.ID)
	return st, nil
}

// baseImage resolves ref in the store, pulling it when it is absent. With
// spec.Pull (docker's --pull: always try for a newer base) it pulls first,
// but a failed pull of an image that is present locally (offline, a
// registry that never had it, as with an imported image) only warns, in
// the progress, and the local image is used.
func (j *job) baseImage(ctx context.Context, ref string) (*image.Image, error) {
	local, err := j.b.store.Resolve(ctx, ref)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return nil, err
	}
	if local != nil && !j.spec.Pull {
		return local, nil
	}
	if err := j.b.store.Pull(ctx, ref, j.progress); err != nil {
		if local == nil || ctx.Err() != nil {
			return nil, err
		}
		j.progress(fmt.Sprintf("WARN pull %s failed, using the local image: %v", ref, err))
		return local, nil
	}
	return j.b.store.Resolve(ctx, ref)
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}

// expandEnv is what words expand against: the stage's args, then ENV.
func (st *state) expandEnv() []string {
	env := envList(st.args)
	for _, e := range st.cfg.Env {
		k, v, _ := strings.Cut(e, "=")
		env = image.SetEnv(env, k, v)
	}
	return env
}

// runEnv is the environment of a RUN: ENV, plus args not shadowed by ENV.
func (st *state) runEnv() []string {
	env := append([]string(nil), st.cfg.Env...)
	for _, kv := range envList(st.args) {
		k, v, _ := strings.Cut(kv, "=")
		if !hasEnv(env, k) {
			env = append(env, k+"="+v)
		}
	}
	if !hasEnv(env, "PATH") {
		env = append(env, defaultPath)
	}
	return env
}

func (st *state) shell() []string {
	if len(st.cfg.Shell) > 0 {
		return st.cfg.Shell
	}
	return []string{"/bin/sh", "-c"}
}

func (st *state) cmdline(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(append([]string(nil), st.shell()...), strings.Join(c.CmdLine, " "))
	}
	return append([]string(nil), c.CmdLine...)
}

func (st *state) workdir() string {
	if st.cfg.WorkingDir == "" {
		return "/"
	}
	return st.cfg.WorkingDir
}

// meta records an instruction that changes only the config.
func (st *state) meta(text string) {
	st.key = chainKey(st.key, text)
	st.hist = append(st.hist, v1.History{CreatedBy: text, EmptyLayer: true})
}

// dispatch runs one instruction of stage i.
func (j *job) dispatch(ctx context.Context, i int, st *state, cmd instructions.Command, pfx string) error {
	text := cmd.(fmt.Stringer).String()
	j.progress(pfx + " " + text)
	lex := shell.NewLex(j.escape)
	expand := func(word string) (string, error) {
		w, _, err := lex.ProcessWord(word, shell.EnvsFromSlice(st.expandEnv()))
		return w, err
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(expand); err != nil {
			return err
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := ex.ExpandRaw(expand); err != nil {
			return err
		}
	}
	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			v, ok := j.argValue(kv.Key)
			switch {
			case ok:
			case kv.Value != nil:
				v, ok = *kv.Value, true
			default:
				v, ok = j.meta[kv.Key]
			}
			if ok {
				st.args[kv.Key] = v
				st.key = chainKey(st.key, "ARG", kv.Key, v)
			} else {
				st.key = chainKey(st.key, "ARG", kv.Key)
			}
		}
		return nil
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			st.cfg.Env = image.SetEnv(st.cfg.Env, kv.Key, kv.Value)
		}
		st.meta(envText(c))
	case *instructions.LabelCommand:
		if st.cfg.Labels == nil {
			st.cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			st.cfg.Labels[kv.Key] = kv.Value
		}
		st.meta(text)
	case *instructions.MaintainerCommand:
		st.meta(text)
	case *instructions.UserCommand:
		st.cfg.User = c.User
		st.meta("USER " + c.User)
	case *instructions.ExposeCommand:
		if st.cfg.ExposedPorts == nil {
			st.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			words, err := lex.ProcessWords(p, shell.EnvsFromSlice(st.expandEnv()))
			if err != nil {
				return err
			}
			for _, w := range words {
				ports, err := expandPorts(w)
				if err != nil {
					return err
				}
				for _, p := range ports {
					st.cfg.ExposedPorts[p] = struct{}{}
				}
			}
		}
		st.meta(text)
	case *instructions.VolumeCommand:
		if st.cfg.Volumes == nil {
			st.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			st.cfg.Volumes[v] = struct{}{}
		}
		st.meta(text)
	case *instructions.StopSignalCommand:
		st.cfg.StopSignal = c.Signal
		st.meta(text)
	case *instructions.CmdCommand:
		st.cfg.Cmd = st.cmdline(c.ShellDependantCmdLine)
		st.cmdSet = true
		st.meta(text)
	case *instructions.EntrypointCommand:
		st.cfg.Entrypoint = st.cmdline(c.ShellDependantCmdLine)
		if !st.cmdSet {
			st.cfg.Cmd = nil
		}
		st.meta(text)
	case *instructions.ShellCommand:
		st.cfg.Shell = append([]string(nil), c.Shell...)
		st.meta(text)
	case *instructions.OnbuildCommand:
		st.cfg.OnBuild = append(st.cfg.OnBuild, c.Expression)
		st.meta(text)
	case *instructions.HealthCheckCommand:
		h := c.Health
		st.cfg.Healthcheck = &v1.HealthConfig{
			Test: append([]string(nil), h.Test...), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
		st.meta(text)
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			p = path.Join(st.workdir(), p)
		}
		st.cfg.WorkingDir = path.Clean(p)
		return j.workdir(ctx, st, "WORKDIR "+st.cfg.WorkingDir, pfx)
	case *instructions.CopyCommand:
		return j.copy(ctx, i, st, copyArgs{
			text: text, sd: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod,
			excludes: c.ExcludePatterns, parents: c.Parents,
		}, pfx)
	case *instructions.AddCommand:
		return j.copy(ctx, i, st, copyArgs{
			text: text, sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod,
			excludes: c.ExcludePatterns, add: true, checksum: c.Checksum,
			unpack: c.Unpack == nil || *c.Unpack,
		}, pfx)
	case *instructions.RunCommand:
		return j.run(ctx, i, st, c, pfx)
	default:
		return fmt.Errorf("%s: %w", strings.ToUpper(cmd.Name()), errUnsupported)
	}
	return nil
}

func envText(c *instructions.EnvCommand) string {
	parts := make([]string, len(c.Env))
	for i, kv := range c.Env {
		parts[i] = kv.Key + "=" + kv.Value
	}
	return "ENV " + strings.Join(parts, " ")
}

// expandPorts normalises "80", "80/udp" and "8000-8002/tcp".
func expandPorts(spec string) ([]string, error) {
	ports, proto, ok := strings.Cut(spec, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	lo, hi, isRange := strings.Cut(ports, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", spec)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid port range %q", spec)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// ensureLayers resolves the state's image's layer dirs when not known yet.
func (j *job) ensureLayers(ctx context.Context, st *state) error {
	if st.image == "" || st.layers != nil {
		return nil
	}
	img, err := j.b.store.Resolve(ctx, st.image)
	if err != nil {
		return err
	}
	st.layers = img.Layers
	return nil
}

// tmpDir makes a scratch directory removed when the build ends.
func (j *job) tmpDir(prefix string) (string, error) {
	d, err := os.MkdirTemp(j.b.tmpDir(), tmpPrefix(prefix))
	if err != nil {
		return "", err
	}
	return d, nil
}
