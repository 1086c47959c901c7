package native

import (
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// Healthchecks belong to the project's supervisor, which records each
// outcome in health.json in the state dir and reports each change of
// status as an event (see wait.go). This file only reads health.json.

const healthFile = supervisor.HealthFile

// healthRecord is the part of health.json the backend reads.
type healthRecord struct {
	Status string `json:"status"`
	// StartedAt is the run it belongs to (runtime.State.StartedAt).
	StartedAt time.Time `json:"started_at"`
	Output    string    `json:"output,omitempty"`
	ExitCode  int       `json:"exit_code"`
	At        time.Time `json:"at"`
}

// healthOf is the container's recorded health for its current run.
func (b *Backend) healthOf(r *record, st runtime.State) healthRecord {
	var h healthRecord
	if err := readJSON(filepath.Join(b.stateDir(r.Project, r.ID), healthFile), &h); err != nil || !h.StartedAt.Equal(st.StartedAt) || h.Status == "" {
		return healthRecord{Status: engine.HealthStarting}
	}
	return h
}

// health is the container's recorded health status for its current run.
func (b *Backend) health(r *record, st runtime.State) string { return b.healthOf(r, st).Status }
