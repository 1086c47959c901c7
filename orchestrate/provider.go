package orchestrate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/provider"
)

// withoutProviders splits p's provider services (docker compose's
// `provider:` services, run on the host by package provider) from the
// rest: the returned project is what the engine runs, its services'
// depends_on untouched.
func withoutProviders(p *types.Project) (*types.Project, []types.ServiceConfig) {
	var providers []types.ServiceConfig
	for _, name := range p.ServiceNames() {
		if s := p.Services[name]; s.Provider != nil {
			providers = append(providers, s)
		}
	}
	if len(providers) == 0 {
		return p, nil
	}
	cp := *p
	cp.Services = types.Services{}
	for name, s := range p.Services {
		if s.Provider == nil {
			cp.Services[name] = s
		}
	}
	return &cp, providerOrder(providers)
}

// providerOrder sorts providers so that a provider runs after those it
// depends on.
func providerOrder(providers []types.ServiceConfig) []types.ServiceConfig {
	byName := map[string]types.ServiceConfig{}
	for _, s := range providers {
		byName[s.Name] = s
	}
	var out []types.ServiceConfig
	done := map[string]bool{}
	var visit func(s types.ServiceConfig)
	visit = func(s types.ServiceConfig) {
		if done[s.Name] {
			return
		}
		done[s.Name] = true // compose-go refuses cycles
		for _, d := range slices.Sorted(maps.Keys(s.DependsOn)) {
			if dep, ok := byName[d]; ok {
				visit(dep)
			}
		}
		out = append(out, s)
	}
	for _, s := range providers {
		visit(s)
	}
	return out
}

// providerRunner runs p's providers, reporting their info messages as
// events of op.
func (o *Orchestrator) providerRunner(p *types.Project, op string) provider.Runner {
	return provider.Runner{
		Project: p.Name,
		Environ: p.Environment.Values(),
		Report: func(service, kind, msg string) {
			if kind == provider.Info {
				o.emit(Event{Op: op, Target: service, Status: StatusInfo, Message: msg})
			}
		},
	}
}

// runProviders runs each provider's up, in dependency order, and returns
// p with what each provider set in the environment of the services that
// depend on it, as docker compose gives it: SERVICE_KEY for setenv, KEY
// for rawsetenv (which wins over the service's own value, with a warning).
// Providers run before any container: one that depends on a container
// service does not wait for it (said once).
func (o *Orchestrator) runProviders(ctx context.Context, p *types.Project, providers []types.ServiceConfig) (*types.Project, error) {
	r := o.providerRunner(p, "provider")
	cp := *p
	cp.Services = maps.Clone(p.Services)
	for _, prov := range providers {
		for _, d := range slices.Sorted(maps.Keys(prov.DependsOn)) {
			if _, ok := p.Services[d]; ok {
				o.warn(fmt.Sprintf("provider service %q depends on service %q: hoist runs providers before containers, so it does not wait for it", prov.Name, d))
			}
		}
		o.emit(Event{Op: "provider", Target: prov.Name, Status: "started"})
		vars, err := r.Up(ctx, prov)
		if err != nil {
			o.emit(Event{Op: "provider", Target: prov.Name, Status: "failed", Message: err.Error()})
			return nil, err
		}
		o.emit(Event{Op: "provider", Target: prov.Name, Status: "done"})
		for _, name := range cp.ServiceNames() {
			s := cp.Services[name]
			if _, ok := s.DependsOn[prov.Name]; !ok {
				continue
			}
			env := types.MappingWithEquals{}
			maps.Copy(env, s.Environment)
			keys := make([]string, 0, len(vars.Raw))
			for k := range vars.Raw {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if old, ok := env[k]; ok && (old == nil || *old != vars.Raw[k]) {
					o.warn(fmt.Sprintf("provider %q overrides environment variable %q of service %q", prov.Name, k, name))
				}
			}
			for k, v := range vars.Env(prov.Name) {
				env[k] = &v
			}
			s.Environment = env
			cp.Services[name] = s
		}
	}
	return &cp, nil
}

// downProviders runs each provider's down, dependents first.
func (o *Orchestrator) downProviders(ctx context.Context, p *types.Project, providers []types.ServiceConfig) error {
	r := o.providerRunner(p, "provider down")
	for _, prov := range slices.Backward(providers) {
		o.emit(Event{Op: "provider down", Target: prov.Name, Status: "started"})
		if err := r.Down(ctx, prov); err != nil {
			o.emit(Event{Op: "provider down", Target: prov.Name, Status: "failed", Message: err.Error()})
			return err
		}
		o.emit(Event{Op: "provider down", Target: prov.Name, Status: "done"})
	}
	return nil
}
