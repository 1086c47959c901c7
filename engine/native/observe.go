package native

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/logfile"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// Observe reads the project's state files: containers with their runtime
// state, the project's networks and volumes, and the local IDs of
// imageRefs. It starts no process.
func (b *Backend) Observe(ctx context.Context, project string, imageRefs []string) (*engine.State, error) {
	out := &engine.State{ImageIDs: map[string]string{}}
	if store.CheckName("project", project) == nil {
		recs, err := b.layout.ProjectRecords(project)
		if err != nil {
			return nil, fmt.Errorf("observe %s: %w", project, err)
		}
		for _, r := range recs {
			st, started, err := b.layout.Status(r)
			if err != nil {
				return nil, fmt.Errorf("observe %s: container %s: %w", project, r.Name, err)
			}
			out.Containers = append(out.Containers, b.container(r, st, started))
		}
		b.markRestarting(ctx, project, out.Containers)
	}
	slices.SortFunc(out.Containers, func(a, b engine.Container) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range b.layout.Networks() {
		if n.Project == project || n.Labels[engine.LabelProject] == project {
			out.Networks = append(out.Networks, engine.Network{ID: n.ID, Name: n.Name, Labels: n.Labels})
		}
	}
	for _, v := range b.vols.List() {
		if v.Project == project || v.Labels[engine.LabelProject] == project {
			out.Volumes = append(out.Volumes, engine.Volume{Name: v.Name, Labels: v.Labels, Driver: "local", Mountpoint: b.vols.Data(v)})
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
func (b *Backend) container(r *store.Record, st runtime.State, started bool) engine.Container {
	c := engine.Container{
		ID: r.ID, Name: r.Name, Project: r.Project, Service: r.Service, Number: r.Number, OneOff: r.OneOff,
		ConfigHash: r.Labels[engine.LabelConfigHash], Image: r.Image, ImageID: r.ImageID,
		State: engine.StateCreated, Created: r.Created, Labels: r.Labels,
	}
	if started {
		switch st.Status {
		case runtime.StatusRunning:
			c.State = engine.StateRunning
			if runtime.Frozen(st.Pid) {
				c.State = engine.StatePaused
			}
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
		c.Ports = b.layout.PublishedPorts(r)
	}
	if r.Healthcheck != nil && c.State == engine.StateRunning {
		c.Health = b.layout.Health(r, st).Status
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
	c := b.sups.Live(ctx, project)
	if c == nil {
		b.sups.WarnUnsupervised(project, cs)
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

// Projects groups the recorded containers by project, for `hoist ls`.
func (b *Backend) Projects(ctx context.Context) ([]engine.ProjectSummary, error) {
	recs, err := b.layout.All()
	if err != nil {
		return nil, err
	}
	byName := map[string]*engine.ProjectSummary{}
	for _, r := range recs {
		p, ok := byName[r.Project]
		if !ok {
			p = &engine.ProjectSummary{Name: r.Project, ConfigFiles: r.Labels[engine.LabelConfigFiles]}
			byName[r.Project] = p
		}
		p.Total++
		if _, running := b.layout.Running(r); running {
			p.Running++
		}
	}
	out := make([]engine.ProjectSummary, 0, len(byName))
	for _, p := range byName {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Wait blocks until the container reaches cond, driven by the events of
// the project's supervisor (which runs the healthchecks), else by its
// state files (supervise.Supervisors.Wait).
func (b *Backend) Wait(ctx context.Context, id string, cond engine.WaitCondition) (engine.Container, error) {
	r, err := b.layout.LoadRef(id)
	if err != nil {
		return engine.Container{}, fmt.Errorf("wait for container %q to be %s: %w", id, cond, err)
	}
	return b.sups.Wait(ctx, r, cond, b.container)
}

// WaitStop returns at the container's next exit, told by its supervisor's
// events (a restart policy's restart follows the exit), or at once when it
// is not running. Without a supervisor nothing restarts a container: it
// is Wait for WaitExited.
func (b *Backend) WaitStop(ctx context.Context, id string) (engine.Container, error) {
	r, err := b.layout.LoadRef(id)
	if err != nil {
		return engine.Container{}, fmt.Errorf("wait for container %q to stop: %w", id, err)
	}
	if c, err, ok := b.sups.WaitStop(ctx, r, b.container); ok {
		return c, err
	}
	return b.Wait(ctx, id, engine.WaitExited)
}

// Logs copies the container's output from the log files its supervisor
// writes (engine/native/logfile), one entry per line with its time and
// stream: Tail counts entries from the end, Since and Until bound the
// times, Timestamps prefixes each line with its time. With Follow it
// streams new output, through rotations and restarts, until the
// container exited for good (stopped, or ended with no restart to come)
// or was removed, or ctx ends.
func (b *Backend) Logs(ctx context.Context, id string, opts engine.LogOptions, stdout, stderr io.Writer) error {
	r, err := b.layout.LoadRef(id)
	if err != nil {
		return fmt.Errorf("logs: %w", err)
	}
	o := logfile.Options{Tail: -1, Timestamps: opts.Timestamps, Follow: opts.Follow}
	if opts.Tail != "" && opts.Tail != "all" {
		if o.Tail, err = strconv.Atoi(opts.Tail); err != nil || o.Tail < 0 {
			return fmt.Errorf("logs: invalid tail %q", opts.Tail)
		}
	}
	now := time.Now()
	for _, t := range []struct {
		flag, value string
		out         *time.Time
	}{{"--since", opts.Since, &o.Since}, {"--until", opts.Until, &o.Until}} {
		if t.value == "" {
			continue
		}
		if *t.out, err = logfile.ParseSince(t.value, now); err != nil {
			return fmt.Errorf("logs: %s: %w", t.flag, err)
		}
	}
	// No more output comes once the container was removed, or exited and
	// is not restarting.
	ended := func() bool {
		if !b.layout.Exists(r) {
			return true
		}
		if c := b.sups.Live(ctx, r.Project); c != nil {
			if s, err := c.State(ctx, r.ID); err == nil {
				return s.Status == supervisor.StatusExited || s.Status == supervisor.StatusStopped
			}
		}
		st, started, err := b.layout.Status(r)
		return err != nil || (started && st.Status == runtime.StatusExited)
	}
	if err := logfile.Copy(ctx, b.layout.StateDir(r.Project, r.ID), o, stdout, stderr, ended); err != nil {
		return fmt.Errorf("logs of %s: %w", r.Name, err)
	}
	return nil
}
