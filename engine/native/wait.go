package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// recheck bounds how long a wait goes without re-reading the state when
// no event comes: a monitor killed outright records nothing, and only
// runtime.ReadState's liveness check notices.
const recheck = 2 * time.Second

// waitState blocks until done accepts the container's state. It watches
// the state dir first and reads the state after, so a change between the
// two is never missed, and re-reads only on events.
func (b *Backend) waitState(ctx context.Context, r *record, done func(st runtime.State, started bool) (bool, error)) (runtime.State, bool, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return runtime.State{}, false, err
	}
	defer w.Close()
	dir := b.stateDir(r.Project, r.ID)
	if err := w.Add(dir); err != nil {
		if _, serr := os.Stat(dir); serr != nil {
			return runtime.State{}, false, fmt.Errorf("container %s: %w", r.Name, engine.ErrNotFound)
		}
		return runtime.State{}, false, fmt.Errorf("watch %s: %w", dir, err)
	}
	t := time.NewTimer(recheck)
	defer t.Stop()
	for {
		if _, err := os.Stat(filepath.Join(dir, configFile)); err != nil {
			return runtime.State{}, false, fmt.Errorf("container %s was removed: %w", r.Name, engine.ErrNotFound)
		}
		st, started, err := b.status(r)
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
				if n := filepath.Base(ev.Name); n == "state.json" || n == configFile || ev.Name == dir {
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

// Wait blocks until the container reaches cond, driven by changes of its
// state file. A container with a healthcheck is probed by this process
// while it waits (see health.go).
func (b *Backend) Wait(ctx context.Context, id string, cond engine.WaitCondition) (engine.Container, error) {
	r, err := b.load(id)
	if err != nil {
		return engine.Container{}, fmt.Errorf("wait for container %q to be %s: %w", id, cond, err)
	}
	if cond == engine.WaitHealthy && r.Healthcheck != nil {
		return b.waitHealthy(ctx, r)
	}
	st, started, err := b.waitState(ctx, r, func(st runtime.State, started bool) (bool, error) {
		if !started {
			return false, nil
		}
		stopped := st.Status == runtime.StatusExited
		switch cond {
		case engine.WaitExited:
			return stopped, nil
		case engine.WaitRunning, engine.WaitHealthy:
			if stopped {
				return false, fmt.Errorf("container %q exited with code %d while waiting for it to be %s", r.Name, st.ExitCode, cond)
			}
			return true, nil
		}
		return false, fmt.Errorf("unknown wait condition %d", cond)
	})
	c := b.container(r, st, started)
	if err != nil {
		return c, fmt.Errorf("wait for container %q to be %s: %w", r.Name, cond, err)
	}
	return c, nil
}
