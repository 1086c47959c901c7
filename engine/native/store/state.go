package store

import (
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// Health is health.json: the healthcheck's last outcomes for one run of
// the container. The project's supervisor writes it after each probe;
// the engine reads the status of the current run from it.
type Health struct {
	Status string `json:"status"` // engine.Health*
	// StartedAt is the run it belongs to (runtime.State.StartedAt).
	StartedAt     time.Time `json:"started_at"`
	Output        string    `json:"output,omitempty"`
	ExitCode      int       `json:"exit_code"`
	At            time.Time `json:"at"`
	FailingStreak int       `json:"failing_streak"`
	// Log holds the last probes, oldest first.
	Log []Probe `json:"log,omitempty"`
}

// Probe is one healthcheck run.
type Probe struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output"`
}

// Health is the container's recorded health for its current run st:
// starting until a probe of that run recorded an outcome.
func (l Layout) Health(r *Record, st runtime.State) Health {
	var h Health
	if err := ReadJSON(filepath.Join(l.StateDir(r.Project, r.ID), HealthFile), &h); err != nil || !h.StartedAt.Equal(st.StartedAt) || h.Status == "" {
		return Health{Status: engine.HealthStarting}
	}
	return h
}

// Proxy is proxy.json: the container's published ports as bound at its
// last start, for ps and port. Pid and StartTime name the port proxy
// process of versions of hoist that ran one per container (attached
// runs); 0 when the project's supervisor serves the ports.
type Proxy struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	// Ports are the bound ports (random ports and ranges resolved).
	Ports []engine.PortBinding `json:"ports,omitempty"`
}

// ProxyPath is the container's proxy.json.
func (l Layout) ProxyPath(r *Record) string {
	return filepath.Join(l.StateDir(r.Project, r.ID), ProxyFile)
}

// PublishedPorts are the ports bound at the container's last start.
func (l Layout) PublishedPorts(r *Record) []engine.PortBinding {
	var p Proxy
	if err := ReadJSON(l.ProxyPath(r), &p); err != nil {
		return nil
	}
	return p.Ports
}
