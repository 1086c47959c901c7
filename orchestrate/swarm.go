package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/dag"
	"github.com/hoist-dev/hoist/engine"
)

// Services drives an engine.ServiceRunner (a swarm) with the same
// project hoist runs on one machine: each service resolved once
// (compose.ResolveWith for a swarm), its image built, pushed and pinned,
// rolled out in depends_on order with waits on its tasks. The
// container-level commands have no meaning there and are refused.
type Services struct {
	Runner engine.ServiceRunner
	// Parallel bounds the services rolled out at once; <= 0 is the
	// default.
	Parallel int
	// Report receives events; nil discards them. Calls are serialized.
	Report func(Event)

	mu sync.Mutex
}

// ErrNotOnServices marks a command a service-level engine cannot run.
var ErrNotOnServices = errors.New("not supported by a service-level engine")

// NotSupported is the one-line error of a command the engine cannot run.
func NotSupported(engineName, command string) error {
	return notSupported(fmt.Sprintf("%s: not supported by the %s engine (it runs services, not containers)", command, engineName))
}

type notSupported string

func (e notSupported) Error() string        { return string(e) }
func (e notSupported) Is(target error) bool { return target == ErrNotOnServices }

// Close releases the engine's connection; its objects stay.
func (o *Services) Close() error { return o.Runner.Close() }

func (o *Services) emit(e Event) {
	if o.Report == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Report(e)
}

func (o *Services) say(msg string) { o.emit(Event{Status: StatusInfo, Message: msg}) }

// ServicesUpOptions are up's flags on a service-level engine.
type ServicesUpOptions struct {
	Services []string
	NoDeps   bool
	Build    bool
	NoBuild  bool
	// Detach returns once each service's update is accepted; only what
	// other services depend on is waited for, as docker compose up -d
	// waits for depends_on conditions.
	Detach bool
	// WaitTimeout bounds the whole up; 0 is no bound.
	WaitTimeout time.Duration
	// DryRun says what would change and does nothing.
	DryRun bool
	// Strict makes warnings (keys the engine ignores) errors.
	Strict bool
}

// ServicesUpResult is what up did, or with DryRun would do.
type ServicesUpResult struct {
	Networks []string
	Changes  []engine.ServiceChange
	// Pruned are the configs and secrets removed once nothing used them.
	Pruned []string
}

// Plan is the dry run's text: one line per network and service, in
// rollout order.
func (r *ServicesUpResult) Plan() string {
	var b strings.Builder
	for _, n := range r.Networks {
		fmt.Fprintf(&b, "network %s\n", n)
	}
	for _, c := range r.Changes {
		verb := map[string]string{"created": "create", "updated": "update", "unchanged": "unchanged"}[c.Change]
		fmt.Fprintf(&b, "%s service %s\n", verb, c.Service)
	}
	if r.NoOp() {
		b.WriteString("nothing to do: every service is up to date\n")
	}
	return b.String()
}

// NoOp reports whether no service was (or would be) created or updated.
func (r *ServicesUpResult) NoOp() bool {
	for _, c := range r.Changes {
		if c.Change != "unchanged" {
			return false
		}
	}
	return true
}

// Up converges the project on the engine.
func (o *Services) Up(ctx context.Context, p *types.Project, opts ServicesUpOptions) (*ServicesUpResult, error) {
	if opts.Build && opts.NoBuild {
		return nil, errors.New("--build and --no-build cannot be used together")
	}
	p, err := selectServices(p, opts.Services, opts.NoDeps)
	if err != nil {
		return nil, err
	}
	specs, err := o.resolve(p)
	if err != nil {
		return nil, err
	}
	if err := o.check(ctx, p, specs, opts.Strict); err != nil {
		return nil, err
	}
	if opts.WaitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.WaitTimeout)
		defer cancel()
	}
	res := &ServicesUpResult{}
	keys := make([]string, 0, len(p.Networks))
	for key := range p.Networks {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		n := p.Networks[key]
		if !usedNetwork(p, key) {
			continue
		}
		res.Networks = append(res.Networks, n.Name)
		if opts.DryRun {
			continue
		}
		spec := engine.NetworkSpec{Name: n.Name, Project: p.Name, Key: key, Driver: n.Driver, Internal: n.Internal, Options: n.DriverOpts, Labels: n.Labels}
		if err := o.Runner.PrepareNetwork(ctx, spec, bool(n.External)); err != nil {
			return res, err
		}
	}
	policy := engine.BuildMissing
	switch {
	case opts.DryRun || opts.NoBuild:
		policy = engine.BuildNever
	case opts.Build:
		policy = engine.BuildAlways
	}
	// What others depend on is waited for even when detached.
	needed := map[string]bool{}
	for _, s := range p.Services {
		for dep := range s.DependsOn {
			needed[dep] = true
		}
	}
	var mu sync.Mutex
	changes := map[string]engine.ServiceChange{}
	var tasks []dag.Task
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		var deps []string
		for dep := range s.DependsOn {
			if _, ok := p.Services[dep]; ok {
				deps = append(deps, dep)
			}
		}
		sort.Strings(deps)
		spec := specs[name]
		wait := !opts.DryRun && (!opts.Detach || needed[name])
		tasks = append(tasks, dag.Task{ID: name, Deps: deps, Run: func(ctx context.Context) error {
			ch, err := o.rollOut(ctx, spec, policy, opts.DryRun, wait)
			mu.Lock()
			changes[name] = ch
			mu.Unlock()
			return err
		}})
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	var order []string
	err = dag.Run(ctx, tasks, dag.Options{Parallel: parallel, Notify: func(e dag.Event) {
		if e.Status == dag.Started {
			order = append(order, e.ID)
		}
	}})
	for _, name := range order {
		if ch, ok := changes[name]; ok {
			res.Changes = append(res.Changes, ch)
		}
	}
	if err != nil {
		return res, err
	}
	if opts.DryRun {
		return res, nil
	}
	if res.NoOp() {
		o.say(fmt.Sprintf("nothing to do: %d services up to date, none updated", len(res.Changes)))
	}
	if !opts.Detach {
		// The old configs and secrets go once every service converged
		// on the new ones (a detached up leaves them to the next up).
		pruned, err := o.Runner.PruneObjects(ctx, p.Name)
		res.Pruned = pruned
		for _, n := range pruned {
			o.say("removed unused " + n)
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// rollOut pins, applies and (when wait) follows one service.
func (o *Services) rollOut(ctx context.Context, s engine.ServiceSpec, policy engine.BuildPolicy, dry, wait bool) (engine.ServiceChange, error) {
	if s.Build != nil {
		// A build is reported once it begins: an image the registry
		// has is only pinned.
		start, built := time.Now(), false
		progress := func(msg string) {
			if !built {
				built = true
				o.emit(Event{Op: "build", Target: s.Config.Image, Status: "started"})
			}
			o.emit(Event{Op: "build", Target: s.Config.Image, Status: StatusInfo, Message: msg})
		}
		pinned, err := o.Runner.PinImage(ctx, s, policy, progress)
		if err != nil {
			o.emit(Event{Op: "build", Target: s.Config.Image, Status: "failed", Message: err.Error()})
			return engine.ServiceChange{Service: s.Name}, fmt.Errorf("service %q: image: %w", s.Name, err)
		}
		if built {
			o.emit(Event{Op: "build", Target: s.Config.Image, Status: "done", Elapsed: time.Since(start)})
		}
		if pinned != "" {
			s.Image = pinned
		}
	}
	ch, err := o.Runner.ApplyService(ctx, s, dry)
	if err != nil {
		return ch, err
	}
	if dry {
		return ch, nil
	}
	o.say(fmt.Sprintf("service %s: %s", s.Name, ch.Change))
	if !wait {
		return ch, nil
	}
	err = o.Runner.WaitService(ctx, s.Project, s.Name, func(p engine.ServiceProgress) { o.say(p.String()) })
	if err != nil {
		return ch, err
	}
	return ch, nil
}

// resolve is each service's configuration for the engine, resolved once.
func (o *Services) resolve(p *types.Project) (map[string]engine.ServiceSpec, error) {
	vols := map[string]engine.VolumeSpec{}
	for key, v := range p.Volumes {
		vols[v.Name] = engine.VolumeSpec{Name: v.Name, Project: p.Name, Key: key, Driver: v.Driver, Options: v.DriverOpts, Labels: v.Labels}
	}
	out := map[string]engine.ServiceSpec{}
	var errs []error
	for name, s := range p.Services {
		c, err := compose.ResolveWith(p, s, compose.ResolveOptions{Swarm: true})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		spec := engine.ServiceSpec{Project: p.Name, Name: name, Config: c, ContainerName: s.ContainerName, Volumes: vols}
		if b := s.Build; b != nil {
			spec.Build = &engine.BuildSpec{Tag: c.Image, Service: name, Context: b.Context, Dockerfile: b.Dockerfile, Inline: b.DockerfileInline,
				Args: map[string]*string(b.Args), Target: b.Target, Labels: map[string]string(b.Labels), NoCache: b.NoCache, Pull: b.Pull,
				Network: b.Network, Entitlements: b.Entitlements}
		}
		out[name] = spec
	}
	return out, errors.Join(errs...)
}

// check says, located in the compose files, what the engine cannot
// honour: errors stop up before anything is made, warnings are reported
// (and are errors too with strict).
func (o *Services) check(ctx context.Context, p *types.Project, specs map[string]engine.ServiceSpec, strict bool) error {
	var problems []engine.ServiceProblem
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Provider != nil {
			problems = append(problems, engine.ServiceProblem{Service: name, Path: []string{"provider"}, Msg: "a provider service runs on the machine of hoist, not on a cluster"})
		}
		for _, key := range compose.Unmapped(s) {
			if key == "provider" {
				continue
			}
			path := strings.Fields(key)[0]
			problems = append(problems, engine.ServiceProblem{Service: name, Path: strings.Split(strings.Split(path, "/")[0], "."), Warning: true,
				Msg: fmt.Sprintf("not carried to the %s engine; ignored", o.Runner.Name())})
		}
	}
	list := make([]engine.ServiceSpec, 0, len(specs))
	for _, name := range p.ServiceNames() {
		if s, ok := specs[name]; ok {
			list = append(list, s)
		}
	}
	found, err := o.Runner.CheckServices(ctx, p.Name, list)
	if err != nil {
		return err
	}
	problems = append(problems, found...)
	loc := compose.NewLocator(p.ComposeFiles)
	var errs []error
	for _, pr := range problems {
		e := loc.ServiceKey(pr.Service, pr.Path, strings.Join(pr.Path, ".")+": "+pr.Msg, pr.Hint)
		if pr.Warning && !strict {
			o.emit(Event{Status: StatusWarning, Message: e.Error()})
			continue
		}
		if pr.Warning {
			e.Hint = strings.TrimPrefix(e.Hint+"; ", "; ") + "an error because of --strict"
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// usedNetwork reports whether a service of p is attached to the network
// key (docker stack creates only those).
func usedNetwork(p *types.Project, key string) bool {
	for _, s := range p.Services {
		if _, ok := s.Networks[key]; ok {
			return true
		}
	}
	return false
}

// Down removes the project from the cluster and waits until its tasks
// are gone from the nodes, so that an up right after starts clean. With
// volumes, the project's named volumes (not external ones) are removed
// where the engine reaches them; each node holds its own copy, and the
// result's VolumesLeft names the nodes whose copy it could not reach.
func (o *Services) Down(ctx context.Context, project string, p *types.Project, volumes bool) (engine.ServiceRemoval, error) {
	var vols []string
	if volumes && p != nil {
		for _, v := range p.Volumes {
			if !bool(v.External) {
				vols = append(vols, v.Name)
			}
		}
		sort.Strings(vols)
	}
	r, err := o.Runner.RemoveProject(ctx, project, vols)
	for _, s := range r.Services {
		o.emit(Event{Status: StatusInfo, Message: "removed service " + s})
	}
	for _, kind := range []struct {
		what  string
		names []string
	}{{"network", r.Networks}, {"config", r.Configs}, {"secret", r.Secrets}, {"volume", r.Volumes}} {
		for _, n := range kind.names {
			o.emit(Event{Status: StatusInfo, Message: "removed " + kind.what + " " + n})
		}
	}
	return r, err
}

// Tasks lists the project's tasks on every node; with all, the ended
// ones too; services narrows them.
func (o *Services) Tasks(ctx context.Context, project string, services []string, all bool) ([]engine.ServiceTask, error) {
	ts, err := o.Runner.ServiceTasks(ctx, project)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ts, func(t engine.ServiceTask) bool {
		if len(services) > 0 && !slices.Contains(services, t.Service) {
			return true
		}
		return !all && t.DesiredState != "running" && t.DesiredState != "complete"
	}), nil
}

// Logs copies the services' output from every node.
func (o *Services) Logs(ctx context.Context, project string, services []string, opts engine.LogOptions, stdout, stderr io.Writer) error {
	return o.Runner.ServiceLogs(ctx, project, services, opts, stdout, stderr)
}

// Restart replaces each service's tasks (a forced update) and, unless
// detach, waits until they converged again.
func (o *Services) Restart(ctx context.Context, project string, services []string, detach bool) error {
	for _, s := range services {
		if err := o.Runner.UpdateService(ctx, project, s, engine.ServiceUpdate{Restart: true}); err != nil {
			return err
		}
		o.say("service " + s + ": restarting")
	}
	if detach {
		return nil
	}
	return o.waitAll(ctx, project, services)
}

// Scale sets services' replicas and, unless detach, waits.
func (o *Services) Scale(ctx context.Context, project string, replicas map[string]uint64, detach bool) error {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range replicas {
			if !yield(k) {
				return
			}
		}
	})
	for _, s := range names {
		n := replicas[s]
		if err := o.Runner.UpdateService(ctx, project, s, engine.ServiceUpdate{Replicas: &n}); err != nil {
			return err
		}
		o.say(fmt.Sprintf("service %s: scaled to %d", s, n))
	}
	if detach {
		return nil
	}
	return o.waitAll(ctx, project, names)
}

func (o *Services) waitAll(ctx context.Context, project string, services []string) error {
	var errs []error
	for _, s := range services {
		errs = append(errs, o.Runner.WaitService(ctx, project, s, func(p engine.ServiceProgress) { o.say(p.String()) }))
	}
	return errors.Join(errs...)
}

// Projects lists the projects (stacks) on the cluster.
func (o *Services) Projects(ctx context.Context) ([]engine.ProjectSummary, error) {
	return o.Runner.ServiceProjects(ctx)
}
