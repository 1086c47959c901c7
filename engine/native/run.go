package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/oneoff"
	"github.com/hoist-dev/hoist/engine/native/runtime"
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
				record(Replay{Record: rec, Root: b.root, RunDir: b.runDir, Inputs: []string{b.store.IndexPath()}})
			}
			code, err := oneoff.Run(ctx, oneoff.RunOptions{Layout: b.layout(), Record: rec,
				Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Spawned: sp, Logf: b.logf,
				Remove: func(ctx context.Context, _, id string) error {
					err := b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true, Volumes: true})
					if errors.Is(err, engine.ErrNotFound) {
						return nil
					}
					return err
				}})
			return code, nameConflict(spec.Name, err)
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
func (b *Backend) simpleOneOff(ctx context.Context, r *record, img *image.Image, spec engine.ContainerSpec) ([]byte, bool, error) {
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
// namespace as netattach.go will decide it (a new one when no compose
// network joins it) and its security as buildSpec sets it.
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
	r, unlock, err := b.lockContainer(id)
	if err != nil {
		sp.Abort()
		return 0, fmt.Errorf("run container: %w", err)
	}
	m, err := b.startAttached(ctx, r, opts, sp)
	unlock()
	if err != nil {
		return 0, fmt.Errorf("run container %s: %w", r.Name, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = m.Process().Signal(syscall.SIGKILL) })
	drain := func() {}
	if console := m.Process().Console; console != nil {
		drain = runtime.ServeConsole(console, opts.Stdin, opts.Stdout, runtimeSizes(opts.Resize))
	}
	code, err := m.Wait()
	drain()
	stop()
	if err != nil {
		err = fmt.Errorf("run container %s: %w", r.Name, err)
	}
	if !opts.Remove {
		// As stop: unmount and detach now, keep the writable layer.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if r, unlock, lerr := b.lockContainer(id); lerr == nil {
			err = errors.Join(err, b.release(rctx, r))
			unlock()
		}
	}
	if ctx.Err() != nil {
		return code, errors.Join(err, fmt.Errorf("run container %s: %w", r.Name, ctx.Err()))
	}
	return code, err
}

// startAttached does what start (lifecycle.go) does, with a
// runtime.Monitor in this process in place of a detached one, from sp
// when not nil.
//
// The rootfs is mounted by the container's init, in its own mount
// namespace (runtime.Overlay): nothing to unmount on the host afterwards,
// and nothing left mounted if this process dies. Only when volumes are to
// be filled from the image is it mounted here first, as start does.
func (b *Backend) startAttached(ctx context.Context, r *record, opts engine.RunAttach, sp *runtime.Spawned) (*runtime.Monitor, error) {
	ok := false
	defer func() {
		if !ok {
			sp.Abort()
		}
	}()
	for _, l := range r.Layers {
		if _, err := os.Stat(l); err != nil {
			return nil, fmt.Errorf("image %s (%s) is gone from the native store: %w", r.Image, r.ImageID, engine.ErrNotFound)
		}
	}
	dir := b.layerDir(r.ID)
	rootfs := filepath.Join(dir, "rootfs")
	spec := r.Spec
	spec.Rootfs = rootfs
	fills, err := b.volumeFills(r)
	if err != nil {
		return nil, err
	}
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	if len(fills) == 0 {
		// A layer thrown away with the container (Remove) is never synced.
		spec.Overlay = &runtime.Overlay{Lowers: r.Layers, Upper: upper, Work: work, Volatile: opts.Remove}
	} else {
		// An init spawned before this host mount would not see it (its
		// mount namespace is a copy, and / need not propagate): start a
		// new one after.
		sp.Abort()
		sp = nil
		mount := image.MountRootfs
		if opts.Remove {
			mount = image.MountVolatileRootfs
		}
		if err := mount(r.Layers, upper, work, rootfs); err != nil {
			return nil, err
		}
		defer func() {
			if !ok {
				_ = image.Unmount(rootfs)
			}
		}()
		if err := b.copyUp(r, rootfs); err != nil {
			return nil, err
		}
	}
	if spec.Hosts, spec.HostnameFile, spec.ResolvConf, err = b.writeEtc(r); err != nil {
		return nil, err
	}
	att, err := b.net.attach(ctx, r)
	if err != nil {
		return nil, err
	}
	spec.Network = att.Network
	if att.Hosts != "" {
		spec.Hosts = att.Hosts
	}
	var proxy *proxyHandle
	if len(r.Ports) > 0 && att.IP.IsValid() {
		if proxy, err = b.startProxy(ctx, r, att.IP); err != nil {
			_ = b.net.detach(ctx, r)
			return nil, err
		}
	}
	spec.Stdin, spec.Stdout, spec.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	if opts.TTY {
		spec.TTY, spec.Size = true, runtime.WinSize{Rows: opts.Size.Rows, Cols: opts.Size.Cols}
	}
	m := &runtime.Monitor{StateDir: b.stateDir(r.Project, r.ID), Spawned: sp}
	sp = nil // the monitor starts or aborts it
	if _, err := m.Start(ctx, spec); err != nil {
		proxy.abort(ctx, r)
		_ = b.net.detach(ctx, r)
		return nil, err
	}
	if proxy != nil {
		st, _, err := b.status(r)
		if err == nil {
			err = proxy.commit(st)
		}
		if err != nil {
			_ = m.Process().Signal(syscall.SIGKILL)
			_, _ = m.Wait()
			_ = b.release(ctx, r)
			return nil, err
		}
	}
	ok = true
	return m, nil
}
