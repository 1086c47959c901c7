package native

import (
	"context"
	"os"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/netattach"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// CreateNetwork records the network and makes it exist on the host: a
// bridge with a subnet (the first IPv4 one of spec.Subnets, else a free
// one), NAT out unless internal, the project's forward rules
// (netattach.Networks.Create).
func (b *Backend) CreateNetwork(ctx context.Context, spec engine.NetworkSpec) error {
	err := b.nets.Create(ctx, spec)
	if netattach.Undone(err) {
		b.maybeTeardown(ctx, spec.Project)
	}
	return err
}

// RemoveNetwork removes the network's bridge, rules and record; a network
// a container is attached to is an ErrConflict. The project's network
// state goes with its last network and container (maybeTeardown).
func (b *Backend) RemoveNetwork(ctx context.Context, name string) error {
	project, err := b.nets.Remove(ctx, name)
	if err != nil {
		return err
	}
	if project != "" {
		b.maybeTeardown(ctx, project)
	}
	return nil
}

// CreateVolume creates a local volume: a directory under Root/volumes.
func (b *Backend) CreateVolume(ctx context.Context, spec engine.VolumeSpec) error {
	return b.vols.Create(spec)
}

// RemoveVolume removes a volume and its content; a volume a container
// still uses is an ErrConflict.
func (b *Backend) RemoveVolume(ctx context.Context, name string) error {
	return b.vols.Remove(name)
}

// LockProject serialises `up` of one project across hoist processes (an
// flock on <RunDir>/<project>/up.lock), and takes over the project's
// containers when their supervisor died. unlock removes the project's
// run dir again when nothing was made.
func (b *Backend) LockProject(ctx context.Context, project string) (func(), error) {
	if err := store.CheckName("project", project); err != nil {
		return nil, err
	}
	release, err := b.layout.LockProject(ctx, project)
	if err != nil {
		return nil, err
	}
	unlock := func() {
		b.maybeTeardown(context.WithoutCancel(ctx), project)
		release()
	}
	if err := b.sups.Adopt(ctx, project); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// maybeTeardown removes what is left of project on the host once it has
// no container and no network: the network manager's state (nftables
// table, stray links) and <RunDir>/<project>. Failures are reported
// through Logf: the caller's work is done, and a later down retries
// (TeardownProject).
func (b *Backend) maybeTeardown(ctx context.Context, project string) {
	if err := b.TeardownProject(ctx, project); err != nil {
		b.logf("project %s: %v", project, err)
	}
}

// TeardownProject is maybeTeardown's work, with its error: down calls it
// last, so that what an earlier teardown could not remove goes then.
func (b *Backend) TeardownProject(ctx context.Context, project string) error {
	if store.CheckName("project", project) != nil || b.layout.HasRecords(project) {
		return nil
	}
	for _, n := range b.layout.Networks() {
		if n.Project == project {
			return nil
		}
	}
	if err := b.sups.Teardown(context.WithoutCancel(ctx), project); err != nil {
		return err
	}
	if err := b.nets.Manager.Teardown(context.WithoutCancel(ctx), project); err != nil {
		return err
	}
	return os.RemoveAll(b.layout.ProjectDir(project))
}
