package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/launch"
	"github.com/hoist-dev/hoist/engine/native/oneoff"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/runspec"
)

// RunContainer creates a container and runs it attached: this process is
// the container's parent and monitor, so there is no detached monitor and
// no log file, and its output goes straight to opts' writers. With
// Remove the container is removed once it exits, also when ctx ends,
// which kills it first.
//
// While it runs the container is recorded as any other (config.json and
// a running state.json naming this process as the monitor), so `ps` shows
// it, and if this process dies the container is left like one whose
// monitor died: `down` or `rm -f` kills it, detaches it and removes it.
func (b *Backend) RunContainer(ctx context.Context, spec engine.ContainerSpec, opts engine.RunAttach) (int, error) {
	return b.RunRecorded(ctx, spec, opts, nil)
}

// Replay is a one-off container this engine can run again from its
// record alone (package oneoff), and what that record depends on: what
// hoist run's fast path keeps (cmd/hoist/fastrun, internal/runcache).
type Replay struct {
	// Record is the container's record.
	Record []byte
	// Root and RunDir are the engine's.
	Root, RunDir string
	// Inputs are the files whose bytes the record was made from (the
	// image index): a change to any of them makes it stale.
	Inputs []string
}

// RunRecorded is RunContainer; when the container is a simple one-off
// (oneoff.Simple) run with Remove, record, when set, is first told how to
// run it again by itself.
func (b *Backend) RunRecorded(ctx context.Context, spec engine.ContainerSpec, opts engine.RunAttach, record func(Replay)) (int, error) {
	// The container's init is spawned first: its own start (a Go runtime,
	// about 5 ms here) overlaps with creating the container. A wrong guess
	// of how it must be spawned only costs a respawn (runtime.Spawned).
	// (Its stdin is read only once it is started: a respawn loses none.)
	sp, err := runtime.Spawn(spawnGuess(spec, opts))
	if err != nil {
		sp = nil // start as usual
	}
	r, img, err := b.newRecord(ctx, spec)
	if err != nil {
		sp.Abort()
		return 0, err
	}
	if opts.Remove && !opts.TTY {
		rec, ok, err := b.simpleOneOff(ctx, r, img, spec)
		if err != nil {
			sp.Abort()
			return 0, fmt.Errorf("create container %q: %w", spec.Name, err)
		}
		if ok {
			if record != nil {
				record(Replay{Record: rec, Root: b.layout.Root, RunDir: b.layout.RunDir, Inputs: []string{b.store.IndexPath()}})
			}
			return oneoff.Run(ctx, oneoff.RunOptions{Layout: b.layout, Record: rec,
				Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Spawned: sp, Logf: b.logf,
				Remove: func(ctx context.Context, _, id string) error {
					err := b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true, Volumes: true})
					if errors.Is(err, engine.ErrNotFound) {
						return nil
					}
					return err
				}})
		}
	}
	if err := b.createRecord(ctx, r, spec); err != nil {
		sp.Abort()
		return 0, err
	}
	id := r.ID
	code, err := b.runAttached(ctx, id, opts, sp)
	if opts.Remove {
		// ctx may be cancelled: removal must still happen.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		rerr := b.RemoveContainer(rctx, id, engine.RemoveOptions{Force: true, Volumes: true})
		if rerr != nil && !errors.Is(rerr, engine.ErrNotFound) {
			err = errors.Join(err, rerr)
		}
	}
	return code, err
}

// simpleOneOff returns the record of r, a container of spec, when the
// oneoff package can run it: no volume (the service's or the image's), no
// file, no network, no terminal. Its bind mounts are prepared (sources
// checked or created) into a copy; r is left as it was.
func (b *Backend) simpleOneOff(ctx context.Context, r *store.Record, img *image.Image, spec engine.ContainerSpec) ([]byte, bool, error) {
	if !spec.OneOff || len(spec.Config.Files) > 0 || len(img.Config.Config.Volumes) > 0 {
		return nil, false, nil
	}
	for _, m := range spec.Config.Mounts {
		if m.Type != runspec.MountBind && m.Type != runspec.MountTmpfs {
			return nil, false, nil
		}
	}
	one := *r
	one.Spec.Mounts = slices.Clone(r.Spec.Mounts)
	if err := b.prepareVolumes(ctx, &one, spec); err != nil {
		return nil, false, err
	}
	rec, err := json.Marshal(&one)
	if err != nil {
		return nil, false, err
	}
	return rec, oneoff.Simple(rec), nil
}

// spawnGuess is how the init of spec is most likely spawned: its network
// namespace as engine/native/netattach will decide it (a new one when no
// compose network joins it) and its security as buildSpec sets it.
func spawnGuess(spec engine.ContainerSpec, opts engine.RunAttach) runtime.SpawnOptions {
	c := spec.Config
	mode := c.Network.Mode
	return runtime.SpawnOptions{
		NewNetwork: mode == runspec.NetworkNone || (mode == runspec.NetworkAttach && len(c.Network.Attachments) == 0),
		TTY:        opts.TTY,
		Stdin:      opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
		Security: runtime.Security{Privileged: c.Security.Privileged, CapAdd: c.Security.CapAdd, CapDrop: c.Security.CapDrop},
	}
}

// runAttached starts the created container id from sp (nil: a new init),
// waits for it and, without Remove, releases its mounts and network as
// stop does.
func (b *Backend) runAttached(ctx context.Context, id string, opts engine.RunAttach, sp *runtime.Spawned) (int, error) {
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		sp.Abort()
		return 0, fmt.Errorf("run container: %w", err)
	}
	c, err := b.startAttached(ctx, r, opts, sp)
	unlock()
	if err != nil {
		return 0, fmt.Errorf("run container %s: %w", r.Name, err)
	}
	code, err := c.Wait(ctx, runtimeSizes(opts.Resize))
	if !opts.Remove {
		// As stop: unmount and detach now, keep the writable layer.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if r, unlock, lerr := b.layout.LockRef(id); lerr == nil {
			err = errors.Join(err, b.release(rctx, r))
			unlock()
		}
	}
	return code, err
}

// startAttached starts r as start (containers.go) does, with its monitor
// in this process (launch.Prepared.Start) in place of the supervisor,
// from sp when not nil; the project's supervisor serves its published
// ports all the same (supervise.Publish).
//
// The rootfs is mounted by the container's init, in its own mount
// namespace: nothing to unmount on the host afterwards, and nothing left
// mounted if this process dies. Only when volumes are to be filled from
// the image is it mounted here first (launch.Prepare).
func (b *Backend) startAttached(ctx context.Context, r *store.Record, opts engine.RunAttach, sp *runtime.Spawned) (*launch.Running, error) {
	// A layer thrown away with the container (Remove) is never synced.
	p, err := launch.Prepare(ctx, b.launchOptions(nil, false, opts.Remove), r)
	if err != nil {
		sp.Abort()
		return nil, err
	}
	pub, err := b.sups.Publish(ctx, r, p.Attachment.Addr)
	if err != nil {
		sp.Abort()
		p.Undo(ctx)
		return nil, err
	}
	s := launch.Streams{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY,
		Size: runtime.WinSize{Rows: opts.Size.Rows, Cols: opts.Size.Cols}}
	c, err := p.Start(ctx, s, sp)
	if err != nil {
		pub.Abort()
		return nil, err
	}
	if pub != nil {
		st, _, err := b.layout.Status(r)
		if err == nil {
			err = pub.Commit(st.Pid, st.StartTime)
		}
		if err != nil {
			_ = c.Process().Signal(syscall.SIGKILL)
			_, _ = c.Wait(context.WithoutCancel(ctx), nil)
			_ = b.release(ctx, r)
			return nil, err
		}
	}
	return c, nil
}
