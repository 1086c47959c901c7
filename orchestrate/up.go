package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/netplan"
	"github.com/hoist-dev/hoist/plan"
)

// UpOptions are `up`'s flags.
type UpOptions struct {
	Services      []string
	NoDeps        bool
	Build         bool
	NoBuild       bool
	Pull          string
	ForceRecreate bool
	NoRecreate    bool
	RemoveOrphans bool
	Wait          bool
	WaitTimeout   time.Duration
	// NoStart creates containers without starting them (plan.UpOptions).
	NoStart bool
	DryRun  bool
	// KillCtx ends when the user insists (second Ctrl-C): the rollback of
	// an interrupted or failed up then kills instead of stopping gracefully.
	KillCtx context.Context
	// Probe checks host ports; nil means netplan.HostProbe.
	Probe netplan.Probe
	// Strict fails, before any container is made, where up would warn
	// that hoist or the engine ignores a setting.
	Strict bool
}

// UpResult tells what was planned.
type UpResult struct {
	Project   *types.Project
	ImagePlan *plan.Plan
	Plan      *plan.Plan
}

// Up converges the project. On failure or cancellation it removes what this
// call created, so a failed up leaves nothing half-made behind.
func (o *Orchestrator) Up(ctx context.Context, p *types.Project, opts UpOptions) (*UpResult, error) {
	p, err := selectServices(p, opts.Services, opts.NoDeps)
	if err != nil {
		return nil, err
	}
	full := p
	p, providers := withoutProviders(p)
	res := &UpResult{Project: p}
	if l, ok := o.Backend.(engine.ProjectLocker); ok && !opts.DryRun {
		unlock, err := l.LockProject(ctx, p.Name)
		if err != nil {
			return res, err
		}
		defer unlock()
	}
	bindings, err := netplan.Ports(p)
	if err != nil {
		return res, err
	}
	refs := imageRefs(p)
	observed, err := o.Backend.Observe(ctx, p.Name, refs)
	if err != nil {
		return res, fmt.Errorf("observe project %q: %w", p.Name, err)
	}
	probe := opts.Probe
	if probe == nil {
		probe = netplan.HostProbe
	}
	if !opts.DryRun {
		if _, err := netplan.Resolve(bindings, netplan.CheckOptions{Probe: probe, Held: heldPorts(observed)}); err != nil {
			return res, err
		}
	}
	res.ImagePlan = plan.Images(p, observed, plan.ImageOptions{Build: opts.Build, NoBuild: opts.NoBuild, Pull: opts.Pull})
	if opts.DryRun {
		if len(providers) > 0 {
			o.warn("a dry run does not run provider services: the services that depend on them are planned without what they would set")
		}
		res.Plan, err = plan.Up(p, observed, o.planOptions(opts))
		return res, err
	}
	if !res.ImagePlan.Empty() {
		if err := o.execute(ctx, p, res.ImagePlan, newRunState(observed), o.parallel()); err != nil {
			return res, err
		}
		for _, ref := range refs {
			id, err := o.Backend.ImageID(ctx, ref)
			if err == nil {
				observed.ImageIDs[ref] = id
			}
		}
	}
	if len(providers) > 0 {
		if p, err = o.runProviders(ctx, full, providers); err != nil {
			return res, err
		}
		p, _ = withoutProviders(p)
		res.Project = p
	}
	res.Plan, err = plan.Up(p, observed, o.planOptions(opts))
	if err != nil {
		return res, err
	}
	for _, w := range res.Plan.Warnings {
		o.warn(w)
	}
	if ignored := o.warnUnsupported(p, nil, !opts.Strict); len(ignored) > 0 && opts.Strict {
		return res, fmt.Errorf("--strict: %s", strings.Join(ignored, "; "))
	}
	st := newRunState(observed)
	st.waitTimeout = opts.WaitTimeout
	err = o.execute(ctx, p, res.Plan, st, o.parallel())
	if err == nil {
		return res, nil
	}
	killCtx := opts.KillCtx
	if killCtx == nil {
		killCtx = context.Background()
	}
	if rerr := o.rollback(killCtx, p, st); rerr != nil {
		err = errors.Join(err, fmt.Errorf("clean up after failed up: %w", rerr))
	}
	return res, err
}

func (o *Orchestrator) planOptions(u UpOptions) plan.UpOptions {
	return plan.UpOptions{ForceRecreate: u.ForceRecreate, NoRecreate: u.NoRecreate, RemoveOrphans: u.RemoveOrphans, Wait: u.Wait, NoStart: u.NoStart,
		Hash: o.hasher()}
}

func selectServices(p *types.Project, names []string, noDeps bool) (*types.Project, error) {
	if len(names) == 0 {
		return p, nil
	}
	for _, n := range names {
		if _, ok := p.Services[n]; !ok {
			return nil, fmt.Errorf("no such service: %q (services: %s)", n, strings.Join(p.ServiceNames(), ", "))
		}
	}
	dep := types.IncludeDependencies
	if noDeps {
		dep = types.IgnoreDependencies
	}
	sel, err := p.WithSelectedServices(names, dep)
	if err != nil || !noDeps {
		return sel, err
	}
	// compose-go drops depends_on entries naming unselected services; the
	// containers must still carry them (their label orders `down`), and the
	// planner skips dependencies that are not in the project.
	for name, s := range sel.Services {
		s.DependsOn = p.Services[name].DependsOn
		sel.Services[name] = s
	}
	return sel, nil
}

func imageRefs(p *types.Project) []string {
	seen := map[string]bool{}
	var refs []string
	for _, s := range p.Services {
		r := compose.ImageRef(p, s)
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	sort.Strings(refs)
	return refs
}

// heldPorts are published by the project's own running containers; they are
// either kept or released by a recreate, so they are not "in use".
func heldPorts(st *engine.State) []netplan.Binding {
	var out []netplan.Binding
	for _, c := range st.Containers {
		if c.State != engine.StateRunning && c.State != engine.StateRestarting {
			continue
		}
		for _, pb := range c.Ports {
			if pb.HostPort == 0 {
				continue
			}
			ip, err := netip.ParseAddr(pb.HostIP)
			if err != nil {
				ip = netip.IPv4Unspecified()
			}
			out = append(out, netplan.Binding{Service: c.Service, HostIP: ip, HostPort: pb.HostPort, ContainerPort: pb.ContainerPort, Protocol: pb.Protocol})
		}
	}
	return out
}

// runState is what one execution learns and creates.
type runState struct {
	mu      sync.Mutex
	ids     map[string]string // container name -> ID
	created []engine.Container
	// byService are the services' replicas (one-offs aside) as the
	// execution goes: observed, plus created, less removed.
	byService   map[string][]engine.Container
	networks    []engine.Network
	volumes     []engine.Volume
	waitTimeout time.Duration
}

func newRunState(obs *engine.State) *runState {
	st := &runState{ids: map[string]string{}, byService: map[string][]engine.Container{}}
	for _, c := range obs.Containers {
		st.ids[c.Name] = c.ID
		if !c.OneOff {
			st.byService[c.Service] = append(st.byService[c.Service], c)
		}
	}
	return st
}

// containerOf is the container a reference to service resolves to now
// (see compose.ContainerOf).
func (s *runState) containerOf(service string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return plan.FirstContainer(s.byService[service])
}

// forget drops a removed container from its service's replicas.
func (s *runState) forget(service, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byService[service] = slices.DeleteFunc(s.byService[service], func(c engine.Container) bool { return c.ID == id })
}

func (s *runState) id(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.ids[name]; ok {
		return id
	}
	return name
}

// warnUnsupported says once per field which services (of names, or all
// when nil) use something hoist or the engine ignores, instead of silently
// dropping it, when warn; it returns what it says.
func (o *Orchestrator) warnUnsupported(p *types.Project, names []string, warn bool) []string {
	u, _ := o.Backend.(engine.Unsupporter)
	type key struct{ who, field string }
	byField := map[key][]string{}
	if names == nil {
		names = p.ServiceNames()
	}
	for _, name := range names {
		s := p.Services[name]
		for _, f := range compose.Unmapped(s) {
			k := key{"hoist", f}
			byField[k] = append(byField[k], name)
		}
		if u == nil {
			continue
		}
		c, err := compose.Resolve(p, s, false)
		if err != nil {
			continue // validation reported it
		}
		for _, f := range u.Unsupported(c) {
			k := key{"the " + o.Backend.Name() + " engine", f}
			byField[k] = append(byField[k], name)
		}
	}
	keys := make([]key, 0, len(byField))
	for k := range byField {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].who != keys[j].who {
			return keys[i].who < keys[j].who
		}
		return keys[i].field < keys[j].field
	})
	var out []string
	var loc *compose.Locator
	if len(keys) > 0 {
		loc = compose.NewLocator(p.ComposeFiles)
	}
	for _, k := range keys {
		svcs := byField[k]
		sort.Strings(svcs)
		// Each service with the file and line that set the key (or the
		// service's own line when the key is written another way, such as
		// deploy.resources for mem_limit), so the user finds what to drop.
		named := make([]string, len(svcs))
		for i, s := range svcs {
			named[i] = s
			if file, line := loc.Locate(append([]string{"services", s}, fieldPath(k.field)...)...); file != "" && line > 0 {
				named[i] = fmt.Sprintf("%s at %s:%d", s, file, line)
			}
		}
		msg := fmt.Sprintf("%s ignores %q (services: %s)", k.who, k.field, strings.Join(named, ", "))
		out = append(out, msg)
		if warn {
			o.warn(msg)
		}
	}
	return out
}

// fieldPath is the compose key a field named by compose.Unmapped or an
// engine's Unsupported starts with: "mem_limit (why)" is mem_limit,
// "cpu_quota/cpu_period" cpu_quota, "deploy.resources.reservations.devices"
// that path.
func fieldPath(field string) []string {
	if i := strings.IndexAny(field, " (/:"); i >= 0 {
		field = field[:i]
	}
	return strings.Split(field, ".")
}
