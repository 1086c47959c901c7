package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

// newWait is docker compose's wait: block until the services' containers
// stop; the exit status is the first one's code. --down-project takes the
// project down as soon as the first one stops.
func newWait(a *app) *cobra.Command {
	var downProject bool
	c := &cobra.Command{
		Use:   "wait [SERVICE...]",
		Short: "Block until the services' containers stop",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withNamedProject(ctx, func(name string, p *types.Project, o *orchestrate.Orchestrator) error {
				code, err := waitFirst(ctx, o, name, args, !downProject)
				if err != nil {
					return err
				}
				if downProject {
					// As docker compose's: orphans go too.
					if _, err := o.Down(ctx, name, p, orchestrate.DownOptions{RemoveOrphans: true, KillCtx: a.killCtx}); err != nil {
						return err
					}
				}
				return exitOrNil(code)
			})
		},
	}
	c.Flags().BoolVar(&downProject, "down-project", false, "take the project down when the first container stops")
	return c
}

// waitFirst waits for the running containers of services (all: none
// given) to stop, for all of them or, with all false, the first; it
// returns the first one's exit code. A container that exits and is
// restarted by its restart policy has stopped too, as for docker compose:
// the engines' wait looks for an exit for good, so a poll looks for the
// restarting state besides (a crash loop's growing backoff shows it).
func waitFirst(ctx context.Context, o *orchestrate.Orchestrator, project string, services []string, all bool) (int, error) {
	cs, err := o.Containers(ctx, project, services, false)
	if err != nil {
		return 0, err
	}
	var running []engine.Container
	for _, c := range cs {
		if c.Active() {
			running = append(running, c)
		}
	}
	if len(running) == 0 {
		return 0, errors.New("no running container to wait for")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c   engine.Container
		err error
	}
	done := make(chan result, 2*len(running)+1)
	for _, c := range running {
		go func(c engine.Container) {
			got, err := o.Backend.Wait(ctx, c.ID, engine.WaitExited)
			if err != nil {
				err = fmt.Errorf("wait for %s: %w", c.Name, err)
			}
			done <- result{got, err}
		}(c)
	}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		sent := map[string]bool{}
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			st, err := o.Backend.Observe(ctx, project, nil)
			if err != nil {
				continue
			}
			for _, c := range st.Containers {
				if c.State == engine.StateRestarting && !sent[c.ID] {
					sent[c.ID] = true
					select {
					case done <- result{c: c}:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	first := -1
	finished := map[string]bool{}
	for len(finished) < len(running) {
		r := <-done
		if r.err != nil {
			return 0, r.err
		}
		if finished[r.c.ID] || !slices.ContainsFunc(running, func(c engine.Container) bool { return c.ID == r.c.ID }) {
			continue
		}
		finished[r.c.ID] = true
		if first < 0 {
			first = r.c.ExitCode
			if !all {
				break
			}
		}
	}
	return first, nil
}
