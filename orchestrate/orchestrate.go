// Package orchestrate runs plans against an engine: it turns plan operations
// into DAG tasks, reports progress as events, and undoes what a failed or
// interrupted `up` created. It prints nothing; the CLI renders the events.
package orchestrate

import (
	"sync"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// Event is one progress report.
type Event struct {
	Time    time.Time
	Op      string // "create container", "pull", ... (plan.Kind)
	Target  string
	Status  string // "started", "done", "failed", "skipped", "info", "warning"
	Message string
	Elapsed time.Duration
}

// Status values of events that are not task transitions.
const (
	StatusInfo    = "info"
	StatusWarning = "warning"
)

// Orchestrator drives one backend.
type Orchestrator struct {
	Backend engine.Backend
	// Parallel bounds concurrent operations; <= 0 means the default.
	Parallel int
	// Report receives events; nil discards them. Calls are serialized.
	Report func(Event)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AfterOp, when set, is called after each plan operation that
	// succeeded: a test hook (HOIST_TEST_KILL_AFTER) that kills hoist
	// between two operations.
	AfterOp func()

	mu sync.Mutex
}

// DefaultParallel is enough to overlap engine round trips without
// overwhelming a 2-core machine's dockerd.
const DefaultParallel = 16

// EngineName is the engine's name as users see it (ls's ENGINE column).
func (o *Orchestrator) EngineName() string { return o.Backend.Name() }

// removalParallel is parallel, capped by the engine's removal limit.
func (o *Orchestrator) removalParallel() int {
	n := o.parallel()
	if l, ok := o.Backend.(engine.RemovalLimiter); ok && n > l.MaxParallelRemovals() {
		n = l.MaxParallelRemovals()
	}
	return n
}

func (o *Orchestrator) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return DefaultParallel
}

func (o *Orchestrator) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Orchestrator) emit(e Event) {
	if o.Report == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = o.now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Report(e)
}

func (o *Orchestrator) warn(msg string) {
	o.emit(Event{Status: StatusWarning, Message: msg})
}
