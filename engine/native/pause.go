package native

import (
	"context"
	"errors"
	"fmt"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// Pause freezes every process of the running container through its
// freezer cgroup, as docker pause does.
func (b *Backend) Pause(ctx context.Context, id string) error {
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		return fmt.Errorf("pause container: %w", err)
	}
	defer unlock()
	st, started, err := b.layout.Status(r)
	if err != nil {
		return fmt.Errorf("pause container %s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning {
		return fmt.Errorf("pause container %s: container is not running: %w", r.Name, engine.ErrConflict)
	}
	if runtime.Frozen(st.Pid) {
		return fmt.Errorf("pause container %s: container is already paused: %w", r.Name, engine.ErrConflict)
	}
	if err := runtime.Freeze(ctx, st.Pid); err != nil {
		if errors.Is(err, runtime.ErrNoFreezer) {
			err = fmt.Errorf("%w (restart it to give it one): %w", err, engine.ErrNotImplemented)
		}
		return fmt.Errorf("pause container %s: %w", r.Name, err)
	}
	return nil
}

// Unpause thaws the paused container.
func (b *Backend) Unpause(ctx context.Context, id string) error {
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		return fmt.Errorf("unpause container: %w", err)
	}
	defer unlock()
	st, started, err := b.layout.Status(r)
	if err != nil {
		return fmt.Errorf("unpause container %s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning || !runtime.Frozen(st.Pid) {
		return fmt.Errorf("unpause container %s: container is not paused: %w", r.Name, engine.ErrConflict)
	}
	if err := runtime.Thaw(st.Pid); err != nil {
		return fmt.Errorf("unpause container %s: %w", r.Name, err)
	}
	return nil
}

// thawIfPaused thaws a paused container before it is stopped or killed:
// a frozen process takes no signal, not even SIGKILL, so docker stop and
// kill of a paused container unpause it too.
func (b *Backend) thawIfPaused(r *store.Record) {
	st, started, err := b.layout.Status(r)
	if err != nil || !started || st.Status != runtime.StatusRunning || !runtime.Frozen(st.Pid) {
		return
	}
	_ = runtime.Thaw(st.Pid)
}
