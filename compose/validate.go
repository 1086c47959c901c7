package compose

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/internal/logopts"
)

// errMissingInput marks the problems that only matter once containers are
// made: a build context, Dockerfile, secret or config file that does not
// exist, a secret or config variable that is not set. `docker compose
// config` prints a model that has them; up, build and run refuse it.
var errMissingInput = errors.New("missing input")

// Validate checks what compose-go accepts but an engine would reject late,
// so that hoist fails before the first pull, build or create. All problems
// are returned, joined, one line each; those about missing inputs wrap
// errMissingInput.
func Validate(p *types.Project, docs sourceDocs) error {
	return errors.Join(validate(p, docs, false)...)
}

func validate(p *types.Project, docs sourceDocs, swarm bool) []error {
	var errs []error
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := p.Services[name]
		errs = append(errs, resolveProblem(p, s, docs, swarm)...)
		for _, e := range validateService(p, s) {
			e.Service = name
			e.File, e.Line = docs.locate(append([]string{"services", name}, e.path...))
			errs = append(errs, e.Error)
		}
	}
	return append(errs, validateFileObjects(p, docs, swarm)...)
}

// resolveProblem is what Resolve refuses in service s, located: its
// parsers are the checks of what it reads. The secrets and configs
// themselves are reported where they are declared (validateFileObjects).
func resolveProblem(p *types.Project, s types.ServiceConfig, docs sourceDocs, swarm bool) []error {
	_, err := ResolveWith(p, s, ResolveOptions{Swarm: swarm})
	var ke *KeyError
	if err == nil || !errors.As(err, &ke) {
		return nil
	}
	if k := ke.Path[0]; k == "secrets" || k == "configs" {
		return nil
	}
	e := &Error{Service: s.Name, Msg: ke.Msg, Hint: ke.Hint}
	e.File, e.Line = docs.locate(append([]string{"services", s.Name}, ke.Path...))
	return []error{e}
}

// validateFileObjects checks the secrets and configs that services use:
// hoist gives them to containers as docker compose does without swarm
// (a bind mount of the file, or the content written into the container).
func validateFileObjects(p *types.Project, docs sourceDocs, swarm bool) []error {
	used := map[[2]string]bool{}
	for _, s := range p.Services {
		for _, r := range s.Secrets {
			used[[2]string{"secrets", r.Source}] = true
		}
		for _, r := range s.Configs {
			used[[2]string{"configs", r.Source}] = true
		}
	}
	keys := make([][2]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"/"+keys[i][1] < keys[j][0]+"/"+keys[j][1] })
	var errs []error
	for _, k := range keys {
		kind, name := k[0], k[1]
		var obj types.FileObjectConfig
		if kind == "secrets" {
			sec, ok := p.Secrets[name]
			if !ok {
				continue // compose-go reports undeclared references
			}
			obj = types.FileObjectConfig(sec)
		} else {
			cfg, ok := p.Configs[name]
			if !ok {
				continue
			}
			obj = types.FileObjectConfig(cfg)
		}
		_, hasValue := ObjectValue(p, obj)
		what := strings.TrimSuffix(kind, "s")
		var e *Error
		switch {
		case bool(obj.External) && swarm:
			// A swarm object made beforehand: the swarm engine checks it.
		case bool(obj.External):
			e = &Error{Msg: fmt.Sprintf("%s %q is external (a swarm object)", what, name), Hint: "hoist runs without swarm: give it a file, environment or content"}
		case obj.File != "":
			if _, err := os.Stat(obj.File); err != nil {
				e = &Error{Msg: fmt.Sprintf("%s %q: file %s does not exist", what, name, obj.File), Hint: fmt.Sprintf("create it or fix %s.%s.file (it is relative to the compose file)", kind, name), Err: errMissingInput}
			}
		case obj.Environment != "" && !hasValue:
			e = &Error{Msg: fmt.Sprintf("%s %q: environment variable %s is not set", what, name, obj.Environment), Hint: "set it in the environment or in .env", Err: errMissingInput}
		}
		if e != nil {
			e.File, e.Line = docs.locate([]string{kind, name})
			errs = append(errs, e)
		}
	}
	return errs
}

// ObjectValue is the content of a secret or config that has no file:
// compose-go puts the value of its environment variable (when set) or its
// inline content in Content.
func ObjectValue(p *types.Project, obj types.FileObjectConfig) (string, bool) {
	if obj.Environment != "" {
		_, set := p.Environment[obj.Environment]
		return obj.Content, set
	}
	return obj.Content, true
}

type problem struct {
	*Error
	path []string
}

func newProblem(path []string, msg, hint string) problem {
	return problem{Error: &Error{Msg: msg, Hint: hint}, path: path}
}

func missing(p problem) problem {
	p.Err = errMissingInput
	return p
}

func validateService(p *types.Project, s types.ServiceConfig) []problem {
	var out []problem
	if s.Image == "" && s.Build == nil && s.Provider == nil {
		out = append(out, newProblem(nil, "has neither image nor build", "add image: or build:"))
	}
	if s.Build != nil {
		out = append(out, validateBuild(s.Build)...)
	}
	if s.ContainerName != "" && s.GetScale() > 1 {
		out = append(out, newProblem([]string{"container_name"}, fmt.Sprintf("container_name %q cannot be used with %d replicas", s.ContainerName, s.GetScale()), "remove container_name or scale to 1"))
	}
	switch s.PullPolicy {
	case "", types.PullPolicyAlways, types.PullPolicyNever, types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyBuild, types.PullPolicyRefresh, "daily", "weekly":
	default:
		if !strings.HasPrefix(s.PullPolicy, "every_") {
			out = append(out, newProblem([]string{"pull_policy"}, fmt.Sprintf("pull_policy %q is not valid", s.PullPolicy), "use always, never, missing, build or every_<duration>"))
		}
	}
	if s.StopSignal != "" && !validSignal(s.StopSignal) {
		out = append(out, newProblem([]string{"stop_signal"}, fmt.Sprintf("stop_signal %q is not a signal", s.StopSignal), "use a name such as SIGTERM, SIGINT or SIGQUIT"))
	}
	for i, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Source == "" {
			out = append(out, newProblem([]string{"volumes", fmt.Sprint(i)}, "bind mount has no source", "use SOURCE:TARGET"))
		}
		if v.Target == "" && v.Type != types.VolumeTypeNamedPipe {
			out = append(out, newProblem([]string{"volumes", fmt.Sprint(i)}, "volume has no target path", "use SOURCE:TARGET with an absolute TARGET"))
		}
	}
	for i, port := range s.Ports {
		if port.Target == 0 {
			out = append(out, newProblem([]string{"ports", fmt.Sprint(i)}, "port has no container port", `use "HOST:CONTAINER"`))
		}
		if port.Protocol != "" && port.Protocol != "tcp" && port.Protocol != "udp" && port.Protocol != "sctp" {
			out = append(out, newProblem([]string{"ports", fmt.Sprint(i)}, fmt.Sprintf("protocol %q is not supported", port.Protocol), "use tcp or udp"))
		}
	}
	if l := s.Logging; l != nil && logopts.FileDriver(l.Driver) {
		if _, err := logopts.Parse(l.Driver, l.Options); err != nil {
			msg, hint, _ := strings.Cut(err.Error(), "; ")
			out = append(out, newProblem([]string{"logging", "options"}, msg, hint))
		}
	}
	return out
}

func validateBuild(b *types.BuildConfig) []problem {
	ctx := b.Context
	if ctx == "" || isRemoteContext(ctx) {
		return nil
	}
	st, err := os.Stat(ctx)
	if err != nil || !st.IsDir() {
		return []problem{missing(newProblem([]string{"build"}, fmt.Sprintf("build context %s does not exist or is not a directory", ctx), "fix build.context (it is relative to the compose file)"))}
	}
	if b.DockerfileInline != "" {
		return nil
	}
	df := b.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(ctx, df)
	}
	if _, err := os.Stat(df); err != nil {
		return []problem{missing(newProblem([]string{"build"}, fmt.Sprintf("Dockerfile %s does not exist", df), "fix build.dockerfile (it is relative to the build context)"))}
	}
	return nil
}

func isRemoteContext(c string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "github.com/"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

func validSignal(s string) bool {
	s = strings.TrimPrefix(strings.ToUpper(s), "SIG")
	switch s {
	case "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS":
		return true
	}
	if strings.HasPrefix(s, "RTMIN") || strings.HasPrefix(s, "RTMAX") {
		return true
	}
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	return err == nil && n > 0 && n < 65
}
