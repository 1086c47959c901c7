package native

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// The system abilities (hoist system check, hoist system boot).
var (
	_ engine.StoreChecker = (*Backend)(nil)
	_ engine.Booter       = (*Backend)(nil)
)

// CheckStore verifies the image store (image.Store.Check), then the
// containers' records and layers (store.Layout.Check): images first, so
// that a layer tree the image store unpacks again is there when the
// containers' layers are checked. A container that cannot be trusted is
// removed as RemoveContainer removes it (forced, its anonymous volumes
// kept); named volumes are never touched.
func (b *Backend) CheckStore(ctx context.Context, opts engine.CheckOptions) ([]engine.StoreProblem, error) {
	var out []engine.StoreProblem
	ips, err := b.store.Check(ctx, opts.Full, opts.Repair)
	reported := map[string]bool{}
	for _, p := range ips {
		out = append(out, engine.StoreProblem{Path: p.Path, What: p.What, Repaired: p.Repaired})
		if !opts.Repair {
			reported[p.Path] = true
		}
	}
	if err != nil {
		return out, fmt.Errorf("check image store: %w", err)
	}
	cps, err := b.layout.Check(store.CheckOptions{Repair: opts.Repair, Remove: func(project, id string) error {
		return b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true})
	}, Reported: reported})
	for _, p := range cps {
		out = append(out, engine.StoreProblem{Path: p.Path, What: p.What, Repaired: p.Repaired})
	}
	if err != nil {
		return out, fmt.Errorf("check containers: %w", err)
	}
	return out, nil
}

// Boot brings the native engine back after the host booted, as dockerd
// does when it starts: the network and container records the volatile run
// dir lost are made again from their durable copies, and every container
// whose restart policy is always or unless-stopped and that the user did
// not stop (hoist stop) is started, with its volumes as they were. The
// others stay as they are, exited. Containers that already run are left
// alone, so Boot can run at any time.
func (b *Backend) Boot(ctx context.Context) (engine.BootReport, error) {
	rep := engine.BootReport{Failed: map[string]string{}}
	if _, err := b.layout.RestoreNetworks(); err != nil {
		return rep, fmt.Errorf("boot: %w", err)
	}
	restored, rerr := b.layout.RestoreRecords()
	for _, r := range restored {
		rep.Restored = append(rep.Restored, r.Name)
	}
	all, err := b.layout.All()
	if err != nil {
		return rep, fmt.Errorf("boot: %w", errors.Join(rerr, err))
	}
	byProject := map[string][]*store.Record{}
	for _, r := range all {
		if r.OneOff || !restartsAtBoot(r.Restart) || b.layout.UserStopped(r.ID) {
			continue
		}
		byProject[r.Project] = append(byProject[r.Project], r)
	}
	projects := make([]string, 0, len(byProject))
	for p := range byProject {
		projects = append(projects, p)
	}
	slices.Sort(projects)
	for _, p := range projects {
		recs := byProject[p]
		// A container that shares another's network starts after it.
		slices.SortStableFunc(recs, func(x, y *store.Record) int {
			return boolInt(strings.HasPrefix(x.NetworkMode, "container:")) - boolInt(strings.HasPrefix(y.NetworkMode, "container:"))
		})
		if err := b.bootProject(ctx, p, recs, &rep); err != nil {
			return rep, fmt.Errorf("boot: project %s: %w", p, err)
		}
	}
	return rep, rerr
}

// bootProject starts recs of project under the project's lock (no up or
// down of the project runs meanwhile).
func (b *Backend) bootProject(ctx context.Context, project string, recs []*store.Record, rep *engine.BootReport) error {
	unlock, err := b.LockProject(ctx, project)
	if err != nil {
		return err
	}
	defer unlock()
	for _, r := range recs {
		if _, running := b.layout.Running(r); running {
			continue
		}
		if err := b.StartContainer(ctx, r.ID); err != nil {
			rep.Failed[r.Name] = err.Error()
			continue
		}
		rep.Started = append(rep.Started, r.Name)
	}
	return nil
}

// restartsAtBoot reports whether a container of restart policy pol comes
// back when the host boots.
func restartsAtBoot(pol string) bool { return pol == "always" || pol == "unless-stopped" }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
