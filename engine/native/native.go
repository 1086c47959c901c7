// Package native is hoist's daemonless engine: an engine.Backend whose
// containers run with no daemon, each part in a package named for what it
// owns. This package only adapts them to the engine's contract:
//
//   - engine/native/store: the on-disk store (layout, container records,
//     names, locks, network records, the files beside a record);
//   - engine/native/image: the image store; engine/native/build: builds;
//     engine/native/buildnet: a build's network;
//   - engine/native/volume: volumes;
//   - engine/native/launch: the one way a container starts (its root file
//     system, etc files and network from its record);
//   - engine/native/netattach: a container's networks on
//     engine/native/network's bridges;
//   - engine/native/supervise: the project's supervisor
//     (engine/native/supervisor), which owns started containers, their
//     restarts, healthchecks, logs (engine/native/logfile) and published
//     ports;
//   - engine/native/oneoff: hoist run --rm's simple one-offs, also run by
//     its fast path;
//   - engine/native/runtime: the container runtime.
//
// A newcomer following `hoist up -d` meets CreateContainer (record.go:
// the spec becomes a store.Record) and StartContainer (containers.go:
// launch.Prepare, then supervise.Start).
package native

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/netattach"
	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervise"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/engine/native/volume"
	"github.com/hoist-dev/hoist/internal/userns"
)

// The engine's optional abilities (engine/engine.go).
var (
	_ engine.Backend        = (*Backend)(nil)
	_ engine.Builder        = (*Backend)(nil)
	_ engine.Execer         = (*Backend)(nil)
	_ engine.Killer         = (*Backend)(nil)
	_ engine.ImageRemover   = (*Backend)(nil)
	_ engine.Pusher         = (*Backend)(nil)
	_ engine.Runner         = (*Backend)(nil)
	_ engine.StopWaiter     = (*Backend)(nil)
	_ engine.Syncer         = (*Backend)(nil)
	_ engine.Copier         = (*Backend)(nil)
	_ engine.ImageInspector = (*Backend)(nil)
	_ engine.ImageLoader    = (*Backend)(nil)
	_ engine.ImageImporter  = (*Backend)(nil)
	_ engine.ImageLister    = (*Backend)(nil)
	_ engine.ProjectLister  = (*Backend)(nil)
	_ engine.Toper          = (*Backend)(nil)
	_ engine.Unsupporter    = (*Backend)(nil)
	_ engine.ProjectLocker  = (*Backend)(nil)
	_ engine.ProjectTearer  = (*Backend)(nil)
	_ engine.ProcessStopper = (*Backend)(nil)
	_ engine.Pauser         = (*Backend)(nil)
	_ engine.StatsReader    = (*Backend)(nil)
	_ engine.Exporter       = (*Backend)(nil)
	_ engine.Committer      = (*Backend)(nil)
	_ engine.EventStreamer  = (*Backend)(nil)
	_ engine.Attacher       = (*Backend)(nil)
)

// Defaults for Options.
const (
	DefaultRoot   = image.DefaultRoot
	DefaultRunDir = store.DefaultRunDir
)

// Options configures New.
type Options struct {
	// Root holds the image store, writable layers and volumes.
	Root string
	// RunDir holds the per-project run state.
	RunDir string
	// Logf, when set, is told about things the engine works around (a
	// loopback nameserver left out of resolv.conf, for example).
	Logf func(format string, args ...any)
	// SpawnSupervisor, when set, starts a project's supervisor: a
	// rootless project's anchor (engine/native/rootless) does, so that
	// it starts it again if it dies. Nil starts it as a child of this
	// process.
	SpawnSupervisor supervisor.SpawnFunc
	// HostRoutes, when set, lists what new subnets must avoid (default:
	// this namespace's routes); a rootless project's CLI, in the
	// project's network namespace, reads the host's.
	HostRoutes func() ([]netip.Prefix, error)
	// AfterWrite, when set, is called after each write the image store
	// or the builder makes durable (a blob, a layer, the image index, a
	// build cache entry): a test hook (HOIST_TEST_KILL_AFTER_WRITE) that
	// kills hoist between two of them.
	AfterWrite func()
}

// Backend is the native engine.
type Backend struct {
	layout store.Layout
	store  *image.Store
	logf   func(string, ...any)
	vols   volume.Store
	nets   netattach.Networks
	sups   supervise.Supervisors
	// builder is made on first Build.
	builder builderOnce
	// onCreate, when set (by tests), is told every new container's ID.
	onCreate func(id string)
	// afterWrite is Options.AfterWrite, for the builder.
	afterWrite func()
}

// New opens the native engine's store and run directory, creating them.
// The engine needs root.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	if opts.RunDir == "" {
		opts.RunDir = DefaultRunDir
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, err
	}
	runDir, err := filepath.Abs(opts.RunDir)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("native engine: needs root (running as uid %d)", os.Geteuid())
	}
	imgs, err := image.Open(root)
	if err != nil {
		return nil, fmt.Errorf("native engine: open image store: %w", err)
	}
	l := store.Layout{Root: root, RunDir: runDir}
	if err := l.Init(); err != nil {
		return nil, fmt.Errorf("native engine: %w", err)
	}
	imgs.AfterWrite = opts.AfterWrite
	b := &Backend{layout: l, store: imgs, logf: opts.Logf, afterWrite: opts.AfterWrite}
	if b.logf == nil {
		b.logf = func(string, ...any) {}
	}
	netm, err := network.New(network.Options{RunDir: runDir, AllocFile: filepath.Join(root, "network", "subnets.json"), Logf: b.logf, HostRoutes: opts.HostRoutes})
	if err != nil {
		return nil, fmt.Errorf("native engine: %w", err)
	}
	b.vols = volume.Store{Layout: l}
	b.nets = netattach.Networks{Layout: l, Manager: netm}
	b.sups = supervise.Supervisors{Layout: l, Logf: b.logf, Spawn: opts.SpawnSupervisor}
	return b, nil
}

// Name is "native", or "native-rootless" in a user namespace (a user's
// own engine, engine/native/rootless).
func (b *Backend) Name() string {
	if userns.Inside() {
		return "native-rootless"
	}
	return "native"
}

// Close releases nothing: the engine holds no connections, and its
// containers outlive it.
func (b *Backend) Close() error { return nil }

// Store is the image store, for the CLI's image commands (load, import, ls).
func (b *Backend) Store() *image.Store { return b.store }
