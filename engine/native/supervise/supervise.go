// Package supervise is the native engine's side of its projects'
// supervisors (engine/native/supervisor): it starts or finds a project's
// supervisor, hands it a prepared container (engine/native/launch) with
// the settings of its record, publishes the ports of containers hoist run
// runs itself through it, and stops, kills and waits for containers
// through it, or from the store's files when no supervisor runs (it was
// killed, or never started: hoist run).
package supervise

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// Supervisors reaches the supervisors of the projects in Layout; Logf
// hears what the engine works around.
type Supervisors struct {
	Layout store.Layout
	Logf   func(format string, args ...any)
	// Spawn, when set, starts a project's supervisor (a rootless
	// project's anchor does); nil starts it as this process's child.
	Spawn supervisor.SpawnFunc
}

// dir is the project's supervisor dir (its socket, lock and records).
func (s Supervisors) dir(project string) string { return s.Layout.ProjectDir(project) }

// Ensure returns the project's supervisor, starting one (which adopts
// the containers of a dead one) if none answers.
func (s Supervisors) Ensure(ctx context.Context, project string) (*supervisor.Client, error) {
	c, err := supervisor.EnsureWith(ctx, project, s.dir(project), s.Spawn)
	if err != nil {
		return nil, fmt.Errorf("project %s: supervisor: %w", project, err)
	}
	return c, nil
}

// Live returns the project's supervisor if it runs, else nil; it never
// starts one.
func (s Supervisors) Live(ctx context.Context, project string) *supervisor.Client {
	c, err := supervisor.Connect(ctx, s.dir(project))
	if err != nil {
		return nil
	}
	return c
}

// Status is r's status in its supervisor ("" when none runs or it does
// not know r).
func (s Supervisors) Status(ctx context.Context, r *store.Record) supervisor.Status {
	c := s.Live(ctx, r.Project)
	if c == nil {
		return ""
	}
	st, err := c.State(ctx, r.ID)
	if err != nil {
		return ""
	}
	return st.Status
}

// Active reports whether r runs or is about to run again (its
// supervisor is restarting it).
func Active(st supervisor.Status) bool {
	return st == supervisor.StatusRunning || st == supervisor.StatusRestarting
}

// Adopt starts a supervisor for the project when it has supervised
// containers and none runs (it died), so that they are looked after
// again.
func (s Supervisors) Adopt(ctx context.Context, project string) error {
	recs, _ := filepath.Glob(filepath.Join(s.dir(project), "containers", "*.json"))
	if len(recs) == 0 {
		return nil
	}
	if _, ok := supervisor.Running(s.dir(project)); ok {
		return nil
	}
	_, err := s.Ensure(ctx, project)
	return err
}

// WarnUnsupervised tells (through Logf) that the project has running
// containers and no supervisor.
func (s Supervisors) WarnUnsupervised(project string, containers []engine.Container) {
	for _, c := range containers {
		if c.State == engine.StateRunning {
			if _, ok := supervisor.Running(s.dir(project)); !ok {
				s.Logf("supervisor for project %s is not running; containers are unsupervised (hoist up -d takes them over)", project)
			}
			return
		}
	}
}

// Teardown ends the project's supervisor (gracefully when it answers)
// and removes its files.
func (s Supervisors) Teardown(ctx context.Context, project string) error {
	dir := s.dir(project)
	if c := s.Live(ctx, project); c != nil {
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_ = c.Shutdown(sctx)
		cancel()
	}
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	if err := supervisor.Teardown(dir); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	return nil
}
