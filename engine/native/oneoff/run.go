// Package oneoff runs the native engine's simple one-off containers
// (hoist run --rm): those that need no compose network, published port,
// volume or file, so nothing but the store (engine/native/store) and the
// one start path (engine/native/launch). The native engine runs them
// through Run; hoist run's fast path (cmd/hoist/fastrun) runs a recorded
// one again through Replay, without loading the compose file.
//
// It depends on those, the runtime and the standard library only, on
// purpose: the fast path links it, and is only fast while it links none
// of the compose loader, the registry client or the builder (see
// cmd/hoist/fastrun).
package oneoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/engine/native/launch"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// record is the native engine's container record (store.Record). A
// record is passed and written as JSON, as it came: Rebind keeps fields
// this version does not know.
type record struct{ store.Record }

// Simple reports whether the native engine's record rec can run here: a
// one-off container with network_mode none, no volume (bind mounts and
// tmpfs are fine: the runtime mounts them), no terminal. (network_mode
// host is not: its hostname is the host's at create, which a record run
// again would freeze.) Files (configs, secrets) the caller must rule out itself:
// they are written at create, and no record field tells.
func Simple(rec []byte) bool {
	r, err := decode(rec)
	return err == nil && r.simple() == nil
}

func decode(rec []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(rec, &r); err != nil {
		return nil, fmt.Errorf("container record: %w", err)
	}
	return &r, nil
}

func (r *record) simple() error {
	switch {
	case !r.OneOff:
		return errors.New("not a one-off container")
	case r.NetworkMode != "none":
		return fmt.Errorf("network_mode %q", r.NetworkMode)
	case len(r.Networks) > 0 || len(r.Ports) > 0:
		return errors.New("on a compose network")
	case len(r.Volumes) > 0:
		return errors.New("mounts volumes")
	case r.Spec.TTY:
		return errors.New("has a terminal")
	}
	for _, m := range r.Spec.Mounts {
		if m.Type == runtime.MountVolume {
			return errors.New("mounts volumes")
		}
	}
	return nil
}

// Rebind returns rec for another container of the same settings: id, name
// and creation time replaced, and the hostname and HOSTNAME variable too
// when they were the old ID's default (the first 12 digits, as Docker's).
func Rebind(rec []byte, id, name string, created time.Time) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec, &m); err != nil {
		return nil, fmt.Errorf("container record: %w", err)
	}
	var old string
	var spec runtime.Spec
	if err := json.Unmarshal(m["id"], &old); err != nil || len(old) < 12 || len(id) < 12 {
		return nil, errors.New("container record: no valid id")
	}
	if err := json.Unmarshal(m["spec"], &spec); err != nil {
		return nil, fmt.Errorf("container record: %w", err)
	}
	spec.ID = id
	// An old ID's prefix can only be the defaults: it is random.
	if spec.Hostname == old[:12] {
		spec.Hostname = id[:12]
	}
	for i, kv := range spec.Env {
		if kv == "HOSTNAME="+old[:12] {
			spec.Env[i] = "HOSTNAME=" + id[:12]
		}
	}
	for k, v := range map[string]any{"id": id, "name": name, "created": created.UTC(), "spec": spec} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		m[k] = b
	}
	return json.Marshal(m)
}

// RunOptions are a one-off run's.
type RunOptions struct {
	Layout store.Layout
	// Record is the native engine's record of the container, ID and name
	// included (Rebind makes a new one from an old).
	Record []byte
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Spawned, when set, is the container's init spawned ahead
	// (runtime.Spawn); Run starts it, or aborts it when it cannot be used.
	Spawned *runtime.Spawned
	// Remove removes the container once it exited. The native engine
	// passes its own removal; nil removes it as Remove does.
	Remove func(ctx context.Context, project, id string) error
	// Logf reports warnings; nil discards them.
	Logf func(format string, args ...any)
	// RandomName, for Replay: the record's name ends in 12 random
	// characters, to be drawn anew.
	RandomName bool
}

// ErrNotSimple is Run's answer for a record Simple refuses.
var ErrNotSimple = errors.New("not a simple one-off container")

// Run creates the container of o.Record, runs it attached (this process is
// its parent and monitor; its output goes to o's writers), and removes it
// once it exited, also when ctx ends, which kills it first. While it runs
// the container is recorded as any other (config.json, and a running
// state naming this process as its monitor), so ps shows it and down or
// rm -f kills and removes it, also if this process dies.
//
// The container's rootfs is mounted by its init inside its own mount
// namespace: nothing is mounted on the host, so nothing is left mounted if
// this process dies.
func Run(ctx context.Context, o RunOptions) (int, error) {
	r, err := decode(o.Record)
	if err == nil {
		err = r.ready()
	}
	if err == nil {
		err = create(o.Layout, r, o.Record)
	}
	if err != nil {
		o.Spawned.Abort()
		return 0, err
	}
	return runCreated(ctx, o, r)
}

// Replay runs the container of rec, a record Run ran before, again as a
// new container (Rebind): hoist run's fast path. ran is false when it
// ran nothing and left nothing behind, so that the caller can take the
// usual way, which says what is wrong if anything is: the project is not
// Idle, the image or a bind mount's source is gone, the name is taken.
//
// o.Record is the old record, o.RandomName tells whether its name's last
// 12 characters were random; o.Spawned and o.Remove are Replay's own.
func Replay(ctx context.Context, o RunOptions) (code int, ran bool, err error) {
	l, rec := o.Layout, o.Record
	old, err := decode(rec)
	if err != nil || old.ready() != nil || !l.Idle(old.Project) {
		return 0, false, err
	}
	for _, m := range old.Spec.Mounts {
		if m.Type != runtime.MountBind {
			continue
		}
		// The native engine creates a missing source (create_host_path)
		// or refuses to run.
		if _, err := os.Stat(m.Source); err != nil {
			return 0, false, nil
		}
	}
	name := old.Name
	if o.RandomName {
		if len(name) < 12 {
			return 0, false, nil
		}
		name = name[:len(name)-12] + store.NewID()[:12]
	}
	if rec, err = Rebind(rec, store.NewID(), name, time.Now()); err != nil {
		return 0, false, err
	}
	r, err := decode(rec)
	if err != nil {
		return 0, false, err
	}
	o.Record, o.Spawned, o.Remove = rec, nil, nil
	// The init's own start overlaps with creating the container.
	o.Spawned, _ = runtime.Spawn(r.spawnOptions(o)) // nil on error: Monitor spawns one
	if err := create(l, r, rec); err != nil {
		o.Spawned.Abort()
		return 0, false, nil
	}
	code, err = runCreated(ctx, o, r)
	return code, true, err
}

// ready checks that r can run here and its image's layers are in place.
func (r *record) ready() error {
	if err := r.simple(); err != nil {
		return fmt.Errorf("container %s: %w: %v", r.Name, ErrNotSimple, err)
	}
	for _, l := range r.Layers {
		if _, err := os.Stat(l); err != nil {
			return fmt.Errorf("container %s: image layer %s is gone from the native store: %w", r.Name, filepath.Base(l), fs.ErrNotExist)
		}
	}
	return nil
}

// runCreated starts the created container r, waits for it and removes it.
func runCreated(ctx context.Context, o RunOptions, r *record) (code int, err error) {
	remove := o.Remove
	if remove == nil {
		remove = func(ctx context.Context, project, id string) error { return Remove(ctx, o.Layout, project, id) }
	}
	defer func() {
		// ctx may be cancelled: removal must still happen.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := remove(rctx, r.Project, r.ID); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	c, err := start(ctx, o, r)
	if err != nil {
		return 0, fmt.Errorf("run container %s: %w", r.Name, err)
	}
	return c.Wait(ctx, nil)
}

// create records the container: its name, layer dir and config.json, as
// the native engine's CreateContainer does; on failure it undoes all. A
// name in use is the store's error as it is (an engine.ErrConflict).
func create(l store.Layout, r *record, rec []byte) error {
	if err := l.ReserveName(r.Name, r.Project, r.ID); err != nil {
		return err
	}
	err := l.CreateLayer(r.ID)
	if err == nil {
		err = os.MkdirAll(l.StateDir(r.Project, r.ID), 0o700)
	}
	if err == nil {
		err = atomicfile.Replace(filepath.Join(l.StateDir(r.Project, r.ID), store.ConfigFile), rec, 0o600)
	}
	if err != nil {
		_ = l.RemoveRecord(r.Project, r.ID, r.Name)
		return fmt.Errorf("create container %q: %w", r.Name, err)
	}
	return nil
}

// start starts the created container under its lock, from o.Spawned when
// set, as the engine starts any container (engine/native/launch), on a
// network namespace of its own (network_mode none) and a writable layer
// never synced (it goes with the container).
func start(ctx context.Context, o RunOptions, r *record) (*launch.Running, error) {
	unlock, err := o.Layout.Lock(r.ID)
	if err != nil {
		o.Spawned.Abort()
		return nil, err
	}
	defer unlock()
	p, err := launch.Prepare(ctx, launch.Options{Layout: o.Layout, Volatile: true, Logf: o.Logf}, &r.Record)
	if err != nil {
		o.Spawned.Abort()
		return nil, err
	}
	return p.Start(ctx, launch.Streams{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}, o.Spawned)
}

// spawnOptions are how the init of r is spawned ahead (runtime.Spawn) to
// run with o's streams.
func (r *record) spawnOptions(o RunOptions) runtime.SpawnOptions {
	return runtime.SpawnOptions{NewNetwork: true, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Security: r.Spec.Security}
}

// Remove removes a one-off container that exited under this process's
// watch: its layer dir, record and name, then the project's run dir when
// nothing else is left in it. One that another hoist started again
// meanwhile is left, with an error that says how to remove it. A run that
// uses Remove must check first that the project is Idle (store.Layout):
// Remove leaves the native engine's teardown nothing else to do.
func Remove(ctx context.Context, l store.Layout, project, id string) error {
	unlock, err := l.Lock(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed meanwhile (down, rm -f)
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	defer unlock()
	dir := l.StateDir(project, id)
	var r struct {
		Name string `json:"name"`
	}
	data, err := os.ReadFile(filepath.Join(dir, store.ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if _, err := os.Stat(filepath.Join(dir, store.StateFile)); errors.Is(err, fs.ErrNotExist) {
		// Never started (its start failed or was interrupted): no process;
		// a cgroup the failed start left is removed with the rest.
		if err := runtime.RemoveCgroups(id); err != nil {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	} else {
		st, err := runtime.ReadState(dir)
		if err == nil && (st.Status != runtime.StatusExited || st.MonitorPid != os.Getpid()) {
			err = errors.New("another hoist started it again")
		}
		if err != nil {
			return fmt.Errorf("remove container %s: %w; remove it with: hoist rm -f %s", r.Name, err, r.Name)
		}
	}
	if err := errors.Join(l.RemoveLayerContent(id), l.RemoveRecord(project, id, r.Name)); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	// The project's run dir goes when nothing else is left in it (Idle).
	if os.Remove(filepath.Dir(dir)) == nil {
		_ = os.Remove(l.ProjectDir(project))
	}
	return nil
}
