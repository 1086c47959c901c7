// Package native is hoist's daemonless engine.Backend: containers run by
// engine/native/runtime from overlay root filesystems of images in the
// engine/native/image store, with all state in files.
//
// # Layout
//
//	<RunDir>/names/<name>                         name → container ID (host-wide)
//	<RunDir>/networks/<name>.json                 recorded networks (host-wide)
//	<RunDir>/<project>/containers/<id>/config.json the container's record
//	<RunDir>/<project>/containers/<id>/state.json  the runtime monitor's state,
//	                              with spec.json, stdout.log and stderr.log
//	<RunDir>/<project>/containers/<id>/proxy.json  the port proxy's pid and ports
//	<RunDir>/<project>/net/                       engine/native/network's state
//	<RunDir>/build.<pid>.<hex>/                   a build's network while it runs (build.go)
//	<Root>/containers/<id>/{upper,work,rootfs}    writable layer and mountpoint
//	<Root>/containers/<id>/etc/                   hosts, hostname, resolv.conf
//	<Root>/volumes/<name>/{_data,volume.json}     named and anonymous volumes
//
// The writable layer lives with the store (it must survive a reboot like
// Docker's), the run state with the volatile RunDir. Every file is written
// atomically (temporary file, fsync, rename).
//
// # Seams for later parts
//
// Network setup goes through the networker interface (netattach.go),
// implemented with engine/native/network: a bridge per compose network, a
// veth per container and network, names through a managed /etc/hosts.
// Started containers belong to the project's supervisor
// (engine/native/supervisor, see supervise.go): it is their parent, serves
// their published ports, applies restart policies, runs healthchecks and
// writes their logs; its socket and records are in <RunDir>/<project>.
package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/engine/native/oneoff"
)

// The engine's optional abilities (engine/engine.go).
var (
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
)

// Defaults for Options.
const (
	DefaultRoot   = image.DefaultRoot
	DefaultRunDir = oneoff.DefaultRunDir
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
}

// Backend is the native engine.
type Backend struct {
	root   string
	runDir string
	store  *image.Store
	logf   func(string, ...any)
	net    networker
	netm   *network.Manager
	// builder is made on first Build.
	builder builderOnce
	// onCreate, when set (by tests), is told every new container's ID.
	onCreate func(id string)
}

var (
	_ engine.Backend      = (*Backend)(nil)
	_ engine.Execer       = (*Backend)(nil)
	_ engine.Killer       = (*Backend)(nil)
	_ engine.ImageRemover = (*Backend)(nil)
	_ engine.Pusher       = (*Backend)(nil)
)

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
	store, err := image.Open(root)
	if err != nil {
		return nil, fmt.Errorf("native engine: open image store: %w", err)
	}
	for _, d := range []string{
		filepath.Join(root, "containers"), filepath.Join(root, "volumes"),
		filepath.Join(runDir, "names"), filepath.Join(runDir, "networks"),
	} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("native engine: %w", err)
		}
	}
	b := &Backend{root: root, runDir: runDir, store: store, logf: opts.Logf}
	if b.logf == nil {
		b.logf = func(string, ...any) {}
	}
	netm, err := network.New(network.Options{RunDir: runDir, AllocFile: filepath.Join(root, "network", "subnets.json"), Logf: b.logf})
	if err != nil {
		return nil, fmt.Errorf("native engine: %w", err)
	}
	b.netm = netm
	b.net = bridgeNetworker{b: b, m: netm}
	return b, nil
}

// Name is "native".
func (b *Backend) Name() string { return "native" }

// Close releases nothing: the engine holds no connections, and its
// containers outlive it.
func (b *Backend) Close() error { return nil }

// Store is the image store, for the CLI's image commands (load, import, ls).
func (b *Backend) Store() *image.Store { return b.store }

// layout is where containers live; the oneoff package shares it.
func (b *Backend) layout() oneoff.Layout { return oneoff.Layout{Root: b.root, RunDir: b.runDir} }

func (b *Backend) projectDir(project string) string { return b.layout().ProjectDir(project) }

func (b *Backend) stateDir(project, id string) string { return b.layout().StateDir(project, id) }

func (b *Backend) layerDir(id string) string { return b.layout().LayerDir(id) }
