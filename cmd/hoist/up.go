package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

type upFlags struct {
	detach, wait, build, noBuild, force, noRecreate, removeOrphans, noDeps bool
	abortOnExit, dryRun, noLogPrefix, noColor, watch, noStart              bool
	attachDeps, strict                                                     bool
	waitTimeout                                                            int
	exitCodeFrom, pull                                                     string
	scale, attach, noAttach                                                []string
}

func newUp(a *app) *cobra.Command {
	var f upFlags
	c := &cobra.Command{
		Use:   "up [SERVICE...]",
		Short: "Create and start the project's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.up(cmd.Context(), f, args)
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&f.detach, "detach", "d", false, "run in the background")
	fl.BoolVar(&f.wait, "wait", false, "wait until services are running or healthy (implies -d)")
	fl.IntVar(&f.waitTimeout, "wait-timeout", 0, "seconds to wait with --wait (0: no limit)")
	addCreateFlags(fl, &f)
	fl.BoolVar(&f.noDeps, "no-deps", false, "do not start linked services")
	fl.BoolVar(&f.abortOnExit, "abort-on-container-exit", false, "stop all containers when one stops")
	fl.StringVar(&f.exitCodeFrom, "exit-code-from", "", "return this service's exit code (implies --abort-on-container-exit)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan and do nothing")
	fl.BoolVar(&f.noLogPrefix, "no-log-prefix", false, "do not prefix log lines")
	fl.BoolVar(&f.noColor, "no-color", false, "monochrome output")
	fl.BoolVar(&f.watch, "watch", false, "apply develop.watch rules while attached")
	fl.BoolVar(&f.noStart, "no-start", false, "create the containers without starting them")
	fl.StringArrayVar(&f.attach, "attach", nil, "show only these services' output (repeatable)")
	fl.StringArrayVar(&f.noAttach, "no-attach", nil, "do not show these services' output (repeatable)")
	fl.BoolVar(&f.attachDeps, "attach-dependencies", false, "also show the output of the services named's dependencies")
	return c
}

// newCreate is docker compose's create: up --no-start.
func newCreate(a *app) *cobra.Command {
	f := upFlags{noStart: true}
	c := &cobra.Command{
		Use:   "create [SERVICE...]",
		Short: "Create the project's containers without starting them",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.up(cmd.Context(), f, args)
		},
	}
	addCreateFlags(c.Flags(), &f)
	return c
}

// addCreateFlags are the flags up and create share: how images and
// containers come to be.
func addCreateFlags(fl *pflag.FlagSet, f *upFlags) {
	fl.BoolVar(&f.build, "build", false, "build images first")
	fl.BoolVar(&f.noBuild, "no-build", false, "do not build missing images")
	fl.StringVar(&f.pull, "pull", "", "pull policy: always, missing or never")
	fl.BoolVar(&f.force, "force-recreate", false, "recreate containers even if unchanged")
	fl.BoolVar(&f.noRecreate, "no-recreate", false, "never recreate existing containers")
	fl.BoolVar(&f.removeOrphans, "remove-orphans", false, "remove containers of services not in the compose file")
	fl.StringArrayVar(&f.scale, "scale", nil, "NUM containers of SERVICE, as SERVICE=NUM (repeatable; overrides scale and deploy.replicas)")
	fl.BoolVar(&f.strict, "strict", false, "fail, before creating containers, where hoist or the engine would ignore a setting (instead of warning)")
}

func (a *app) up(ctx context.Context, f upFlags, services []string) error {
	if f.build && f.noBuild {
		return errors.New("--build and --no-build cannot be used together")
	}
	if f.force && f.noRecreate {
		return errors.New("--force-recreate and --no-recreate cannot be used together")
	}
	if f.exitCodeFrom != "" {
		f.abortOnExit = true
	}
	if len(f.attach)+len(f.noAttach) > 0 && (f.detach || f.wait || f.noStart) {
		return errors.New("--attach and --no-attach need an attached up (no -d, --wait or --no-start)")
	}
	if f.noStart && (f.wait || f.watch || f.abortOnExit) {
		return errors.New("--no-start creates containers only: it cannot go with --wait, --watch, --abort-on-container-exit or --exit-code-from")
	}
	if f.wait || f.noStart {
		f.detach = true
	}
	if f.detach && f.watch {
		return errors.New("--watch needs an attached up (no -d or --wait); use hoist watch for a detached project")
	}
	if f.detach && f.abortOnExit {
		return errors.New("--abort-on-container-exit and --exit-code-from need an attached up (no -d or --wait)")
	}
	p, err := a.load(ctx)
	if err != nil {
		return err
	}
	if err := applyScale(p, f.scale); err != nil {
		return err
	}
	if f.exitCodeFrom != "" {
		if _, ok := p.Services[f.exitCodeFrom]; !ok {
			return fmt.Errorf("--exit-code-from: no such service %q", f.exitCodeFrom)
		}
	}
	for _, svc := range append(slices.Clone(f.attach), f.noAttach...) {
		if _, ok := p.Services[svc]; !ok {
			return fmt.Errorf("--attach/--no-attach: no such service %q", svc)
		}
	}
	o, _, err := a.orchestrator(ctx)
	if err != nil {
		return err
	}
	defer o.Close()
	opts := orchestrate.UpOptions{
		Services: services, NoDeps: f.noDeps, Build: f.build, NoBuild: f.noBuild, Pull: f.pull,
		ForceRecreate: f.force, NoRecreate: f.noRecreate, RemoveOrphans: f.removeOrphans,
		Wait: f.wait, WaitTimeout: time.Duration(f.waitTimeout) * time.Second, NoStart: f.noStart,
		DryRun: f.dryRun, KillCtx: a.killCtx, Strict: f.strict,
	}
	started := time.Now()
	res, err := o.Up(ctx, p, opts)
	if f.dryRun && err == nil {
		fmt.Fprint(a.stdout, "# images\n"+res.ImagePlan.String()+"# containers (assuming images are unchanged)\n"+res.Plan.String())
		return nil
	}
	if err != nil || f.detach {
		return err
	}
	return a.attach(ctx, o, res, f, services, started)
}

// attach streams the output of what up brought up until every container
// has stopped or the user interrupts; then the orchestrator stops the
// project's containers like docker compose.
func (a *app) attach(ctx context.Context, o *orchestrate.Orchestrator, res *orchestrate.UpResult, f upFlags, named []string, since time.Time) error {
	p := res.Project
	cs, err := o.Containers(ctx, p.Name, p.ServiceNames(), false)
	if err != nil {
		return err
	}
	// Every container still counts for the end of the run and its exit
	// code; only the output shown is chosen.
	shown := shownContainers(cs, p, named, f)
	printer := newLogPrinter(a.stdout, shown, !f.noColor && isTerminal(a.stdout), f.noLogPrefix, false)
	if f.watch {
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go func() {
			if err := a.runWatch(watchCtx, o, p, nil, false); err != nil && watchCtx.Err() == nil {
				fmt.Fprintln(a.stderr, "watch:", err)
			}
		}()
	}
	code, err := o.AttachUp(ctx, res, orchestrate.AttachOptions{
		Containers: cs, Shown: shown, Since: since,
		AbortOnExit: f.abortOnExit, ExitCodeFrom: f.exitCodeFrom, KillCtx: a.killCtx,
		Stopping: func() { fmt.Fprintln(a.stderr, "Stopping...") },
	}, printer.print)
	if err != nil {
		return err
	}
	return exitOrNil(code)
}

// shownContainers are the containers whose output an attached up shows,
// as docker compose chooses them: the services --attach names; else those
// named on the command line (with their dependencies under
// --attach-dependencies), or all; less --no-attach and attach: false ones.
func shownContainers(cs []engine.Container, p *types.Project, named []string, f upFlags) []engine.Container {
	return slices.DeleteFunc(slices.Clone(cs), func(c engine.Container) bool {
		if len(f.attach) > 0 {
			return !slices.Contains(f.attach, c.Service)
		}
		if len(named) > 0 && !f.attachDeps && !slices.Contains(named, c.Service) {
			return true
		}
		if s, ok := p.Services[c.Service]; ok && s.Attach != nil && !*s.Attach {
			return true
		}
		return slices.Contains(f.noAttach, c.Service)
	})
}

func exitOrNil(code int) error {
	if code == 0 {
		return nil
	}
	return exitCode(code)
}

// applyScale sets the replica counts given as SERVICE=NUM, as docker
// compose up --scale does, before anything is planned.
func applyScale(p *types.Project, specs []string) error {
	for _, spec := range specs {
		name, num, ok := strings.Cut(spec, "=")
		n, err := strconv.Atoi(num)
		if !ok || name == "" || err != nil || n < 0 {
			return fmt.Errorf("--scale %q: use SERVICE=NUM with NUM a whole number, as in --scale web=3", spec)
		}
		s, ok := p.Services[name]
		if !ok {
			return fmt.Errorf("--scale %s: no such service %q in the project (services: %s)", spec, name, strings.Join(p.ServiceNames(), ", "))
		}
		if s.ContainerName != "" && n > 1 {
			return fmt.Errorf("--scale %s: service %q sets container_name %q, so it runs one container; remove container_name to scale it", spec, name, s.ContainerName)
		}
		s.SetScale(n)
		p.Services[name] = s
	}
	return nil
}
