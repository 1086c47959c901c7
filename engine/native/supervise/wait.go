package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// View is how the engine shows r in the state st (started: st is r's).
type View func(r *store.Record, st runtime.State, started bool) engine.Container

// recheck bounds how long a wait goes without re-reading the state when
// no event comes: a monitor killed outright records nothing, and only
// runtime.ReadState's liveness check notices.
const recheck = 2 * time.Second

// waitState blocks until done accepts the container's state. It watches
// the state dir first and reads the state after, so a change between the
// two is never missed, and re-reads only on events.
func (s Supervisors) waitState(ctx context.Context, r *store.Record, done func(st runtime.State, started bool) (bool, error)) (runtime.State, bool, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return runtime.State{}, false, err
	}
	defer w.Close()
	dir := s.Layout.StateDir(r.Project, r.ID)
	if err := w.Add(dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return runtime.State{}, false, fmt.Errorf("container %s: %w", r.Name, engine.ErrNotFound)
		}
		return runtime.State{}, false, fmt.Errorf("watch %s: %w", dir, err)
	}
	t := time.NewTimer(recheck)
	defer t.Stop()
	for {
		if _, err := os.Stat(filepath.Join(dir, store.ConfigFile)); err != nil {
			return runtime.State{}, false, fmt.Errorf("container %s was removed: %w", r.Name, engine.ErrNotFound)
		}
		st, started, err := s.Layout.Status(r)
		if err != nil {
			return st, started, err
		}
		if ok, err := done(st, started); ok || err != nil {
			return st, started, err
		}
	events:
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return st, started, fmt.Errorf("watch %s: closed", dir)
				}
				if n := filepath.Base(ev.Name); n == store.StateFile || n == store.ConfigFile || ev.Name == dir {
					break events
				}
			case err := <-w.Errors:
				return st, started, fmt.Errorf("watch %s: %w", dir, err)
			case <-t.C:
				t.Reset(recheck)
				break events
			case <-ctx.Done():
				return st, started, ctx.Err()
			}
		}
	}
}

// Wait blocks until the container reaches cond, driven by the events of
// the project's supervisor (which runs the healthchecks). When no
// supervisor runs, or it goes away meanwhile, it falls back to watching
// the state files. view shows the container it returns.
func (s Supervisors) Wait(ctx context.Context, r *store.Record, cond engine.WaitCondition, view View) (engine.Container, error) {
	if cond == engine.WaitHealthy && r.Healthcheck == nil {
		cond = engine.WaitRunning
	}
	if c := s.Live(ctx, r.Project); c != nil {
		cont, err, ok := s.waitSupervised(ctx, c, r, cond, view)
		if ok {
			if err != nil {
				return cont, fmt.Errorf("wait for container %q to be %s: %w", r.Name, cond, err)
			}
			return cont, nil
		}
	}
	st, started, err := s.waitState(ctx, r, func(st runtime.State, started bool) (bool, error) {
		return s.reached(r, cond, st, started)
	})
	c := view(r, st, started)
	if err != nil {
		return c, fmt.Errorf("wait for container %q to be %s: %w", r.Name, cond, err)
	}
	return c, nil
}

// reached tells from the state files whether cond holds, or can no
// longer hold (an error naming the container).
func (s Supervisors) reached(r *store.Record, cond engine.WaitCondition, st runtime.State, started bool) (bool, error) {
	if !started {
		return false, nil
	}
	stopped := st.Status == runtime.StatusExited
	switch cond {
	case engine.WaitExited:
		return stopped, nil
	case engine.WaitRunning:
		if stopped {
			return false, fmt.Errorf("container %q exited with code %d while waiting for it to be running", r.Name, st.ExitCode)
		}
		return true, nil
	case engine.WaitHealthy:
		h := s.Layout.Health(r, st)
		if stopped {
			return false, exitedUnhealthy(r, st.ExitCode, h)
		}
		switch h.Status {
		case engine.HealthHealthy:
			return true, nil
		case engine.HealthUnhealthy:
			return false, unhealthy(r, h)
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown wait condition %d", cond)
}

func unhealthy(r *store.Record, h store.Health) error {
	last := h.Output
	if last == "" {
		last = fmt.Sprintf("exit code %d", h.ExitCode)
	}
	return fmt.Errorf("service %q (container %s) is unhealthy: last healthcheck: %s", r.Service, r.Name, last)
}

func exitedUnhealthy(r *store.Record, code int, h store.Health) error {
	msg := fmt.Sprintf("container %q exited with code %d while waiting for it to be healthy", r.Name, code)
	if h.Output != "" {
		msg += ": last healthcheck: " + h.Output
	}
	return errors.New(msg)
}

// waitSupervised waits on the supervisor's events: it subscribes first
// and reads the state after, so no change is missed, and re-reads on
// each event of the container. ok is false when the supervisor does not
// know the container or went away: the caller falls back to the files.
func (s Supervisors) waitSupervised(ctx context.Context, c *supervisor.Client, r *store.Record, cond engine.WaitCondition, view View) (engine.Container, error, bool) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := c.Subscribe(sctx)
	if err != nil {
		return engine.Container{}, nil, false
	}
	for {
		sup, err := c.State(ctx, r.ID)
		if err != nil {
			if ctx.Err() != nil {
				return engine.Container{}, ctx.Err(), true
			}
			return engine.Container{}, nil, false
		}
		st, started, ferr := s.Layout.Status(r)
		cont := view(r, st, started)
		if ferr != nil {
			return cont, ferr, true
		}
		if sup.Status == supervisor.StatusRestarting {
			cont.State = engine.StateRestarting
		}
		switch sup.Status {
		case supervisor.StatusExited, supervisor.StatusStopped:
			cont.State, cont.ExitCode = engine.StateExited, sup.ExitCode
			switch cond {
			case engine.WaitExited:
				return cont, nil, true
			case engine.WaitHealthy:
				return cont, exitedUnhealthy(r, sup.ExitCode, s.Layout.Health(r, st)), true
			}
			return cont, fmt.Errorf("container %q exited with code %d while waiting for it to be %s", r.Name, sup.ExitCode, cond), true
		case supervisor.StatusRunning:
			switch cond {
			case engine.WaitRunning:
				return cont, nil, true
			case engine.WaitHealthy:
				switch sup.Health {
				case engine.HealthHealthy:
					cont.Health = engine.HealthHealthy
					return cont, nil, true
				case engine.HealthUnhealthy:
					return cont, unhealthy(r, s.Layout.Health(r, st)), true
				}
			}
		}
	next:
		for {
			select {
			case <-ctx.Done():
				return cont, ctx.Err(), true
			case e, ok := <-events:
				if !ok {
					return cont, nil, false // the supervisor went away
				}
				if e.ID == r.ID {
					break next
				}
			}
		}
	}
}

// WaitStop returns at the container's next exit, told by its supervisor's
// events (a restart policy's restart follows the exit), or at once when it
// is not running; ok is false when no supervisor knows the container:
// nothing restarts it then, and the caller waits for WaitExited.
func (s Supervisors) WaitStop(ctx context.Context, r *store.Record, view View) (cont engine.Container, err error, ok bool) {
	if c := s.Live(ctx, r.Project); c != nil {
		if cont, err, ok := s.waitStopSupervised(ctx, c, r, view); ok {
			if err != nil {
				return cont, fmt.Errorf("wait for container %q to stop: %w", r.Name, err), true
			}
			return cont, nil, true
		}
	}
	return engine.Container{}, nil, false
}

// waitStopSupervised is WaitStop on the supervisor's events, subscribed to
// before the state is read; ok is false when the supervisor does not know
// the container or went away: the caller falls back to the files.
func (s Supervisors) waitStopSupervised(ctx context.Context, c *supervisor.Client, r *store.Record, view View) (engine.Container, error, bool) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := c.Subscribe(sctx)
	if err != nil {
		return engine.Container{}, nil, false
	}
	stopped := func(sup supervisor.ContainerState) engine.Container {
		st, started, _ := s.Layout.Status(r)
		cont := view(r, st, started)
		cont.State, cont.ExitCode = engine.StateExited, sup.ExitCode
		if Active(sup.Status) {
			cont.State = engine.StateRestarting // by its restart policy
		}
		return cont
	}
	sup, err := c.State(ctx, r.ID)
	if err != nil {
		if ctx.Err() != nil {
			return engine.Container{}, ctx.Err(), true
		}
		return engine.Container{}, nil, false
	}
	if sup.Status != supervisor.StatusRunning {
		return stopped(sup), nil, true
	}
	for {
		select {
		case <-ctx.Done():
			return engine.Container{}, ctx.Err(), true
		case e, ok := <-events:
			if !ok {
				return engine.Container{}, nil, false // the supervisor went away
			}
			if e.ID != r.ID {
				continue
			}
			switch e.Type {
			case supervisor.EventExited:
				// What follows the exit (a restart) may show already:
				// the exit code is the event's.
				if now, err := c.State(ctx, r.ID); err == nil {
					sup = now
				}
				sup.ExitCode = e.ExitCode
				return stopped(sup), nil, true
			case supervisor.EventRemoved:
				return engine.Container{}, fmt.Errorf("container %s was removed: %w", r.Name, engine.ErrNotFound), true
			}
		}
	}
}
