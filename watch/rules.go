package watch

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hoist-dev/hoist/internal/dockerignore"
	"github.com/moby/patternmatcher"
)

// Service is the watch configuration of one service, independent of how the
// project was loaded. Paths are absolute host paths.
type Service struct {
	Name  string
	Rules []types.Trigger
	// BuildContext is the service's local build context, "" when it has none
	// (or a remote one). Its ignore file applies to rules inside it, as to
	// the build: <Dockerfile>.dockerignore when that exists, else
	// <context>/.dockerignore.
	BuildContext string
	// Dockerfile is the build's Dockerfile (absolute), "" when inline.
	Dockerfile string
	// BindSources are host paths bind-mounted into the service: syncing them
	// would be redundant (the container already sees the host file) and, for
	// an overlapping target, racy. They are skipped with a warning.
	BindSources []string
}

// FromProject extracts the watch configuration of the named services (all
// services when none are named), skipping services without develop.watch.
// Relative paths are resolved against the project's working directory.
func FromProject(p *types.Project, names ...string) ([]Service, error) {
	if len(names) == 0 {
		names = p.ServiceNames()
	}
	sort.Strings(names)
	abs := func(s string) string {
		if s == "" || filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(p.WorkingDir, s)
	}
	var out []Service
	for _, name := range names {
		s, err := p.GetService(name)
		if err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
		if s.Develop == nil || len(s.Develop.Watch) == 0 {
			continue
		}
		ws := Service{Name: name}
		for _, t := range s.Develop.Watch {
			t.Path = abs(t.Path)
			ws.Rules = append(ws.Rules, t)
		}
		if s.Build != nil && s.Build.Context != "" && !strings.Contains(s.Build.Context, "://") && !strings.HasPrefix(s.Build.Context, "git@") {
			ws.BuildContext = abs(s.Build.Context)
			if s.Build.DockerfileInline == "" {
				df := s.Build.Dockerfile
				if df == "" {
					df = "Dockerfile"
				}
				if !filepath.IsAbs(df) {
					df = filepath.Join(ws.BuildContext, df)
				}
				ws.Dockerfile = df
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && v.Source != "" {
				ws.BindSources = append(ws.BindSources, abs(v.Source))
			}
		}
		out = append(out, ws)
	}
	return out, nil
}

// rule is one compiled develop.watch entry.
type rule struct {
	id          int // index over all services, stable for a Run
	service     string
	action      types.WatchAction
	display     string // path as configured, for messages
	root        string // symlinks resolved, cleaned
	isFile      bool   // the rule names a single file
	target      string
	ignore      *patternmatcher.PatternMatcher // relative to root
	include     *patternmatcher.PatternMatcher // relative to root
	dockerIgn   *patternmatcher.PatternMatcher // relative to contextDir
	contextDir  string
	exec        ExecCommand
	initialSync bool
	noSync      bool // the sync part is disabled (bind-mounted, no target)
}

func (r *rule) syncs() bool {
	switch r.action {
	case types.WatchActionSync, types.WatchActionSyncRestart, types.WatchActionSyncExec:
		return !r.noSync
	}
	return false
}

type ruleSet struct {
	services []string
	bySvc    map[string][]*rule
	all      []*rule
	binds    map[string][]string
}

// compile resolves and validates the rules. Problems that only make a rule
// partly useless are reported through warn; malformed patterns are errors.
func compile(services []Service, warn func(Event)) (*ruleSet, error) {
	rs := &ruleSet{bySvc: map[string][]*rule{}, binds: map[string][]string{}}
	for _, s := range services {
		if _, dup := rs.bySvc[s.Name]; dup {
			return nil, fmt.Errorf("watch: service %q listed twice", s.Name)
		}
		rs.services = append(rs.services, s.Name)
		rs.bySvc[s.Name] = nil
		for _, b := range s.BindSources {
			rs.binds[s.Name] = append(rs.binds[s.Name], resolve(b))
		}
		var dockerIgn *patternmatcher.PatternMatcher
		ctxDir := ""
		if s.BuildContext != "" {
			ctxDir = resolve(s.BuildContext)
			m, err := dockerignore.Load(dockerignore.BuildFiles(ctxDir, resolveIf(s.Dockerfile))...)
			if err != nil {
				return nil, fmt.Errorf("watch: service %s: %w", s.Name, err)
			}
			dockerIgn = m
		}
		for i, t := range s.Rules {
			r := &rule{
				id:          len(rs.all),
				service:     s.Name,
				action:      t.Action,
				display:     t.Path,
				target:      t.Target,
				initialSync: t.InitialSync,
				exec:        execCommand(t.Exec),
			}
			switch t.Action {
			case types.WatchActionSync, types.WatchActionSyncRestart, types.WatchActionSyncExec,
				types.WatchActionRebuild, types.WatchActionRestart:
			default:
				return nil, fmt.Errorf("watch: service %s: rule %d: unknown action %q", s.Name, i, t.Action)
			}
			if !filepath.IsAbs(t.Path) {
				return nil, fmt.Errorf("watch: service %s: rule %d: path %q is not absolute", s.Name, i, t.Path)
			}
			r.root = resolve(t.Path)
			fi, err := os.Stat(r.root)
			if err != nil {
				// Compose skips such rules too; the path may be created later,
				// but then `hoist watch` has to be restarted.
				warn(Event{Stage: StageWarning, Service: s.Name, Path: t.Path,
					Message: fmt.Sprintf("%s: watch path %s does not exist; rule skipped", s.Name, t.Path)})
				continue
			}
			r.isFile = !fi.IsDir()
			if r.ignore, err = matcher(t.Ignore); err != nil {
				return nil, fmt.Errorf("watch: service %s: rule %d: ignore: %w", s.Name, i, err)
			}
			if r.include, err = matcher(t.Include); err != nil {
				return nil, fmt.Errorf("watch: service %s: rule %d: include: %w", s.Name, i, err)
			}
			if dockerIgn != nil && within(ctxDir, r.root) {
				r.dockerIgn, r.contextDir = dockerIgn, ctxDir
			}
			if r.syncs() && t.Target == "" {
				r.noSync = true
				warn(Event{Stage: StageWarning, Service: s.Name, Path: t.Path,
					Message: fmt.Sprintf("%s: %s rule for %s has no target; nothing will be synced", s.Name, t.Action, t.Path)})
			}
			if r.syncs() {
				for _, b := range rs.binds[s.Name] {
					switch {
					case within(b, r.root):
						r.noSync = true
						warn(Event{Stage: StageWarning, Service: s.Name, Path: t.Path,
							Message: fmt.Sprintf("%s: %s is bind-mounted into the service (from %s); it is not synced", s.Name, t.Path, b)})
					case within(r.root, b):
						warn(Event{Stage: StageWarning, Service: s.Name, Path: b,
							Message: fmt.Sprintf("%s: %s is bind-mounted into the service; files under it are not synced", s.Name, b)})
					}
				}
			}
			rs.bySvc[s.Name] = append(rs.bySvc[s.Name], r)
			rs.all = append(rs.all, r)
		}
	}
	return rs, nil
}

func execCommand(h types.ServiceHook) ExecCommand {
	c := ExecCommand{Command: h.Command, User: h.User, WorkingDir: h.WorkingDir, Privileged: h.Privileged}
	for k, v := range h.Environment {
		if v == nil { // unresolved; the loader already dropped what it could not resolve
			continue
		}
		if c.Environment == nil {
			c.Environment = map[string]string{}
		}
		c.Environment[k] = *v
	}
	return c
}

func matcher(patterns []string) (*patternmatcher.PatternMatcher, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	m, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", patterns, err)
	}
	return m, nil
}

// resolve cleans p and resolves symlinks in it when it exists, so that paths
// reported by inotify (which are built from the watched directories) compare
// equal to rule roots.
// resolveIf is resolve, keeping "" as "".
func resolveIf(p string) string {
	if p == "" {
		return ""
	}
	return resolve(p)
}

func resolve(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// within reports whether p is root or below it.
func within(root, p string) bool {
	if p == root {
		return true
	}
	if root == string(filepath.Separator) {
		return strings.HasPrefix(p, root)
	}
	return strings.HasPrefix(p, root+string(filepath.Separator))
}

// editorFile reports names that editors create and remove around every save;
// syncing them is noise at best.
func editorFile(name string) bool {
	switch {
	case name == "4913": // vim probes whether it may create files
		return true
	case strings.HasSuffix(name, "~"):
		return true
	case strings.HasPrefix(name, ".#"): // emacs lock files
		return true
	case strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".swx") || strings.HasSuffix(name, ".swo")):
		return true
	}
	return false
}

// defaultIgnored applies the ignores every rule has: version-control
// metadata and editor files.
func defaultIgnored(rel string, isDir bool) bool {
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part == ".git" {
			return true
		}
	}
	return !isDir && editorFile(filepath.Base(rel))
}

// choose returns the rules of service that decide about p: those with the
// most specific path containing p (several when one path has several
// actions).
func (rs *ruleSet) choose(service, p string) []*rule {
	var best []*rule
	for _, r := range rs.bySvc[service] {
		if r.isFile && p != r.root || !r.isFile && !within(r.root, p) {
			continue
		}
		switch {
		case len(best) == 0 || len(r.root) > len(best[0].root):
			best = []*rule{r}
		case len(r.root) == len(best[0].root):
			best = append(best, r)
		}
	}
	return best
}

// accepts reports whether p counts for r. For a directory only the ignore
// side is checked (include names files), and a directory is only rejected
// when no exclusion pattern could bring back something below it.
func (r *rule) accepts(p string, isDir bool) bool {
	if r.isFile {
		return p == r.root
	}
	rel, err := filepath.Rel(r.root, p)
	if err != nil || rel == "." {
		return false
	}
	if defaultIgnored(rel, isDir) {
		return false
	}
	if ignored(r.ignore, rel, isDir) {
		return false
	}
	if r.dockerIgn != nil {
		if crel, err := filepath.Rel(r.contextDir, p); err == nil && ignored(r.dockerIgn, crel, isDir) {
			return false
		}
	}
	if !isDir && r.include != nil {
		if ok, err := r.include.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil || !ok {
			return false
		}
	}
	return true
}

func ignored(m *patternmatcher.PatternMatcher, rel string, isDir bool) bool {
	if m == nil {
		return false
	}
	if isDir && m.Exclusions() {
		return false
	}
	ok, err := m.MatchesOrParentMatches(filepath.ToSlash(rel))
	return err == nil && ok
}

// wantDir reports whether directory d must be watched: some service's
// deciding rule for d does not ignore it.
func (rs *ruleSet) wantDir(d string) bool {
	for _, svc := range rs.services {
		for _, r := range rs.choose(svc, d) {
			if r.isFile {
				continue
			}
			if d == r.root || r.accepts(d, true) {
				return true
			}
		}
	}
	return false
}

// containerPath maps a host path accepted by r to its place under target.
func (r *rule) containerPath(p string) string {
	if r.isFile {
		return r.target
	}
	rel, _ := filepath.Rel(r.root, p)
	return path.Join(r.target, filepath.ToSlash(rel))
}

func (rs *ruleSet) bindMounted(service, p string) bool {
	for _, b := range rs.binds[service] {
		if within(b, p) {
			return true
		}
	}
	return false
}
