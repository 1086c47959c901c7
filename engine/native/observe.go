package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// Observe reads the project's state files: containers with their runtime
// state, the project's networks and volumes, and the local IDs of
// imageRefs. It starts no process.
func (b *Backend) Observe(ctx context.Context, project string, imageRefs []string) (*engine.State, error) {
	out := &engine.State{ImageIDs: map[string]string{}}
	if checkName("project", project) == nil {
		matches, err := filepath.Glob(filepath.Join(b.stateDir(project, "*"), configFile))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			var r record
			if err := readJSON(m, &r); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
					// Run state is not synced (atomicfile.Replace): where
					// /run is not a tmpfs, a machine crash can cut it short.
					return nil, fmt.Errorf("observe %s: container record %s is damaged (%v), as a machine crash can leave it where /run is not a tmpfs; remove %s to forget that container", project, m, err, filepath.Dir(m))
				}
				return nil, fmt.Errorf("observe %s: %w", project, err)
			}
			st, started, err := b.status(&r)
			if err != nil {
				return nil, fmt.Errorf("observe %s: container %s: %w", project, r.Name, err)
			}
			out.Containers = append(out.Containers, b.container(&r, st, started))
		}
		b.markRestarting(ctx, project, out.Containers)
	}
	slices.SortFunc(out.Containers, func(a, b engine.Container) int { return strings.Compare(a.Name, b.Name) })

	nets, _ := filepath.Glob(filepath.Join(b.runDir, "networks", "*.json"))
	for _, p := range nets {
		var n networkRecord
		if err := readJSON(p, &n); err != nil {
			continue // removed meanwhile, or a partial leftover
		}
		if n.Project == project || n.Labels[engine.LabelProject] == project {
			out.Networks = append(out.Networks, engine.Network{ID: n.ID, Name: n.Name, Labels: n.Labels})
		}
	}
	vols, _ := filepath.Glob(filepath.Join(b.root, "volumes", "*", "volume.json"))
	for _, p := range vols {
		var v volumeRecord
		if err := readJSON(p, &v); err != nil {
			continue
		}
		if v.Project == project || v.Labels[engine.LabelProject] == project {
			out.Volumes = append(out.Volumes, engine.Volume{Name: v.Name, Labels: v.Labels})
		}
	}
	for _, ref := range imageRefs {
		if id, err := b.ImageID(ctx, ref); err == nil {
			out.ImageIDs[ref] = id
		}
	}
	return out, nil
}

// container fills an engine.Container from a record and its state.
func (b *Backend) container(r *record, st runtime.State, started bool) engine.Container {
	c := engine.Container{
		ID: r.ID, Name: r.Name, Project: r.Project, Service: r.Service, Number: r.Number, OneOff: r.OneOff,
		ConfigHash: r.Labels[engine.LabelConfigHash], Image: r.Image, ImageID: r.ImageID,
		State: engine.StateCreated, Created: r.Created, Labels: r.Labels,
	}
	if started {
		switch st.Status {
		case runtime.StatusRunning:
			c.State = engine.StateRunning
		case runtime.StatusExited:
			c.State, c.ExitCode = engine.StateExited, st.ExitCode
		}
	}
	switch {
	case r.NetworkMode == "":
		for _, n := range r.Networks {
			c.Networks = append(c.Networks, n.Name)
		}
	case strings.HasPrefix(r.NetworkMode, "container:"):
	default:
		c.Networks = []string{r.NetworkMode}
	}
	if c.State == engine.StateRunning && len(r.Ports) > 0 {
		c.Ports = b.publishedPorts(r)
	}
	if r.Healthcheck != nil && c.State == engine.StateRunning {
		c.Health = b.health(r, st)
	}
	return c
}

// markRestarting reports the containers the supervisor is restarting (in
// their backoff wait) as restarting, and warns when running containers
// have no supervisor.
func (b *Backend) markRestarting(ctx context.Context, project string, cs []engine.Container) {
	if len(cs) == 0 {
		return
	}
	c := b.liveSupervisor(ctx, project)
	if c == nil {
		b.warnUnsupervised(project, cs)
		return
	}
	list, err := c.List(ctx)
	if err != nil {
		return
	}
	restarting := map[string]bool{}
	for _, s := range list {
		if s.Status == supervisor.StatusRestarting {
			restarting[s.ID] = true
		}
	}
	for i := range cs {
		if restarting[cs[i].ID] && cs[i].State != engine.StateRunning {
			cs[i].State = engine.StateRestarting
		}
	}
}
