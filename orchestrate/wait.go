package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// WaitStopped is docker compose's wait: it waits for the active
// containers of services (all: none given) to stop, all of them or, with
// all false, the first, and returns the first one's exit code. A
// container that exits and is restarted by its restart policy has
// stopped too: an engine that is an engine.StopWaiter tells so from its
// events; for another, whose Wait looks for an exit for good, a poll
// looks for the restarting state besides (a crash loop's growing backoff
// shows it).
func (o *Orchestrator) WaitStopped(ctx context.Context, project string, services []string, all bool) (int, error) {
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
	sw, events := o.Backend.(engine.StopWaiter)
	for _, c := range running {
		go func(c engine.Container) {
			var got engine.Container
			var err error
			if events {
				got, err = sw.WaitStop(ctx, c.ID)
			} else {
				got, err = o.Backend.Wait(ctx, c.ID, engine.WaitExited)
			}
			if err != nil {
				err = fmt.Errorf("wait for %s: %w", c.Name, err)
			}
			done <- result{got, err}
		}(c)
	}
	if !events {
		go o.pollRestarting(ctx, project, func(c engine.Container) bool {
			select {
			case done <- result{c: c}:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}
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

// pollRestarting hands send each of the project's containers it sees
// restarting, once, until ctx ends or send returns false.
func (o *Orchestrator) pollRestarting(ctx context.Context, project string, send func(engine.Container) bool) {
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
				if !send(c) {
					return
				}
			}
		}
	}
}
