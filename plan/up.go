package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
)

// UpOptions mirror the flags of `up` that change the plan.
type UpOptions struct {
	ForceRecreate bool
	NoRecreate    bool
	RemoveOrphans bool
	// Wait adds a final wait (healthy, or running without a healthcheck) for
	// every container of the project, as `up --wait`.
	Wait bool
	// NoStart creates (and recreates) containers without starting any,
	// as `up --no-start` and `create`; it excludes Wait.
	NoStart bool
	// Hash is the config hash the engine's containers carry (docker
	// compose's on the Docker Engine); nil means compose.HoistHasher.
	Hash compose.Hasher
}

// ContainerName is the name docker compose gives replica n of a service.
func ContainerName(project string, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", project, s.Name, n)
}

// Up plans the convergence of the project's containers, networks and
// volumes. Images are prepared before (see Images), so observed.ImageIDs is
// current when this runs.
func Up(p *types.Project, observed *engine.State, o UpOptions) (*Plan, error) {
	if observed == nil {
		observed = &engine.State{}
	}
	pl := newPlan()
	b := &upBuilder{p: p, obs: observed, o: o, pl: pl, containers: map[string][]engine.Container{}}
	for _, c := range observed.Containers {
		if c.OneOff {
			continue
		}
		b.containers[c.Service] = append(b.containers[c.Service], c)
	}
	b.networks()
	b.volumes()
	names := sortedServices(p)
	for _, name := range names {
		if err := b.service(p.Services[name]); err != nil {
			return nil, err
		}
	}
	// Edges need every service's ops, so they come second.
	for _, name := range names {
		b.dependencies(p.Services[name])
	}
	if o.Wait {
		for _, name := range names {
			b.finalWait(p.Services[name])
		}
	}
	b.orphans()
	if o.NoStart {
		pl.without(Start, WaitRunning, WaitHealthy, WaitCompleted)
	}
	return pl, nil
}

type upBuilder struct {
	p          *types.Project
	obs        *engine.State
	o          UpOptions
	pl         *Plan
	containers map[string][]engine.Container // by service
	// kept are running containers the plan leaves alone; dependents of a
	// service need no start op from them.
	started map[string][]string // service -> IDs of ops that bring replicas up
}

func (b *upBuilder) networks() {
	have := map[string]bool{}
	for _, n := range b.obs.Networks {
		have[n.Name] = true
	}
	used := map[string]bool{}
	for _, s := range b.p.Services {
		for key := range s.Networks {
			used[key] = true
		}
	}
	for key, n := range b.p.Networks {
		if !used[key] || bool(n.External) || have[n.Name] {
			continue
		}
		b.pl.add(&Op{Kind: CreateNetwork, Target: n.Name})
	}
}

func (b *upBuilder) volumes() {
	have := map[string]bool{}
	for _, v := range b.obs.Volumes {
		have[v.Name] = true
	}
	used := map[string]bool{}
	for _, s := range b.p.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				used[v.Source] = true
			}
		}
	}
	for key, v := range b.p.Volumes {
		if !used[key] || bool(v.External) || have[v.Name] {
			continue
		}
		b.pl.add(&Op{Kind: CreateVolume, Target: v.Name})
	}
}

func (b *upBuilder) service(s types.ServiceConfig) error {
	if b.started == nil {
		b.started = map[string][]string{}
	}
	hasher := b.o.Hash
	if hasher == nil {
		hasher = compose.HoistHasher
	}
	hash, err := hasher(s, b.containerOf)
	if err != nil {
		return err
	}
	ref := compose.ImageRef(b.p, s)
	wantImage := b.obs.ImageIDs[ref]
	scale := s.GetScale()
	byNumber := map[int]engine.Container{}
	var extras []engine.Container
	for _, c := range b.containers[s.Name] {
		if _, dup := byNumber[c.Number]; dup || c.Number < 1 || c.Number > scale {
			extras = append(extras, c)
			continue
		}
		byNumber[c.Number] = c
	}
	for n := 1; n <= scale; n++ {
		name := ContainerName(b.p.Name, s, n)
		c, exists := byNumber[n]
		if !exists {
			b.createAndStart(s, n, name, "", "new")
			continue
		}
		reason := ""
		switch {
		case b.o.NoRecreate:
		case b.o.ForceRecreate:
			reason = "forced"
		case c.ConfigHash != hash:
			reason = "config changed"
		case wantImage != "" && c.ImageID != "" && c.ImageID != wantImage:
			reason = "image changed"
		}
		if reason != "" {
			rm := b.stopAndRemove(c, "recreate")
			b.createAndStart(s, n, name, rm, reason)
			continue
		}
		if c.State != engine.StateRunning && c.State != engine.StateRestarting {
			st := b.pl.add(&Op{Kind: Start, Target: c.Name, Service: s.Name, Number: n, ContainerID: c.ID, Reason: c.State})
			b.started[s.Name] = append(b.started[s.Name], st.ID())
		}
	}
	for _, c := range extras {
		b.stopAndRemove(c, "scale down")
	}
	return nil
}

// containerOf is the observed container a "service:NAME" reference
// resolves to: NAME's first by name, as docker compose picks it.
func (b *upBuilder) containerOf(service string) (string, bool) {
	return FirstContainer(b.containers[service])
}

// FirstContainer is the ID of the first of cs by name, the container
// docker compose resolves a reference to their service to.
func FirstContainer(cs []engine.Container) (string, bool) {
	if len(cs) == 0 {
		return "", false
	}
	first := cs[0]
	for _, c := range cs[1:] {
		if c.Name < first.Name {
			first = c
		}
	}
	return first.ID, true
}

func (b *upBuilder) createAndStart(s types.ServiceConfig, n int, name, after, reason string) {
	cr := b.pl.add(&Op{Kind: Create, Target: name, Service: s.Name, Number: n, Reason: reason})
	b.pl.dep(cr, after)
	for key := range s.Networks {
		if net, ok := b.p.Networks[key]; ok {
			b.pl.dep(cr, opID(CreateNetwork, net.Name))
		}
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume {
			if vol, ok := b.p.Volumes[v.Source]; ok {
				b.pl.dep(cr, opID(CreateVolume, vol.Name))
			}
		}
	}
	st := b.pl.add(&Op{Kind: Start, Target: name, Service: s.Name, Number: n})
	b.pl.dep(st, cr.ID())
	b.started[s.Name] = append(b.started[s.Name], st.ID())
}

func (b *upBuilder) stopAndRemove(c engine.Container, reason string) string {
	var stopID string
	if c.Active() {
		stopID = b.pl.add(&Op{Kind: Stop, Target: c.Name, Service: c.Service, Number: c.Number, ContainerID: c.ID, Reason: reason}).ID()
	}
	rm := b.pl.add(&Op{Kind: Remove, Target: c.Name, Service: c.Service, Number: c.Number, ContainerID: c.ID, Reason: reason})
	b.pl.dep(rm, stopID)
	return rm.ID()
}

// dependencies adds the depends_on edges: a service starts only after what
// it depends on is started, healthy or completed.
func (b *upBuilder) dependencies(s types.ServiceConfig) {
	starts := b.started[s.Name]
	deps := make([]string, 0, len(s.DependsOn))
	for d := range s.DependsOn {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	for _, depName := range deps {
		cond := s.DependsOn[depName]
		dep, ok := b.p.Services[depName]
		if !ok {
			continue // an optional dependency that is disabled
		}
		// (Not without starts: stopping a running dependent that nothing
		// starts again would only take it down.)
		restartDependents := cond.Restart && len(starts) == 0 && len(b.started[depName]) > 0 && !b.o.NoStart
		if len(starts) == 0 && !restartDependents {
			continue
		}
		gate := b.gate(dep, cond.Condition)
		for _, id := range starts {
			b.pl.dep(b.pl.get(id), gate...)
		}
		// depends_on.restart: a dependent left running is restarted when its
		// dependency was (re)started by this plan.
		if restartDependents {
			for _, c := range b.containers[s.Name] {
				if c.State != engine.StateRunning {
					continue
				}
				stop := b.pl.add(&Op{Kind: Stop, Target: c.Name, Service: s.Name, Number: c.Number, ContainerID: c.ID, Reason: "restart after " + depName})
				st := b.pl.add(&Op{Kind: Start, Target: c.Name, Service: s.Name, Number: c.Number, ContainerID: c.ID, Reason: "restart after " + depName})
				b.pl.dep(stop, b.started[depName]...)
				b.pl.dep(st, stop.ID())
				b.pl.dep(st, gate...)
			}
		}
	}
	// network_mode, ipc or pid "service:x" joins x's namespaces, and
	// volumes_from x takes x's mounts, so x must run before the container
	// is even created.
	for _, src := range containerRefs(s) {
		for _, cr := range b.createsOf(s.Name) {
			b.pl.dep(cr, b.started[src]...)
		}
	}
}

// containerRefs are the services whose containers s's are created from
// (network_mode, ipc, pid: service:NAME, and volumes_from).
func containerRefs(s types.ServiceConfig) []string {
	var out []string
	for _, mode := range []string{s.NetworkMode, s.Ipc, s.Pid} {
		if src, ok := strings.CutPrefix(mode, "service:"); ok {
			out = append(out, src)
		}
	}
	for _, v := range s.VolumesFrom {
		if src, _, _ := strings.Cut(v, ":"); src != "container" {
			out = append(out, src)
		}
	}
	return out
}

func (b *upBuilder) createsOf(service string) []*Op {
	var out []*Op
	for _, id := range b.pl.order {
		if op := b.pl.ops[id]; op.Kind == Create && op.Service == service {
			out = append(out, op)
		}
	}
	return out
}

// gate returns the op IDs a dependent must wait for, adding wait ops.
func (b *upBuilder) gate(dep types.ServiceConfig, condition string) []string {
	var out []string
	for n := 1; n <= dep.GetScale(); n++ {
		name := ContainerName(b.p.Name, dep, n)
		startID := opID(Start, name)
		switch condition {
		case types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully:
			kind := WaitHealthy
			if condition == types.ServiceConditionCompletedSuccessfully {
				kind = WaitCompleted
			}
			w := b.pl.add(&Op{Kind: kind, Target: name, Service: dep.Name, Number: n})
			b.pl.dep(w, startID)
			out = append(out, w.ID())
		default:
			if _, ok := b.pl.ops[startID]; ok {
				out = append(out, startID)
			}
		}
	}
	return out
}

func (b *upBuilder) finalWait(s types.ServiceConfig) {
	for n := 1; n <= s.GetScale(); n++ {
		name := ContainerName(b.p.Name, s, n)
		kind := WaitRunning
		if s.HealthCheck != nil && !s.HealthCheck.Disable {
			kind = WaitHealthy
		}
		if _, ok := b.pl.ops[opID(WaitCompleted, name)]; ok {
			continue // a one-shot is already awaited to completion
		}
		w := b.pl.add(&Op{Kind: kind, Target: name, Service: s.Name, Number: n})
		b.pl.dep(w, opID(Start, name))
	}
}

func (b *upBuilder) orphans() {
	known := map[string]bool{}
	for name := range b.p.Services {
		known[name] = true
	}
	for name := range b.p.DisabledServices {
		known[name] = true
	}
	var orphans []string
	for svc, cs := range b.containers {
		if known[svc] {
			continue
		}
		for _, c := range cs {
			if b.o.RemoveOrphans {
				b.stopAndRemove(c, "orphan")
			} else {
				orphans = append(orphans, c.Name)
			}
		}
	}
	if len(orphans) > 0 {
		sort.Strings(orphans)
		b.pl.Warnings = append(b.pl.Warnings, fmt.Sprintf("found orphan containers (%s) for this project; remove them with --remove-orphans", strings.Join(orphans, ", ")))
	}
}

func opID(k Kind, target string) string { return string(k) + " " + target }

func sortedServices(p *types.Project) []string {
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
