//go:build !hoistinit

package runtime

import "github.com/hoist-dev/hoist/engine/native/runtime/state"

// Status of a detached container.
type Status = state.Status

// Statuses recorded by a Monitor.
const (
	StatusRunning = state.Running
	StatusExited  = state.Exited
)

// State is what a Monitor records in its state directory (package state).
type State = state.State

// ReadState reads a detached container's state (state.Read): a "running"
// record whose process is gone, or whose pid was reused, is reported as
// exited with exit code -1.
func ReadState(stateDir string) (State, error) { return state.Read(stateDir) }
