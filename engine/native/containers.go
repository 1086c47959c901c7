package native

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/launch"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervise"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/internal/overlay"
)

// StartContainer mounts the container's overlay rootfs (its writable layer
// kept from earlier runs), prepares its etc files and network, and hands
// it to the project's supervisor (started if need be), which binds its
// published ports, starts it and owns it from then on, so it outlives
// this process. Starting a running (or restarting) container does nothing.
func (b *Backend) StartContainer(ctx context.Context, id string) error {
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	defer unlock()
	if err := b.start(ctx, r); err != nil {
		return fmt.Errorf("start container %s: %w", r.Name, err)
	}
	if err := b.layout.SetUserStopped(r.ID, false); err != nil {
		return fmt.Errorf("start container %s: %w", r.Name, err)
	}
	return nil
}

func (b *Backend) start(ctx context.Context, r *store.Record) error {
	st, started, err := b.layout.Status(r)
	if err != nil {
		return err
	}
	sup, err := b.sups.Ensure(ctx, r.Project)
	if err != nil {
		return err
	}
	if started && st.Status == runtime.StatusRunning {
		return nil
	}
	if s, err := sup.State(ctx, r.ID); err == nil && supervise.Active(s.Status) {
		return nil
	}
	// Ports of an earlier run (a proxy process of an earlier version of
	// hoist among them) go first.
	if err := b.sups.Unpublish(ctx, r); err != nil {
		return err
	}
	p, err := launch.Prepare(ctx, b.launchOptions(b.layers(ctx, r), true, false), r)
	if err != nil {
		return err
	}
	return b.sups.Start(ctx, sup, r, p)
}

// launchOptions are how the engine prepares a container (launch.Prepare).
func (b *Backend) launchOptions(layers []string, hostMount, volatile bool) launch.Options {
	return launch.Options{Layout: b.layout, Layers: layers, HostMount: hostMount, Volatile: volatile,
		Volumes: &b.vols, Network: b.nets, Logf: b.logf}
}

// layers are the layers of r's image as the image store has them now, or
// the record's when it lost the image.
func (b *Backend) layers(ctx context.Context, r *store.Record) []string {
	if img, err := b.store.Resolve(ctx, r.ImageID); err == nil {
		return img.Layers
	}
	return r.Layers
}

// StopContainer has the supervisor send the stop signal (the service's,
// else the image's, else SIGTERM) and kill after timeout; no restart
// policy restarts it then. It waits for the exit and unmounts the rootfs.
// The writable layer stays. Without a supervisor it stops the container
// from its state files.
func (b *Backend) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	return b.stopByID(ctx, id, timeout, true)
}

// StopProcesses stops the container as StopContainer does, but leaves
// its mounts and network to RemoveContainer (down's next step).
func (b *Backend) StopProcesses(ctx context.Context, id string, timeout time.Duration) error {
	return b.stopByID(ctx, id, timeout, false)
}

// stopByID stops the container under its lock and, with release, undoes
// what start did.
func (b *Backend) stopByID(ctx context.Context, id string, timeout time.Duration, release bool) error {
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		return fmt.Errorf("stop container: %w", err)
	}
	defer unlock()
	if _, started, err := b.layout.Status(r); err != nil || !started {
		if err != nil {
			return fmt.Errorf("stop container %s: %w", r.Name, err)
		}
		return nil
	}
	if release {
		// Stopped by the user: hoist system boot leaves it stopped.
		if err := b.layout.SetUserStopped(r.ID, true); err != nil {
			return fmt.Errorf("stop container %s: %w", r.Name, err)
		}
	}
	b.thawIfPaused(r)
	if err := b.sups.Stop(ctx, r, timeout); err != nil {
		return fmt.Errorf("stop container %s: %w", r.Name, err)
	}
	if release {
		if err := b.release(ctx, r); err != nil {
			return fmt.Errorf("stop container %s: %w", r.Name, err)
		}
	}
	return nil
}

// release undoes what start did, after the container exited: the
// published ports, the network, the rootfs mount and, when the monitor
// died before removing it, the cgroup.
func (b *Backend) release(ctx context.Context, r *store.Record) error {
	return errors.Join(
		b.sups.WaitMonitorGone(ctx, r),
		b.sups.Unpublish(ctx, r),
		b.nets.Detach(ctx, r),
		overlay.Unmount(b.layout.Rootfs(r.ID)),
		runtime.RemoveCgroups(r.ID),
	)
}

// RemoveContainer removes the container: with Force a running one is
// killed first (else it is an ErrConflict). It leaves no mount, cgroup or
// process behind, and removes the writable layer and, with Volumes, the
// anonymous volumes.
func (b *Backend) RemoveContainer(ctx context.Context, id string, opts engine.RemoveOptions) error {
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		return fmt.Errorf("remove container: %w", err)
	}
	defer unlock()
	st, started, err := b.layout.Status(r)
	if err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	active := (started && st.Status == runtime.StatusRunning) || supervise.Active(b.sups.Status(ctx, r))
	if active && !opts.Force {
		return fmt.Errorf("remove container %s: it is running; stop it first or force: %w", r.Name, engine.ErrConflict)
	}
	if started {
		b.thawIfPaused(r)
		if err := b.sups.Stop(ctx, r, 0); err != nil {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	}
	if c := b.sups.Live(ctx, r.Project); c != nil {
		if err := c.Remove(ctx, r.ID); err != nil && !errors.Is(err, supervisor.ErrNotFound) {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	}
	if err := errors.Join(b.release(ctx, r), b.nets.Release(ctx, r)); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	if err := b.layout.RemoveLayerContent(r.ID); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	if opts.Volumes {
		b.vols.RemoveAnonymous(r)
	}
	if err := b.layout.RemoveRecord(r.Project, r.ID, r.Name); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	b.maybeTeardown(ctx, r.Project)
	return nil
}

// Kill sends signal (a name such as "SIGKILL" or "KILL", or a number;
// empty means SIGKILL) to the container's init.
func (b *Backend) Kill(ctx context.Context, id string, signal string) error {
	r, err := b.layout.LoadRef(id)
	if err != nil {
		return fmt.Errorf("kill container: %w", err)
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = supervise.ParseSignal(signal); err != nil {
			return err
		}
	}
	if err := b.sups.Kill(ctx, r, sig); err != nil {
		return fmt.Errorf("kill container %s: %w", r.Name, err)
	}
	if sig == syscall.SIGKILL {
		b.thawIfPaused(r)
	}
	return nil
}
