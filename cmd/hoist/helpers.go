package main

import (
	"context"
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

// withContainers resolves the project (with or without a compose file) and
// hands fn an orchestrator on the selected engine and the project's
// containers of services (all services when empty), one-off containers
// included when oneOff is set.
func (a *app) withContainers(ctx context.Context, services []string, oneOff bool, fn func(o *orchestrate.Orchestrator, project string, cs []engine.Container) error) error {
	name, p, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	// As docker compose: a name that is no service of the project is an
	// error, not an empty list. With -p and no -f the compose file here
	// may be another project's, so there is nothing to check against.
	if p != nil && (a.project == "" || len(a.files) > 0) {
		for _, svc := range services {
			_, enabled := p.Services[svc]
			_, disabled := p.DisabledServices[svc]
			if !enabled && !disabled {
				return fmt.Errorf("no such service: %s", svc)
			}
		}
	}
	return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
		cs, err := o.Containers(ctx, name, services, oneOff)
		if err != nil {
			return err
		}
		return fn(o, name, cs)
	})
}

// withProject loads the compose project and opens an orchestrator on the
// selected engine for fn, closing the engine afterwards.
func (a *app) withProject(ctx context.Context, fn func(p *types.Project, o *orchestrate.Orchestrator) error) error {
	p, err := a.load(ctx)
	if err != nil {
		return err
	}
	return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error { return fn(p, o) })
}

// withNamedProject resolves the project as the commands that work without
// a compose file do (projectName: p is nil then) and opens an orchestrator
// on the selected engine for fn, closing the engine afterwards.
func (a *app) withNamedProject(ctx context.Context, fn func(name string, p *types.Project, o *orchestrate.Orchestrator) error) error {
	name, p, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	return a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error { return fn(name, p, o) })
}

// withOrchestrator opens an orchestrator on the selected engine for fn and
// closes the engine afterwards.
func (a *app) withOrchestrator(ctx context.Context, fn func(o *orchestrate.Orchestrator) error) error {
	o, _, err := a.orchestrator(ctx)
	if err != nil {
		return err
	}
	defer o.Close()
	return fn(o)
}

// timeoutFlag is the -t value as a duration when it was given, nil
// otherwise (the services' own stop_grace_period then applies).
func timeoutFlag(cmd *cobra.Command, seconds int) *time.Duration {
	if !cmd.Flags().Changed("timeout") {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}
