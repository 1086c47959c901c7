package orchestrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/plan"
)

// BuildOptions are `build`'s flags.
type BuildOptions struct {
	NoCache bool
	Pull    bool
	Args    map[string]*string
}

// Build builds the images of services (or all) that have a build section.
func (o *Orchestrator) Build(ctx context.Context, p *types.Project, services []string, opts BuildOptions) error {
	p, err := selectServices(p, services, true)
	if err != nil {
		return err
	}
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		b := *s.Build
		b.NoCache = b.NoCache || opts.NoCache
		b.Pull = b.Pull || opts.Pull
		if len(opts.Args) > 0 {
			args := types.MappingWithEquals{}
			for k, v := range b.Args {
				args[k] = v
			}
			for k, v := range opts.Args {
				args[k] = v
			}
			b.Args = args
		}
		s.Build = &b
		p.Services[name] = s
	}
	var withBuild []string
	for name, s := range p.Services {
		if s.Build != nil {
			withBuild = append(withBuild, name)
		}
	}
	if len(withBuild) == 0 {
		return nil
	}
	// Only services with a build section: `build` never pulls.
	p, err = p.WithSelectedServices(withBuild, types.IgnoreDependencies)
	if err != nil {
		return err
	}
	observed := &engine.State{ImageIDs: map[string]string{}}
	pl := plan.Images(p, observed, plan.ImageOptions{Build: true})
	return o.execute(ctx, p, pl, newRunState(observed), o.parallel())
}

// PullOptions are pull's flags, as docker compose's.
type PullOptions struct {
	// IgnoreBuildable skips services that have a build section.
	IgnoreBuildable bool
	// IgnoreFailures reports failed pulls (as failed events) without
	// failing.
	IgnoreFailures bool
	// Missing pulls only images the engine does not have (--policy
	// missing); the default pulls them all.
	Missing bool
}

// Pull pulls the images of services (or all). A service that can be built
// does not fail the pull when its image is in no registry.
func (o *Orchestrator) Pull(ctx context.Context, p *types.Project, services []string, opts PullOptions) error {
	p, err := selectServices(p, services, true)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Image == "" || (s.Build != nil && opts.IgnoreBuildable) {
			continue
		}
		if opts.Missing {
			if _, err := o.Backend.ImageID(ctx, s.Image); err == nil {
				continue
			}
		}
		op := &plan.Op{Kind: plan.Pull, Target: s.Image, Service: name}
		o.emit(Event{Op: string(op.Kind), Target: op.Target, Status: "started"})
		err := o.Backend.Pull(ctx, s.Image, o.progress(op))
		if err != nil {
			o.emit(Event{Op: string(op.Kind), Target: op.Target, Status: "failed", Message: err.Error()})
			if s.Build == nil && !opts.IgnoreFailures {
				errs = append(errs, fmt.Errorf("pull %s for service %q: %w", s.Image, name, err))
			}
			continue
		}
		o.emit(Event{Op: string(op.Kind), Target: op.Target, Status: "done"})
	}
	return errors.Join(errs...)
}

// Push pushes the images of services (or all) that have both build and image.
func (o *Orchestrator) Push(ctx context.Context, p *types.Project, services []string) error {
	pusher, ok := o.Backend.(engine.Pusher)
	if !ok {
		return fmt.Errorf("the %s engine cannot push: %w", o.Backend.Name(), engine.ErrNotImplemented)
	}
	p, err := selectServices(p, services, true)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build == nil || s.Image == "" {
			continue
		}
		ref := compose.ImageRef(p, s)
		op := &plan.Op{Kind: "push", Target: ref}
		o.emit(Event{Op: "push", Target: ref, Status: "started"})
		if err := pusher.Push(ctx, ref, o.progress(op)); err != nil {
			o.emit(Event{Op: "push", Target: ref, Status: "failed", Message: err.Error()})
			errs = append(errs, fmt.Errorf("push %s for service %q: %w", ref, name, err))
			continue
		}
		o.emit(Event{Op: "push", Target: ref, Status: "done"})
	}
	return errors.Join(errs...)
}
