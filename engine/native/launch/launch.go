// Package launch is the one way the native engine starts a container.
// Prepare makes a runtime spec from the container's record: the root file
// system (the image's layers under the writable layer, mounted by the
// container's init in its own mount namespace, or here when the record's
// empty volumes are first filled from the image), the etc files, the
// network namespace. Then either Start runs it in this process with a
// runtime.Monitor (hoist run, attached, and its one-offs, also from the
// fast path) or the caller hands the spec to the project's supervisor,
// which starts it with the same Monitor (up, start).
//
// It imports the store, the volume store, the runtime and the etc files
// only, so hoist run's fast path (engine/native/oneoff) can link it: the
// network attachment, which needs the compose loader's types, is the
// caller's Network.
package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/volume"
	"github.com/hoist-dev/hoist/internal/overlay"
	"github.com/hoist-dev/hoist/internal/userns"
)

// Network connects a container to its network before it starts.
type Network interface {
	// Attach prepares the namespace the container joins and, on compose
	// networks, the managed hosts file and its address.
	Attach(ctx context.Context, r *store.Record) (Attachment, error)
	// Detach undoes Attach after the container exited (or failed to
	// start); its addresses stay reserved for its next start. It must be
	// idempotent.
	Detach(ctx context.Context, r *store.Record) error
}

// Attachment is what the container starts with.
type Attachment struct {
	Network runtime.Network
	// Hosts, when set, is bind-mounted on /etc/hosts instead of the
	// container's own file: the network manager's, rewritten as the
	// project's containers come and go.
	Hosts string
	// Addr is the container's address on its first compose network, where
	// published ports go; empty without one. (Text: this package stays
	// free of net/netip, which hoist run's fast path must not link.)
	Addr string
	// Gateway is its default route's gateway, where a rootless project's
	// DNS forwarder listens; empty without one.
	Gateway string
}

// Options say how to prepare a container.
type Options struct {
	Layout store.Layout
	// Layers are the image's layers, lowest first; nil: the record's.
	Layers []string
	// HostMount mounts the root file system here, at the container's
	// mount point, where it stays until the container is released: the
	// supervisor's containers outlive this process. Without it the
	// container's init mounts it in its own mount namespace, and nothing
	// is left mounted on the host if this process dies.
	HostMount bool
	// Volatile: the writable layer goes with the container (run --rm), so
	// it is never synced.
	Volatile bool
	// Volumes, when set, fills the record's empty volumes from the image.
	Volumes *volume.Store
	// Network attaches the container; nil gives it a network namespace of
	// its own with loopback only (network_mode none).
	Network Network
	// Logf hears about what is worked around (etcfiles.Options).
	Logf func(format string, args ...any)
}

// Prepared is a container ready to start.
type Prepared struct {
	// Spec is the runtime spec, without the streams.
	Spec runtime.Spec
	// Attachment is the network the container starts on.
	Attachment Attachment
	// HostMounted: the root file system is mounted on the host.
	HostMounted bool

	o Options
	r *store.Record
}

// Prepare makes the spec of r's next start. On error it undid what it did.
func Prepare(ctx context.Context, o Options, r *store.Record) (*Prepared, error) {
	layers := o.Layers
	if layers == nil {
		layers = r.Layers
	}
	if err := CheckLayers(r, layers); err != nil {
		return nil, err
	}
	var fills []volume.Fill
	if o.Volumes != nil {
		var err error
		if fills, err = o.Volumes.Fills(r); err != nil {
			return nil, err
		}
	}
	p := &Prepared{Spec: r.Spec, o: o, r: r}
	dir := o.Layout.LayerDir(r.ID)
	rootfs, upper, work := o.Layout.Rootfs(r.ID), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	p.Spec.Rootfs = rootfs
	if !o.HostMount && len(fills) == 0 {
		p.Spec.Overlay = &runtime.Overlay{Lowers: layers, Upper: upper, Work: work, Volatile: o.Volatile}
	} else {
		// A mount left by a crash is replaced.
		if err := overlay.Unmount(rootfs); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(rootfs, 0o755); err != nil {
			return nil, err
		}
		if err := overlay.Mount(layers, upper, work, rootfs, o.Volatile); err != nil {
			return nil, err
		}
		p.HostMounted = true
		if err := volume.CopyUp(rootfs, fills); err != nil {
			p.Undo(ctx)
			return nil, err
		}
	}
	var err error
	if p.Spec.Hosts, p.Spec.HostnameFile, p.Spec.ResolvConf, err = etcfiles.Write(filepath.Join(dir, "etc"), etcOptions(r, o.Logf)); err != nil {
		p.Undo(ctx)
		return nil, err
	}
	p.Attachment = Attachment{Network: runtime.Network{Mode: runtime.NetworkNew}}
	if o.Network != nil {
		if p.Attachment, err = o.Network.Attach(ctx, r); err != nil {
			p.Undo(ctx)
			return nil, err
		}
	}
	p.Spec.Network = p.Attachment.Network
	// A rootless container cannot reach the host's nameservers (no UDP
	// leaves its project's namespace): its supervisor forwards DNS on the
	// gateway (engine/native/rootnet).
	if userns.Inside() && p.Attachment.Gateway != "" && len(r.DNS.Nameservers) == 0 {
		eo := etcOptions(r, o.Logf)
		eo.DNS.Nameservers = []string{p.Attachment.Gateway}
		if p.Spec.Hosts, p.Spec.HostnameFile, p.Spec.ResolvConf, err = etcfiles.Write(filepath.Join(dir, "etc"), eo); err != nil {
			p.Undo(ctx)
			return nil, err
		}
	}
	if p.Attachment.Hosts != "" {
		p.Spec.Hosts = p.Attachment.Hosts
	}
	return p, nil
}

// CheckLayers reports an image layer of r's that is gone from the store
// (an engine.ErrNotFound).
func CheckLayers(r *store.Record, layers []string) error {
	for _, l := range layers {
		if _, err := os.Stat(l); err != nil {
			return fmt.Errorf("image %s (%s) is gone from the native store: %w", r.Image, r.ImageID, engine.ErrNotFound)
		}
	}
	return nil
}

// etcOptions are r's /etc/hosts, /etc/hostname and /etc/resolv.conf.
func etcOptions(r *store.Record, logf func(string, ...any)) etcfiles.Options {
	o := etcfiles.Options{Name: r.Name, Hostname: r.Spec.Hostname, HostNetwork: r.NetworkMode == "host", DNS: r.DNS, Logf: logf}
	// A container on compose networks gets the network manager's hosts
	// file at attach (with extra_hosts); the others get theirs here.
	if !r.Bridged() {
		o.ExtraHosts = r.ExtraHosts
	}
	return o
}

// Undo detaches the network and unmounts the root file system: for a
// container that did not start.
func (p *Prepared) Undo(ctx context.Context) {
	if p.o.Network != nil {
		_ = p.o.Network.Detach(ctx, p.r)
	}
	if p.HostMounted {
		_ = overlay.Unmount(p.Spec.Rootfs)
	}
}

// Streams are the container's standard streams when it runs in this
// process.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY gives it a terminal of Size (else the record's setting holds).
	TTY  bool
	Size runtime.WinSize
}

// Start starts the prepared container in this process, which is then its
// parent and monitor (the Monitor records its state in its state dir),
// from sp when set: an init spawned ahead (runtime.Spawn), started or
// aborted here. On error the container is undone (Undo).
func (p *Prepared) Start(ctx context.Context, s Streams, sp *runtime.Spawned) (*Running, error) {
	if p.HostMounted {
		// An init spawned before the host mount would not see it (its
		// mount namespace is a copy, and / need not propagate): start a
		// new one.
		sp.Abort()
		sp = nil
	}
	spec := p.Spec
	spec.Stdin, spec.Stdout, spec.Stderr = s.Stdin, s.Stdout, s.Stderr
	if s.TTY {
		spec.TTY, spec.Size = true, s.Size
	}
	m := &runtime.Monitor{StateDir: p.o.Layout.StateDir(p.r.Project, p.r.ID), Spawned: sp}
	if _, err := m.Start(ctx, spec); err != nil {
		p.Undo(ctx)
		return nil, err
	}
	return &Running{m: m, name: p.r.Name, s: s}, nil
}

// Running is a container started by Start.
type Running struct {
	m    *runtime.Monitor
	name string
	s    Streams
}

// Process is the container's init.
func (c *Running) Process() *runtime.Process { return c.m.Process() }

// Wait serves the container's terminal, if it has one, with the streams
// and sizes from resize, waits for the container to exit, killing it when
// ctx ends first, and returns its exit code. ctx's end is an error too.
func (c *Running) Wait(ctx context.Context, resize <-chan runtime.WinSize) (int, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.m.Process().Signal(syscall.SIGKILL) })
	drain := func() {}
	if console := c.m.Process().Console; console != nil {
		drain = runtime.ServeConsole(console, c.s.Stdin, c.s.Stdout, resize)
	}
	code, err := c.m.Wait()
	drain()
	stop()
	if err != nil {
		err = fmt.Errorf("run container %s: %w", c.name, err)
	}
	if ctx.Err() != nil {
		err = errors.Join(err, fmt.Errorf("run container %s: %w", c.name, ctx.Err()))
	}
	return code, err
}
